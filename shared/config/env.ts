import { ConfigError, describeError } from '../errors.ts';

type Env = Readonly<Record<string, string | undefined>>;

/** Reads typed values out of an environment, collecting every problem so that all are reported at once. */
export class EnvReader {
  private readonly problems: string[] = [];

  constructor(private readonly env: Env) {}

  /** A required, non-empty value. */
  required(name: string): string {
    const value = this.optional(name);
    if (value === undefined) this.problems.push(`${name} is required`);
    return value ?? '';
  }

  /** A value, or undefined when unset or empty. */
  optional(name: string): string | undefined {
    const value = this.env[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  }

  /** A whole number from `min` (1 unless said) to `max`, or the default. */
  wholeNumber(name: string, fallback: number, max: number, min: 0 | 1 = 1): number {
    const value = this.optional(name);
    if (value === undefined) return fallback;
    const number = wholeNumberIn(value, max, min);
    if (number === undefined) this.problems.push(`${name} must be a whole number from ${min} to ${max}, got "${value}"`);
    return number ?? fallback;
  }

  /** `true`/`false` (also 1/0, yes/no), or the default. */
  boolean(name: string, fallback: boolean): boolean {
    const value = this.optional(name)?.toLowerCase();
    if (value === undefined) return fallback;
    if (['true', '1', 'yes'].includes(value)) return true;
    if (['false', '0', 'no'].includes(value)) return false;
    this.problems.push(`${name} must be true or false, got "${value}"`);
    return fallback;
  }

  /** A comma-separated list, empty when unset. */
  list(name: string): string[] {
    return (this.optional(name) ?? '').split(',').map((item) => item.trim()).filter(Boolean);
  }

  /** Runs a parser on a value, recording its error under the variable's name. */
  parse<T>(name: string, value: string, parser: (value: string) => T): T | undefined {
    try {
      return parser(value);
    } catch (error) {
      this.problems.push(`${name}: ${describeError(error)}`);
      return undefined;
    }
  }

  /** Throws one ConfigError listing every problem found, if any. */
  done(what: string): void {
    if (this.problems.length > 0) throw new ConfigError(`invalid ${what} configuration: ${this.problems.join('; ')}`);
  }
}

/** `{ [key]: value }` when the value is set, `{}` otherwise: keeps optional fields absent rather than undefined. */
export function optionalField<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

/** The whole number `text` writes, when it is one from `min` (1 unless said) to `max` (digits only: no sign, exponent or fraction). */
export function wholeNumberIn(text: string, max: number, min: 0 | 1 = 1): number | undefined {
  return (/^[1-9]\d*$/.test(text) || (min === 0 && text === '0')) && Number(text) <= max ? Number(text) : undefined;
}

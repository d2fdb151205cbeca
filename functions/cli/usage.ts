import { UsageError } from '../../shared/errors.ts';

/** Exit codes: 0 all good, 1 an image failed or a file was invalid, 2 a usage error. */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** Commander reducer for repeatable options. */
export const collect = (value: string, previous: string[]) => [...previous, value];

/** Commander parser for a positive whole number, naming the option in its error. */
export function positiveInt(name: string) {
  return (value: string) => {
    if (!/^[1-9]\d*$/.test(value)) throw new UsageError(`${name} must be a positive whole number, got "${value}"`);
    return Number(value);
  };
}

import { UsageError } from '../errors.ts';
import { SEVERITIES, type Severity } from '../ports.ts';
import { safeText } from '../safe-text.ts';

// The severity threshold of the vulnerability gate; the Finding it applies to is in ports.ts.

/** What must be signed off unless told otherwise: `--severity CRITICAL,HIGH`. */
export const DEFAULT_GATE_SEVERITIES: readonly Severity[] = ['CRITICAL', 'HIGH'];

/** Reads a comma-separated severity list as Trivy's --severity does (`CRITICAL,HIGH`); throws a UsageError naming the bad entry. */
export function parseSeverities(text: string): Severity[] {
  const wanted = new Set<Severity>();
  for (const entry of text.split(',')) {
    const name = entry.trim().toUpperCase();
    const severity = SEVERITIES.find((known) => known === name);
    if (severity === undefined) {
      const what = name === '' ? 'an empty entry' : `"${safeText(entry.trim(), 40)}"`;
      throw new UsageError(`reading --severity "${safeText(text, 80)}": ${what} is no severity (known: ${SEVERITIES.join(', ')})`);
    }
    wanted.add(severity);
  }
  // In SEVERITIES order, whatever order they were given in: messages and reports list them most severe first.
  return SEVERITIES.filter((severity) => wanted.has(severity));
}

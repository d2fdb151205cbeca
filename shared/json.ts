// Reading parsed JSON (or YAML) field by field: what a value is, before any field of it is trusted.

/** True for a plain JSON object: not null, not an array. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

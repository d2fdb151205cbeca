import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument, type YAMLMap } from 'yaml';
import { SignOffFileError } from '../errors.ts';
import type { SignOffText } from '../ports.ts';
import { safeMessage, safeText } from '../safe-text.ts';
import { compilePathGlob, parsePackageUrl } from './trivy-match.ts';

export { SIGN_OFF_FILE, signOffPathFor } from '../plan/sign-off-path.ts';

/**
 * One entry of `vulnerabilities:` in a Trivy ignore file
 * (https://trivy.dev/latest/docs/configuration/filtering/#trivyignoreyaml): `id`, and optionally `paths`, `purls`,
 * `statement` and `expired_at`.
 */
export interface SignOff {
  readonly id: string;
  /** Why the finding is acceptable; an entry without one (or with the snippet's TODO left in) signs nothing off. */
  readonly statement?: string;
  /** When it stops counting, as Trivy reads `expired_at` (a date is midnight UTC); absent: never. */
  readonly expiresAt?: Date;
  /** `expired_at` as written, for messages and the JSON report. */
  readonly expiredAtText?: string;
  /** Limit the sign-off, as Trivy does, to findings whose Target or PkgPath one of these globs matches / to these package URLs. */
  readonly paths?: readonly string[];
  readonly purls?: readonly string[];
  /** The file it comes from (path below the images root) and the 1-based line of its `- id:` entry. */
  readonly file: string;
  readonly line: number;
}

/** A sign-off file as read: its entries, and what is wrong with entries that sign nothing off (named by line). */
export interface SignOffFile {
  readonly file: string;
  readonly signOffs: readonly SignOff[];
  /** `line 7: CVE-2024-1234 has no statement, so it signs nothing off`: shown to the user, never fatal. */
  readonly problems: readonly string[];
  /** Entries dropped whole for a `paths` or `purls` that cannot be used (each has its problem): to be fixed, not pasted again. */
  readonly ignored: readonly { readonly id: string; readonly line: number }[];
}

/**
 * Reads a sign-off file. Throws a SignOffFileError naming the file (and line, where YAML says) when it is no YAML, or
 * `vulnerabilities` is not a list of entries with a string `id`; other sections (misconfigurations, secrets, licenses)
 * are Trivy's and ignored.
 */
export function parseSignOffFile(read: SignOffText): SignOffFile {
  const file = read.path;
  const fail = (problem: string, options: { cause?: unknown } = {}) => new SignOffFileError(`reading the sign-off file "${safeText(file)}": ${problem}`, options);
  if (read.readError !== undefined) throw fail(safeMessage(read.readError));
  const lineCounter = new LineCounter();
  const doc = parseDocument(read.text ?? '', { lineCounter, prettyErrors: false });
  const lineOf = (node: Node | null | undefined) => (node?.range === undefined || node.range === null ? 1 : lineCounter.linePos(node.range[0]).line);
  const error = doc.errors[0];
  if (error !== undefined) throw fail(`line ${lineCounter.linePos(error.pos[0]).line}: not valid YAML: ${safeText(error.message)}`, { cause: error });

  const root = doc.contents;
  if (root === null || (isScalar(root) && root.value === null)) return { file, signOffs: [], problems: [], ignored: [] };
  if (!isMap(root)) throw fail(`line ${lineOf(root)}: expected Trivy's ignore file, a mapping with a "vulnerabilities" list`);
  const list = root.get('vulnerabilities', true);
  if (list === undefined || (isScalar(list) && list.value === null)) return { file, signOffs: [], problems: [], ignored: [] };
  if (!isSeq(list)) throw fail(`line ${lineOf(list as Node)}: "vulnerabilities" must be a list of entries with an "id"`);

  const signOffs: SignOff[] = [];
  const problems: string[] = [];
  const ignored: { id: string; line: number }[] = [];
  for (const item of list.items) {
    const line = lineOf(item as Node);
    if (!isMap(item)) throw fail(`line ${line}: each entry of "vulnerabilities" must be a mapping with an "id"`);
    const entry = readEntry(item, file, line);
    if (typeof entry === 'string') throw fail(entry);
    problems.push(...entry.problems);
    if (entry.signOff !== undefined) signOffs.push(entry.signOff);
    else ignored.push({ id: entry.id, line });
  }
  return { file, signOffs, problems, ignored };
}

// An entry whose id cannot be read is an error of the file (returned as its message); anything else wrong with an
// entry is a problem of that entry only, which then signs nothing off.
function readEntry(item: YAMLMap, file: string, line: number): string | { id: string; signOff?: SignOff; problems: string[] } {
  const idNode = item.get('id', true);
  if (!isScalar(idNode) || typeof idNode.value !== 'string' || idNode.value.trim() === '') return `line ${line}: the entry has no "id" (a string such as CVE-2024-1234)`;
  // Matched exactly, as Trivy does: a quoted id with spaces around it names nothing.
  const id = idNode.value;
  const named = `line ${line}: ${safeText(id, 80)}`;
  const problems: string[] = [];

  const paths = stringList(item.get('paths', true));
  const purls = stringList(item.get('purls', true));
  if (paths === false) problems.push(`${named} has "paths" that is not a list of strings, so the entry is ignored`);
  if (purls === false) problems.push(`${named} has "purls" that is not a list of strings, so the entry is ignored`);
  // Trivy refuses the whole file for these; here only the entry is dropped, which signs nothing off (fail closed).
  const badPath = paths === false ? undefined : paths?.find((path) => compilePathGlob(path) === undefined);
  if (badPath !== undefined) problems.push(`${named} has the path pattern "${safeText(badPath, 120)}", which is no valid glob, so the entry is ignored`);
  const badPurl = purls === false ? undefined : purls?.find((purl) => parsePackageUrl(purl) === undefined);
  if (badPurl !== undefined) problems.push(`${named} has "${safeText(badPurl, 120)}" in "purls", which is no package URL (pkg:type/namespace/name@version), so the entry is ignored`);
  if (problems.length > 0) return { id, problems };

  const statement = readStatement(item.get('statement', true));
  if (statement === undefined) problems.push(`${named} has no statement (why it is acceptable), so it signs nothing off`);
  else if (statement === 'TODO') problems.push(`${named} has no statement (why it is acceptable), only the TODO of the pasted snippet, so it signs nothing off`);

  const expiry = readExpiry(item.get('expired_at', true));
  if (expiry?.expiresAt === undefined && expiry !== undefined) {
    problems.push(`${named} has expired_at "${safeText(expiry.text, 80)}", which is no date (2025-06-30) nor time (2025-06-30T12:00:00Z), so it counts as expired`);
  }

  const signOff: SignOff = {
    id,
    ...(typeof statement === 'string' && statement !== 'TODO' ? { statement } : {}),
    // An unreadable expired_at fails closed: the entry counts as expired from the start, never as "never expires".
    ...(expiry === undefined ? {} : { expiresAt: expiry.expiresAt ?? new Date(0), expiredAtText: expiry.text }),
    ...(paths === undefined || paths === false ? {} : { paths }),
    ...(purls === undefined || purls === false ? {} : { purls }),
    file,
    line,
  };
  return { id, signOff, problems };
}

/** A list of strings; undefined when absent (or empty in YAML: `paths:`), false when it is something else. */
function stringList(node: unknown): string[] | undefined | false {
  if (node === undefined || (isScalar(node) && node.value === null)) return undefined;
  if (!isSeq(node)) return false;
  const values = node.items.map((item) => (isScalar(item) && typeof item.value === 'string' ? item.value : undefined));
  return values.every((value): value is string => value !== undefined) ? values : false;
}

/** The statement, trimmed; undefined when absent or empty, `'TODO'` when it still starts with the snippet's TODO. */
function readStatement(node: unknown): string | undefined {
  if (!isScalar(node) || node.value === null || typeof node.value === 'object') return undefined;
  const text = String(node.value).trim();
  if (text === '') return undefined;
  // `TODO: why …` as the snippet writes it, `todo`, `TODO -`; not a statement that starts with "Todos".
  return /^todo(?![a-z])/i.test(text) ? 'TODO' : text;
}

/** `expired_at` as written and as a moment; expiresAt undefined when the text is no date or time. */
function readExpiry(node: unknown): { text: string; expiresAt?: Date } | undefined {
  if (node === undefined || (isScalar(node) && node.value === null)) return undefined;
  if (!isScalar(node)) return { text: String(node) };
  const text = node.source ?? String(node.value);
  // A YAML 1.1 document (`%YAML 1.1`) reads timestamps itself.
  if (node.value instanceof Date) return Number.isNaN(node.value.getTime()) ? { text } : { text, expiresAt: node.value };
  const expiresAt = parseExpiry(String(node.value).trim());
  return expiresAt === undefined ? { text } : { text, expiresAt };
}

const DATE = /^(\d{4})-(\d{1,2})-(\d{1,2})$/;
const TIME = /^(\d{4})-(\d{1,2})-(\d{1,2})[Tt ](\d{1,2}):(\d{2}):(\d{2})(\.\d+)?\s*([Zz]|[+-]\d{2}(?::?\d{2})?)?$/;

// The forms Trivy's YAML library (gopkg.in/yaml.v3) reads into expired_at: a date, which is midnight UTC, or a time,
// UTC unless it says otherwise.
function parseExpiry(text: string): Date | undefined {
  const date = DATE.exec(text);
  if (date !== null) return utcDate(Number(date[1]), Number(date[2]), Number(date[3]), 0, 0, 0, 0);
  const time = TIME.exec(text);
  if (time === null) return undefined;
  const millis = time[7] === undefined ? 0 : Math.floor(Number(`0${time[7]}`) * 1000);
  const moment = utcDate(Number(time[1]), Number(time[2]), Number(time[3]), Number(time[4]), Number(time[5]), Number(time[6]), millis);
  if (moment === undefined) return undefined;
  const zone = time[8];
  if (zone === undefined || zone === 'Z' || zone === 'z') return moment;
  const [, sign, hours, minutes] = /^([+-])(\d{2}):?(\d{2})?$/.exec(zone) ?? [];
  const offset = (Number(hours) * 60 + Number(minutes ?? 0)) * (sign === '-' ? -1 : 1);
  return new Date(moment.getTime() - offset * 60_000);
}

// A calendar moment, or undefined when a field is out of range (2025-02-30, 25:00): Date.UTC would roll it over.
function utcDate(year: number, month: number, day: number, hour: number, minute: number, second: number, millis: number): Date | undefined {
  const date = new Date(Date.UTC(year, month - 1, day, hour, minute, second, millis));
  const same = date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day && date.getUTCHours() === hour && date.getUTCMinutes() === minute && date.getUTCSeconds() === second;
  return same ? date : undefined;
}

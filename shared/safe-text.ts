// Text that comes from outside (file names, what a Dockerfile expands to, registry answers, crane's stderr) passes
// through safeText() before it is printed, logged, written to a report or put in a pull-request comment. It escapes
// what could change how the text is read (newlines, terminal escapes, bidirectional overrides), caps the length,
// hides every secret value in use, and makes sure the text cannot start a GitHub Actions workflow command.

/** Values never shown: registry passwords and tokens, their Basic-header forms, the GitHub token. */
const secrets = new Set<string>();
/** The secrets, longest first (a token may hold a shorter one), sorted again after each change. */
let longestFirst: readonly string[] = [];

/** A warm Lambda fetches a token per repository, run after run: the oldest are forgotten past this many. */
const MAX_SECRETS = 1000;

/** Shorter values are not hidden as plain words (a password `test` would blank every "test"); their Basic form still is. */
const MIN_SECRET_LENGTH = 8;

/** The default cap, in characters after escaping. */
export const DEFAULT_MAX = 300;

const REDACTED = '***';

/** Remembers a secret so that safeText() hides it wherever it shows up. */
export function rememberSecret(value: string | undefined): void {
  if (value === undefined || value.length < MIN_SECRET_LENGTH || secrets.has(value)) return;
  secrets.add(value);
  if (secrets.size > MAX_SECRETS) secrets.delete(secrets.values().next().value as string);
  longestFirst = [...secrets].sort((a, b) => b.length - a.length);
}

/** Remembers a registry login: the password, and the base64 `user:password` that Basic headers and Docker configs carry. */
export function rememberCredential(username: string, password: string): void {
  rememberSecret(password);
  rememberSecret(Buffer.from(`${username}:${password}`).toString('base64'));
}

// `Authorization: Basic dXNlcjpwYXNz`, `Bearer eyJ…`: an echoed header, whether or not we know the value. The value must
// hold a digit or a symbol so that "Basic authentication required" stays readable.
const AUTH_VALUE = /\b(Basic|Bearer)(\s+)(?=[A-Za-z0-9._~+/-]*[0-9._~+/-])[A-Za-z0-9._~+/-]{8,}=*/gi;

// C0 and C1 controls, DEL, line and paragraph separators, and the bidirectional marks and overrides ("Trojan source").
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * A piece of outside text made safe to quote in a message: secrets hidden, `"` and `\` and every control or
 * bidirectional character escaped as in JSON (so a newline can never start a line of its own), a leading `::` or `##[`
 * (a GitHub Actions workflow command) escaped, and no more than `max` characters, saying how long it was when cut.
 */
export function safeText(text: string, max = DEFAULT_MAX): string {
  return sanitise(text, max, true);
}

/** The cap of a whole message: room for a few quoted pieces of outside text and our words around them. */
export const MESSAGE_MAX = 2000;

/**
 * A whole message (an error, a file name) made safe to print, log or report: as safeText(), but quotes and backslashes
 * are left as they are, so that a message already holding safeText() pieces reads the same.
 */
export function safeMessage(text: string, max = MESSAGE_MAX): string {
  return sanitise(text, max, false);
}

function sanitise(text: string, max: number, escapeQuotes: boolean): string {
  // Redact before cutting, so that a secret across the cut cannot leave its first half visible; look at little more
  // than will be shown, so that a value of a gigabyte costs no more than one of a line.
  const reach = max + (longestFirst[0]?.length ?? 0) + 16;
  const window = text.length > reach ? text.slice(0, reach) : text;
  let out = redact(window);
  if (escapeQuotes) out = out.replace(/[\\"]/g, (ch) => `\\${ch}`);
  out = neutraliseCommand(out.replace(UNSAFE, escapeChar));
  if (out.length <= max && window.length === text.length) return out;
  return `${cleanCut(out, max)}… (${text.length} characters)`;
}

// The first `max` characters, never ending on half an escape (`\`, `\u00`) nor on half a surrogate pair.
function cleanCut(text: string, max: number): string {
  let cut = text.slice(0, max);
  // An odd run of backslashes ends in one that starts an escape, cut before its end (`\`, `\u00`): drop that one and
  // what follows it. An even run is escaped backslashes: whole.
  const escape = /(\\+)(?:u[0-9a-fA-F]{0,3})?$/.exec(cut);
  const run = escape?.[1]?.length ?? 0;
  if (escape && run % 2 === 1) cut = cut.slice(0, escape.index + run - 1);
  const last = cut.charCodeAt(cut.length - 1);
  return last >= 0xd800 && last <= 0xdbff ? cut.slice(0, -1) : cut;
}

function redact(text: string): string {
  let out = text.replace(AUTH_VALUE, `$1$2${REDACTED}`);
  for (const secret of longestFirst) if (out.includes(secret)) out = out.split(secret).join(REDACTED);
  return out;
}

function escapeChar(ch: string): string {
  switch (ch) {
    case '\n':
      return '\\n';
    case '\r':
      return '\\r';
    case '\t':
      return '\\t';
    default:
      return `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`;
  }
}

// The runner reads a line as a command when, after its leading spaces, it starts with `::` (or `##[`, the older form).
function neutraliseCommand(text: string): string {
  const start = text.length - text.trimStart().length;
  const rest = text.slice(start);
  if (rest.startsWith('::')) return `${text.slice(0, start)}\\u003a${rest.slice(1)}`;
  if (rest.startsWith('##[')) return `${text.slice(0, start)}\\u0023${rest.slice(1)}`;
  return text;
}

/** Every line of `text` that could be read as a workflow command, escaped; for output whose lines we built. */
export function guardLines(text: string): string {
  return text.includes('::') || text.includes('##[') ? text.split('\n').map(neutraliseCommand).join('\n') : text;
}

/**
 * Any value read from outside, for an error that says what was found instead: a string quoted, anything else as JSON,
 * `nothing` for no value; escaped and cut to 80 characters like every outside text.
 */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  return typeof value === 'string' ? `"${safeText(value, 80)}"` : safeText(JSON.stringify(value) ?? String(value), 80);
}

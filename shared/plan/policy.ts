// The signature policy: a file at the root of the images tree that says which images must carry a signature, and whose,
// before they are mirrored. Pure: the file's text and the key and trust-root files it names are read by an adapter.
import { createPublicKey } from 'node:crypto';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { toTrustMaterial } from '@sigstore/verify';
import picomatch from 'picomatch';
import { parseDocument } from 'yaml';
import { describeError, PolicyFileError } from '../errors.ts';
import type { ImageReference } from '../image-ref/reference.ts';
import { safeMessage, safeText } from '../safe-text.ts';

/** The policy file's name, at the root of the images tree (beside the registry directories). */
export const POLICY_FILE = 'signature-policy.yaml';

// Bounds on what a rule carries inline, kept by the policy reader and by the worker that gets the rule in its event: a
// key is a few hundred bytes and a trust root a few kilobytes, and a whole event must fit Lambda's asynchronous payload.
export const MAX_PEM_CHARS = 16 * 1024;
export const MAX_TRUSTED_ROOT_CHARS = 128 * 1024;

/** What a rule's name may be: it reaches result lines, metrics and the worker's event, so plain characters only. */
export const RULE_NAME = /^[A-Za-z0-9._-]{1,100}$/;

/** How a certificate's issuer or subject must read: exactly this text, or matching this regular expression (whole text). */
export type IdentityMatcher = { readonly exact: string } | { readonly regexp: string };

interface RuleBase {
  /** The rule's name, as the plan and the result lines name it. */
  readonly name: string;
  /** `registry/repository` globs (`docker.io/library/*`, `ghcr.io/acme/**`): `*` within one path segment, `**` across. */
  readonly images: readonly string[];
}

/** A cosign signature by a public key kept in the images repository (PEM). */
export interface KeyRule extends RuleBase {
  readonly by: 'key';
  /** The key file's path below the images root, and its PEM text. */
  readonly key: { readonly path: string; readonly pem: string };
}

/**
 * A keyless cosign signature: a Fulcio certificate whose OIDC issuer and subject match, verified against the Sigstore
 * public-good trust root (or the one the rule names) with its transparency log proof.
 */
export interface KeylessRule extends RuleBase {
  readonly by: 'keyless';
  readonly issuer: IdentityMatcher;
  readonly subject: IdentityMatcher;
  /** A trust root of its own (a private Sigstore deployment): the trusted_root.json's path below the images root, and its text. */
  readonly trustedRoot?: { readonly path: string; readonly json: string };
}

/** One rule of the policy; the first rule whose pattern matches an image applies to it. */
export type VerifyRule = KeyRule | KeylessRule;

/** A policy as read from its file: the rules in file order, and what was wrong with rules that were left out. */
export interface SignaturePolicy {
  /** The policy file's path below the images root. */
  readonly path: string;
  readonly rules: readonly VerifyRule[];
}

/** How a verified image was verified: by which rule, by key or keyless, and whose signature it carries. */
export interface Verified {
  readonly rule: string;
  readonly by: 'key' | 'keyless';
  /** The key file's path for `key`; `<subject> (<issuer>)` of the certificate for `keyless`. */
  readonly identity: string;
  /** Where the accepted signature was found: cosign's `.sig` tag, or a Sigstore bundle stored as an OCI referrer. */
  readonly signature: 'cosign-tag' | 'referrer';
}

/** The files a policy names, read below the images root; undefined for a file that does not exist. */
export type PolicyFileReader = (path: string) => Promise<string | undefined>;

const RULE_KEYS = new Set(['name', 'images', 'key', 'keyless']);
const KEYLESS_KEYS = new Set(['issuer', 'issuerRegExp', 'subject', 'subjectRegExp', 'trustedRoot']);

/**
 * Reads the policy file and the key and trust-root files its rules name; undefined when the images tree has no policy
 * file. Throws PolicyFileError naming the file (and the rule) for anything it cannot take: a policy half-read must never
 * let an image through unverified.
 */
export async function readPolicy(read: PolicyFileReader, path: string = POLICY_FILE): Promise<SignaturePolicy | undefined> {
  const text = await read(path);
  if (text === undefined) return undefined;
  const fail = (problem: string): never => {
    throw new PolicyFileError(`reading the signature policy "${safeText(path)}": ${problem}`);
  };
  const doc = parseDocument(text, { prettyErrors: false });
  const yamlError = doc.errors[0];
  if (yamlError !== undefined) fail(`not valid YAML: ${safeText(yamlError.message)}`);
  const root: unknown = doc.toJS();
  if (!isRecord(root)) return fail('expected a mapping with a "rules" list');
  const unknownTop = Object.keys(root).filter((key) => key !== 'rules');
  if (unknownTop.length > 0) fail(`unknown key ${quoteList(unknownTop)} (only "rules" is known)`);
  if (!Array.isArray(root['rules'])) return fail('"rules" must be a list of rules');
  const rules: VerifyRule[] = [];
  const names = new Set<string>();
  for (const [index, entry] of (root['rules'] as unknown[]).entries()) {
    const label = isRecord(entry) && typeof entry['name'] === 'string' && entry['name'] !== '' ? `rule "${safeText(entry['name'])}"` : `rule ${index + 1}`;
    const failRule = (problem: string): never => fail(`${label}: ${problem}`);
    const rule = await readRule(entry, read, failRule);
    if (names.has(rule.name)) failRule('another rule has the same name');
    names.add(rule.name);
    rules.push(rule);
  }
  return { path, rules };
}

// One rule of the list, with its key or trust-root file read and checked.
async function readRule(entry: unknown, read: PolicyFileReader, fail: (problem: string) => never): Promise<VerifyRule> {
  if (!isRecord(entry)) return fail('expected a mapping with "name", "images" and "key" or "keyless"');
  const unknown = Object.keys(entry).filter((key) => !RULE_KEYS.has(key));
  if (unknown.length > 0) fail(`unknown key ${quoteList(unknown)} (known: name, images, key, keyless)`);
  const name = entry['name'];
  if (typeof name !== 'string' || name.trim() === '') fail('"name" is missing or not a text');
  if (!RULE_NAME.test(name as string)) fail('"name" may hold only letters, digits, ".", "_" and "-" (1 to 100 of them)');
  const images = entry['images'];
  if (!Array.isArray(images) || images.length === 0 || !images.every((glob) => typeof glob === 'string' && glob.trim() !== '')) {
    fail('"images" must be a non-empty list of registry/repository globs');
  }
  // A pattern without a registry (`postgres`, `library/*`) would never match the `registry/repository` it is tested on.
  const bare = (images as string[]).find((glob) => glob !== '**' && !glob.includes('/'));
  if (bare !== undefined) fail(`images pattern "${safeText(bare)}" names no registry: patterns match "registry/repository", as docker.io/library/${safeText(bare)}`);
  const base = { name: name as string, images: images as string[] };
  const hasKey = entry['key'] !== undefined;
  const hasKeyless = entry['keyless'] !== undefined;
  if (hasKey && hasKeyless) fail('has both "key" and "keyless": a rule verifies one way');
  if (!hasKey && !hasKeyless) fail('has neither "key" nor "keyless"');
  if (hasKey) {
    const path = filePath(entry['key'], '"key"', fail);
    const text = await readNamed(read, path, 'key', fail);
    if (text.length > MAX_PEM_CHARS) fail(`key file "${safeText(path)}" is larger than ${MAX_PEM_CHARS} characters: a public key is a few hundred`);
    // createPublicKey derives a public key from a private one: a private key in the images repository is a leak to fix.
    if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) fail(`key file "${safeText(path)}" is not a PEM public key: it holds a private key`);
    let pem = '';
    try {
      // Stored as SPKI PEM, whatever the file had around it (a comment line): what the worker's event and every
      // verifier then take is one form.
      pem = createPublicKey(text).export({ type: 'spki', format: 'pem' }).toString();
    } catch (error) {
      fail(`key file "${safeText(path)}" is not a PEM public key: ${safeMessage(describeError(error))}`);
    }
    return { ...base, by: 'key', key: { path, pem } };
  }
  return { ...base, by: 'keyless', ...(await readKeyless(entry['keyless'], read, fail)) };
}

// The `keyless:` mapping: issuer and subject matchers, and the rule's own trust root when it names one.
async function readKeyless(value: unknown, read: PolicyFileReader, fail: (problem: string) => never): Promise<Pick<KeylessRule, 'issuer' | 'subject' | 'trustedRoot'>> {
  if (!isRecord(value)) return fail('"keyless" must be a mapping with "issuer" (or "issuerRegExp") and "subject" (or "subjectRegExp")');
  const unknown = Object.keys(value).filter((key) => !KEYLESS_KEYS.has(key));
  if (unknown.length > 0) fail(`unknown key ${quoteList(unknown.map((key) => `keyless.${key}`))} (known: issuer, issuerRegExp, subject, subjectRegExp, trustedRoot)`);
  const issuer = readMatcher(value, 'issuer', fail);
  const subject = readMatcher(value, 'subject', fail);
  if (value['trustedRoot'] === undefined) return { issuer, subject };
  const path = filePath(value['trustedRoot'], '"keyless.trustedRoot"', fail);
  const json = await readNamed(read, path, 'trusted root', fail);
  if (json.length > MAX_TRUSTED_ROOT_CHARS) fail(`trusted root "${safeText(path)}" is larger than ${MAX_TRUSTED_ROOT_CHARS} characters: a trusted_root.json is a few kilobytes`);
  try {
    toTrustMaterial(TrustedRoot.fromJSON(JSON.parse(json)));
  } catch (error) {
    fail(`trusted root "${safeText(path)}" is not a Sigstore trusted_root.json: ${safeMessage(describeError(error))}`);
  }
  return { issuer, subject, trustedRoot: { path, json } };
}

// `issuer` or `issuerRegExp` (one of them), a regexp compiled here so that a broken one stops the run, not an image.
function readMatcher(value: Record<string, unknown>, field: 'issuer' | 'subject', fail: (problem: string) => never): IdentityMatcher {
  const exact = value[field];
  const regexp = value[`${field}RegExp`];
  if (exact !== undefined && regexp !== undefined) fail(`keyless has both "${field}" and "${field}RegExp"`);
  if (exact === undefined && regexp === undefined) fail(`keyless needs "${field}" or "${field}RegExp"`);
  if (exact !== undefined) {
    if (typeof exact !== 'string' || exact === '') fail(`keyless.${field} must be a non-empty text`);
    return { exact: exact as string };
  }
  if (typeof regexp !== 'string' || regexp === '') fail(`keyless.${field}RegExp must be a non-empty text`);
  try {
    wholeText(regexp as string);
  } catch (error) {
    fail(`keyless.${field}RegExp is not a valid regular expression: ${safeMessage(describeError(error))}`);
  }
  return { regexp: regexp as string };
}

/** True when `text` is what the matcher asks for: the exact text, or a whole-text match of the regular expression. */
export function matchesIdentity(matcher: IdentityMatcher, text: string): boolean {
  return 'exact' in matcher ? matcher.exact === text : wholeText(matcher.regexp).test(text);
}

/** A matcher as a policy or a message shows it: the text, or `/regexp/`. */
export function describeMatcher(matcher: IdentityMatcher): string {
  return 'exact' in matcher ? matcher.exact : `/${matcher.regexp}/`;
}

function wholeText(regexp: string): RegExp {
  return new RegExp(`^(?:${regexp})$`, 'u');
}

/** True when a matcher's regexp compiles as the policy compiles it (a whole-text match, the `u` flag's syntax). */
export function isMatcherRegExp(regexp: string): boolean {
  try {
    wholeText(regexp);
    return true;
  } catch {
    return false;
  }
}

// A file path below the images root: relative, no `..` segment (the reader refuses anything else too).
function filePath(value: unknown, field: string, fail: (problem: string) => never): string {
  if (typeof value !== 'string' || value.trim() === '') return fail(`${field} must be a file path below the images root`);
  if (value.startsWith('/') || value.split(/[\\/]/).includes('..')) fail(`${field} "${safeText(value)}" must be a path below the images root`);
  return value;
}

async function readNamed(read: PolicyFileReader, path: string, what: string, fail: (problem: string) => never): Promise<string> {
  const text = await read(path);
  if (text === undefined) fail(`${what} file "${safeText(path)}" does not exist`);
  return text as string;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function quoteList(keys: readonly string[]): string {
  return keys.map((key) => `"${safeText(key)}"`).join(', ');
}

const matchers = new WeakMap<VerifyRule, (name: string) => boolean>();

/** Docker Hub's other names for its registry: images named by them are docker.io's for a rule. */
const DOCKER_HUB_ALIASES = new Set(['docker.io', 'registry.hub.docker.com', 'registry-1.docker.io', 'index.docker.io']);

/**
 * The rule that applies to an image (the first whose pattern matches its `registry/repository`), or undefined. The
 * registry is taken in its canonical form first (no `:443`, Docker Hub's aliases as docker.io with its `library/`), so
 * that no other spelling of the same repository slips past the rule that covers it.
 */
export function ruleFor(policy: SignaturePolicy | undefined, source: ImageReference): VerifyRule | undefined {
  if (policy === undefined) return undefined;
  const name = canonicalName(source);
  return policy.rules.find((rule) => matcherOf(rule)(name));
}

/** `registry/repository` as rules match it: the host lower-cased without `:443`, Docker Hub under one name. */
export function canonicalName(source: ImageReference): string {
  const host = source.registry.toLowerCase().replace(/:443$/, '');
  if (!DOCKER_HUB_ALIASES.has(host)) return `${host}/${source.repository}`;
  return `docker.io/${source.repository.includes('/') ? source.repository : `library/${source.repository}`}`;
}

function matcherOf(rule: VerifyRule): (name: string) => boolean {
  let matcher = matchers.get(rule);
  if (matcher === undefined) {
    matcher = picomatch([...rule.images], { dot: true });
    matchers.set(rule, matcher);
  }
  return matcher;
}

// How Trivy matches an ignore-file entry to a vulnerability (pkg/result/ignore.go in github.com/aquasecurity/trivy):
// the same `id`; when the entry has `paths`, one of them (a doublestar glob) matches the result's Target or the
// package's PkgPath; when it has `purls`, one of them matches the package's URL as pkg/purl's `Match` does: same type,
// namespace and name, the same version and subpath when the entry gives one, and every qualifier the entry gives.

/** A package URL split into its parts (https://github.com/package-url/purl-spec), percent-decoded. */
export interface PackageUrl {
  readonly type: string;
  readonly namespace: string;
  readonly name: string;
  readonly version: string;
  readonly qualifiers: ReadonlyMap<string, string>;
  readonly subpath: string;
}

/** Reads `pkg:type/namespace/name@version?qualifiers#subpath`; undefined for text that is no package URL. */
export function parsePackageUrl(text: string): PackageUrl | undefined {
  if (!/^pkg:/i.test(text)) return undefined;
  let rest = text.slice(4).replace(/^\/+/, '');
  let subpath = '';
  const hash = rest.indexOf('#');
  if (hash !== -1) {
    const segments = rest.slice(hash + 1).split('/').filter((segment) => segment !== '' && segment !== '.' && segment !== '..').map(decode);
    if (segments.some((segment) => segment === undefined)) return undefined;
    subpath = segments.join('/');
    rest = rest.slice(0, hash);
  }
  const qualifiers = new Map<string, string>();
  const question = rest.indexOf('?');
  if (question !== -1) {
    for (const pair of rest.slice(question + 1).split('&')) {
      const equals = pair.indexOf('=');
      if (equals <= 0) continue;
      const value = decode(pair.slice(equals + 1));
      if (value === undefined) return undefined;
      if (value !== '') qualifiers.set(pair.slice(0, equals).toLowerCase(), value);
    }
    rest = rest.slice(0, question);
  }
  rest = rest.replace(/\/+$/, '');
  let version = '';
  // An `@` before the last `/` is part of a name (an npm scope written unencoded), not the version's mark.
  const at = rest.lastIndexOf('@');
  if (at > rest.lastIndexOf('/')) {
    const decoded = decode(rest.slice(at + 1));
    if (decoded === undefined) return undefined;
    version = decoded;
    rest = rest.slice(0, at);
  }
  const parts = rest.split('/');
  const type = (parts.shift() ?? '').toLowerCase();
  if (!/^[a-z.+-][a-z0-9.+-]*$/.test(type) || parts.length === 0) return undefined;
  const path = parts.filter((part) => part !== '').map(decode);
  if (path.some((part) => part === undefined) || path.length === 0) return undefined;
  const name = path.pop() as string;
  return { type, namespace: path.join('/'), name, version, qualifiers, subpath };
}

/** True when the package URL `target` satisfies the entry's `constraint`, as Trivy's purl Match decides. */
export function packageUrlMatches(constraint: PackageUrl, target: PackageUrl): boolean {
  if (constraint.type !== target.type || constraint.namespace !== target.namespace || constraint.name !== target.name) return false;
  if (constraint.version !== '' && constraint.version !== target.version) return false;
  if (constraint.subpath !== '' && constraint.subpath !== target.subpath) return false;
  for (const [key, value] of constraint.qualifiers) if (target.qualifiers.get(key) !== value) return false;
  return true;
}

/**
 * Compiles a path glob as Trivy's doublestar does: `*` and `?` within one path component, `**` as a whole component
 * for any number of them (none included), `[…]` classes (`[!…]` or `[^…]` negated), `{a,b}` alternatives, `\` escaping
 * the next character. Undefined for a pattern doublestar refuses (an unclosed `[` or `{`, a trailing `\`).
 */
export function compilePathGlob(pattern: string): RegExp | undefined {
  const body = globToRegex(pattern, 0, false);
  if (body === undefined || body.end !== pattern.length) return undefined;
  try {
    return new RegExp(`^${body.source}$`, 'u');
  } catch {
    // A class JavaScript cannot compile, such as the reversed range `[z-a]`: refused like a malformed pattern.
    return undefined;
  }
}

const REGEX_SPECIAL = /[.*+?^${}()|[\]\\]/g;

// Converts pattern[start…] up to the end, or (inside braces) up to the `,` or `}` that ends the alternative.
function globToRegex(pattern: string, start: number, inBraces: boolean): { source: string; end: number } | undefined {
  let source = '';
  let i = start;
  while (i < pattern.length) {
    const ch = pattern[i] as string;
    if (inBraces && (ch === ',' || ch === '}')) break;
    if (ch === '\\') {
      if (i + 1 >= pattern.length) return undefined;
      source += escapeRegex(pattern[i + 1] as string);
      i += 2;
    } else if (ch === '*') {
      let stars = 1;
      while (pattern[i + stars] === '*') stars += 1;
      const wholeComponent = stars === 2 && (i === 0 || pattern[i - 1] === '/') && (i + 2 === pattern.length || pattern[i + 2] === '/');
      if (!wholeComponent) {
        source += '[^/]*';
      } else if (pattern[i + 2] === '/') {
        // `**/`: any number of directories, none included.
        source += '(?:[^/]*/)*';
        stars += 1;
      } else if (source.endsWith('/')) {
        // A trailing `/**`: the directory itself and everything below it.
        source = `${source.slice(0, -1)}(?:/.*)?`;
      } else {
        source += '.*';
      }
      i += stars;
    } else if (ch === '?') {
      source += '[^/]';
      i += 1;
    } else if (ch === '[') {
      const klass = classToRegex(pattern, i);
      if (klass === undefined) return undefined;
      source += klass.source;
      i = klass.end;
    } else if (ch === '{') {
      const alternatives: string[] = [];
      let j = i + 1;
      for (;;) {
        const alternative = globToRegex(pattern, j, true);
        if (alternative === undefined || alternative.end >= pattern.length) return undefined;
        alternatives.push(alternative.source);
        j = alternative.end + 1;
        if (pattern[alternative.end] === '}') break;
      }
      source += `(?:${alternatives.join('|')})`;
      i = j;
    } else {
      source += escapeRegex(ch);
      i += 1;
    }
  }
  return { source, end: i };
}

function classToRegex(pattern: string, start: number): { source: string; end: number } | undefined {
  let i = start + 1;
  const negated = pattern[i] === '!' || pattern[i] === '^';
  if (negated) i += 1;
  let body = '';
  while (i < pattern.length && pattern[i] !== ']') {
    const ch = pattern[i] as string;
    if (ch === '\\') {
      if (i + 1 >= pattern.length) return undefined;
      const escaped = pattern[i + 1] as string;
      body += escaped === '-' ? '\\-' : escapeRegex(escaped);
      i += 2;
    } else {
      // `-` between two characters is a range, as in the glob.
      body += ch === '-' ? '-' : escapeRegex(ch);
      i += 1;
    }
  }
  if (i >= pattern.length || body === '') return undefined;
  // A class never matches the separator, negated or not.
  return { source: negated ? `[^/${body}]` : `(?!/)[${body}]`, end: i + 1 };
}

function escapeRegex(ch: string): string {
  return ch.replace(REGEX_SPECIAL, (special) => `\\${special}`);
}

function decode(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

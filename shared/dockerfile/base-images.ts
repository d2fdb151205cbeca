import { DockerfileParser, type From } from 'dockerfile-ast';
import { DockerfileError, ExpansionError, InvalidImageReferenceError } from '../errors.ts';
import { type ImageReference, parseImageReference } from '../image-ref/reference.ts';
import { safeText } from '../safe-text.ts';

/** One image a Dockerfile builds from. */
export interface BaseImage {
  readonly reference: ImageReference;
  /** 1-based line of the FROM instruction. */
  readonly line: number;
  /** The `--platform` value as written (expanded where its ARGs are known); informational only. */
  readonly platform?: string;
}

// BuildKit predefines these for --platform; they are never ours to resolve.
const PLATFORM_ARGS: ArgValues = new Map([
  ['BUILDPLATFORM', undefined],
  ['TARGETPLATFORM', undefined],
]);

/**
 * Returns the external images a Dockerfile's FROM instructions name, skipping `scratch` and
 * references to earlier stages. Throws DockerfileError listing every problem, with line numbers.
 */
export function baseImagesOf(text: string): BaseImage[] {
  if (text.includes('\u0000')) throw new DockerfileError('not a text file (it contains NUL bytes)');
  const source = text.startsWith('\uFEFF') ? text.slice(1) : text;
  if (source.trim() === '') throw new DockerfileError('file is empty: it names no image to mirror');

  const dockerfile = DockerfileParser.parse(source);
  const globalArgs = new Map<string, string | undefined>();
  const stages = new Set<string>();
  const images: BaseImage[] = [];
  const problems: string[] = [];
  let seenFrom = false;

  for (const instruction of dockerfile.getInstructions()) {
    const keyword = instruction.getKeyword().toUpperCase();
    if (keyword === 'ARG' && !seenFrom) {
      collectArg(instruction.getArguments().map((a) => a.getValue()), globalArgs);
    } else if (keyword === 'FROM') {
      seenFrom = true;
      const from = instruction as From;
      const line = from.getRange().start.line + 1;
      try {
        const image = imageOf(from, globalArgs, stages);
        if (image !== undefined) images.push({ ...image, line });
      } catch (error) {
        if (!(error instanceof DockerfileError || error instanceof InvalidImageReferenceError)) throw error;
        problems.push(`line ${line}: ${error.message}`);
      }
    }
  }

  if (problems.length > 0) throw new DockerfileError(problems.join('; '));
  if (!seenFrom) throw new DockerfileError('no FROM instruction: it names no image to mirror');
  if (images.length === 0) throw new DockerfileError('it names no image to mirror (only scratch or references to its own stages)');
  return images;
}

function collectArg(words: string[], args: Map<string, string | undefined>): void {
  for (const word of words) {
    const eq = word.indexOf('=');
    const name = eq === -1 ? word : word.slice(0, eq);
    if (eq === -1) {
      if (!args.has(name)) args.set(name, undefined);
      continue;
    }
    const raw = unquote(word.slice(eq + 1));
    try {
      args.set(name, expandArgs(raw, args));
    } catch {
      // An ARG whose default refers to an unknown ARG only matters if a FROM uses it.
      args.set(name, undefined);
    }
  }
}

function imageOf(from: From, args: ArgValues, stages: Set<string>): Omit<BaseImage, 'line'> | undefined {
  const words = from.getArguments().map((a) => a.getValue());
  const flags = from.getFlags();
  const unknownFlag = flags.find((flag) => flag.getName().toLowerCase() !== 'platform');
  if (unknownFlag) throw new DockerfileError(`FROM does not take the flag --${safeText(unknownFlag.getName())}`);

  const wellFormed = words.length === 1 || (words.length === 3 && words[1]?.toLowerCase() === 'as');
  if (!wellFormed) {
    throw new DockerfileError(`FROM takes "image" or "image AS name", got "${safeText(words.join(' '))}"`);
  }
  const imageText = expandArgs(words[0] as string, args);
  const stageName = words[2];
  if (stageName !== undefined && !/^[a-zA-Z][a-zA-Z0-9_.-]*$/.test(stageName)) {
    throw new DockerfileError(`stage name "${safeText(stageName)}" is not valid`);
  }

  const refersToStage = stages.has(imageText.toLowerCase());
  if (stageName !== undefined) stages.add(stageName.toLowerCase());
  if (refersToStage || imageText.toLowerCase() === 'scratch') return undefined;

  const reference = parseImageReference(imageText);
  const platformFlag = flags.find((flag) => flag.getName().toLowerCase() === 'platform')?.getValue() ?? undefined;
  if (platformFlag === undefined || platformFlag === null) return { reference };
  let platform = platformFlag;
  try {
    platform = expandArgs(platformFlag, new Map([...PLATFORM_ARGS, ...args]));
  } catch {
    // $BUILDPLATFORM and friends stay as written.
  }
  return { reference, platform };
}

function unquote(value: string): string {
  if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.endsWith(value[0])) return value.slice(1, -1);
  return value;
}

// ARG expansion in FROM lines.

/** Values of build ARGs in scope: a string, or undefined for an ARG declared without a value. */
type ArgValues = ReadonlyMap<string, string | undefined>;

/**
 * Expands `$V`, `${V}`, `${V:-word}`, `${V-word}`, `${V:+word}` and `${V+word}` the way Docker expands
 * ARGs in FROM, except that a variable with no value is an error instead of an empty string.
 */
function expandArgs(word: string, args: ArgValues): string {
  let out = '';
  let i = 0;
  while (i < word.length) {
    const ch = word[i];
    if (ch === '\\' && word[i + 1] === '$') {
      out += '$';
      i += 2;
    } else if (ch !== '$') {
      out += ch;
      i += 1;
    } else if (word[i + 1] === '{') {
      const end = matchingBrace(word, i + 1);
      out += expandBraced(word.slice(i + 2, end), args);
      i = end + 1;
    } else {
      const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(word.slice(i + 1))?.[0];
      if (name === undefined) {
        out += '$';
        i += 1;
      } else {
        out += valueOf(name, args);
        i += 1 + name.length;
      }
    }
  }
  return out;
}

function matchingBrace(word: string, open: number): number {
  let depth = 0;
  for (let i = open; i < word.length; i += 1) {
    if (word[i] === '{') depth += 1;
    else if (word[i] === '}') {
      depth -= 1;
      if (depth === 0) return i;
    }
  }
  throw new ExpansionError(`"\${" without a closing "}" in "${word}"`);
}

function expandBraced(body: string, args: ArgValues): string {
  const match = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+?])([\s\S]*))?$/.exec(body);
  if (!match) throw new ExpansionError(`"\${${body}}" is not a variable substitution`);
  const [, name = '', operator, operand = ''] = match;
  if (operator === undefined) return valueOf(name, args);
  const value = args.get(name);
  const unset = value === undefined;
  const empty = unset || value === '';
  switch (operator) {
    case ':-':
      return empty ? expandArgs(operand, args) : value;
    case '-':
      return unset ? expandArgs(operand, args) : value;
    case ':+':
      return empty ? '' : expandArgs(operand, args);
    case '+':
      return unset ? '' : expandArgs(operand, args);
    default:
      throw new ExpansionError(`ARG ${name} is required here ("\${${body}}")`);
  }
}

function valueOf(name: string, args: ArgValues): string {
  if (!args.has(name)) throw new ExpansionError(`ARG ${name} is not declared before the first FROM`);
  const value = args.get(name);
  if (value === undefined) throw new ExpansionError(`ARG ${name} has no default value`);
  return value;
}

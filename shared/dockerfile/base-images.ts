import { DockerfileParser, type From, type Instruction } from 'dockerfile-ast';
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

// Bounds on the work one file may cause. A file is at most 1 MiB, but what it expands to is not: ARGs that double
// per line reach a gigabyte in a few lines, and nested `${…}` recurse once per level. Each bound is far above what a
// Dockerfile that names its images needs, and a file beyond one is refused with an error naming it.

/**
 * Words in a file, each quote, comma and `$` counting as one, counted before it is parsed: the parser keeps an object
 * of about a kilobyte per word of some instructions (RUN, COPY, ADD), per string of their JSON form, per quoted part
 * and per variable, so a megabyte of `a a a`, `["a","a"]` or `${a}${a}` would cost hundreds of megabytes.
 */
export const MAX_WORDS = 32_768;

/** FROM instructions in a file; each may add a line to the error, and a multi-stage build has a handful. */
export const MAX_FROMS = 64;

/** `${…}` inside `${…}`: each level is a recursion and a pass over the text it holds. */
export const MAX_NESTING = 16;

/** Characters of any expanded value, an ARG's or a FROM's; an image reference holds at most 1024 anyway. */
export const MAX_VALUE_LENGTH = 4096;

/** How much of a word or an ARG default a message quotes. */
const QUOTE_MAX = 80;

/**
 * Returns the external images a Dockerfile's FROM instructions name, skipping `scratch` and
 * references to earlier stages. Throws DockerfileError listing every problem, with line numbers.
 */
export function baseImagesOf(text: string): BaseImage[] {
  const instructions = instructionsOf(text);
  const firstFrom = instructions.findIndex((instruction) => keywordOf(instruction) === 'FROM');
  if (firstFrom === -1) throw new DockerfileError('no FROM instruction: it names no image to mirror');
  const froms = instructions.slice(firstFrom).filter((instruction) => keywordOf(instruction) === 'FROM') as From[];
  if (froms.length > MAX_FROMS) throw new DockerfileError(`it has ${froms.length} FROM instructions, more than the ${MAX_FROMS} allowed`);

  const args = globalArgs(instructions.slice(0, firstFrom).filter((instruction) => keywordOf(instruction) === 'ARG'));
  const stages = new Set<string>();
  const images: BaseImage[] = [];
  const problems: string[] = [];
  for (const from of froms) {
    const line = from.getRange().start.line + 1;
    try {
      const image = imageOf(from, args, stages);
      if (image !== undefined) images.push({ ...image, line });
    } catch (error) {
      if (!(error instanceof DockerfileError || error instanceof InvalidImageReferenceError)) throw error;
      problems.push(`line ${line}: ${error.message}`);
    }
  }

  if (problems.length > 0) throw new DockerfileError(problems.join('; '));
  if (images.length === 0) throw new DockerfileError('it names no image to mirror (only scratch or references to its own stages)');
  return images;
}

/** The parsed instructions of a file, once it is known to be text and small enough in words for the parser. */
function instructionsOf(text: string): Instruction[] {
  if (text.includes('\u0000')) throw new DockerfileError('not a text file (it contains NUL bytes)');
  const source = text.startsWith('\uFEFF') ? text.slice(1) : text;
  if (source.trim() === '') throw new DockerfileError('file is empty: it names no image to mirror');
  if (tooManyWords(source)) {
    throw new DockerfileError(`it holds more than the ${MAX_WORDS} words allowed (a quote, a comma or a "$" counts as one); a Dockerfile to mirror names its images in a few lines`);
  }
  return DockerfileParser.parse(source).getInstructions();
}

function tooManyWords(text: string): boolean {
  const word = /[^\s"',$]+|["',$]/g;
  for (let count = 0; word.exec(text) !== null; count += 1) if (count === MAX_WORDS) return true;
  return false;
}

function keywordOf(instruction: Instruction): string {
  return instruction.getKeyword().toUpperCase();
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
  const imageText = expandWord(words[0] as string, args);
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
    platform = expandWord(platformFlag, args);
  } catch {
    // $BUILDPLATFORM and friends, which BuildKit sets, stay as written.
  }
  return { reference, platform };
}

function unquote(value: string): string {
  if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.endsWith(value[0])) return value.slice(1, -1);
  return value;
}

// The ARGs declared before the first FROM, the only ones a FROM sees.

/** Why an ARG's default could not be computed, and the ARG at fault (itself, or one its default depends on). */
interface Unusable {
  readonly arg: string;
  readonly why: string;
}

/** A build ARG in scope: its value, undefined when declared without one, or why its value could not be computed. */
type ArgValue = string | undefined | Unusable;
type ArgValues = ReadonlyMap<string, ArgValue>;

/**
 * The global ARGs, each default expanded in order as Docker does: a default sees only the ARGs declared before it.
 * A default that cannot be expanded makes its ARG unusable rather than the file invalid: it matters only if a FROM uses it.
 */
function globalArgs(instructions: readonly Instruction[]): ArgValues {
  const words = instructions.flatMap((instruction) => instruction.getArguments().map((a) => a.getValue()));
  const declared = new Set(words.map((word) => word.split('=', 1)[0] as string));
  const args = new Map<string, ArgValue>();
  for (const word of words) {
    const eq = word.indexOf('=');
    const name = eq === -1 ? word : word.slice(0, eq);
    if (eq === -1) {
      if (!args.has(name)) args.set(name, undefined);
      continue;
    }
    const raw = unquote(word.slice(eq + 1));
    try {
      args.set(name, expandWord(raw, args));
    } catch (error) {
      if (!(error instanceof ExpansionError)) throw error;
      args.set(name, unusable(name, raw, error, declared));
    }
  }
  return args;
}

function unusable(name: string, raw: string, error: ExpansionError, declared: ReadonlySet<string>): Unusable {
  if (error instanceof TooLongError) return { arg: name, why: `its value would be longer than ${MAX_VALUE_LENGTH} characters` };
  const quoted = `its default "${safeText(raw, QUOTE_MAX)}"`;
  if (!(error instanceof ArgLookupError)) return { arg: name, why: `${quoted} cannot be expanded: ${error.message}` };
  // Built on an unusable ARG: unusable for the same reason, which names the ARG at fault.
  if (typeof error.problem === 'object') return error.problem;
  const other = `${quoted} refers to ARG ${argName(error.arg)}`;
  if (error.problem === 'no value') return { arg: name, why: `${other}, which has no default value` };
  if (error.arg === name) return { arg: name, why: `${other} itself, which has no value yet` };
  return { arg: name, why: `${other}, which is ${declared.has(error.arg) ? 'declared after it' : 'not declared before the first FROM'}` };
}

function argName(name: string): string {
  return safeText(name, QUOTE_MAX);
}

// ARG expansion.

/** An expansion that would exceed MAX_VALUE_LENGTH; the message is worded for a FROM. */
class TooLongError extends ExpansionError {
  constructor() {
    super(`the image would be longer than ${MAX_VALUE_LENGTH} characters once its ARGs are expanded`);
  }
}

/** Why a substitution cannot have the value of an ARG. */
type LookupProblem = 'undeclared' | 'no value' | Unusable;

/** A substitution needs an ARG that is not declared, has no value, or is unusable; the message is worded for a FROM. */
class ArgLookupError extends ExpansionError {
  constructor(
    readonly arg: string,
    readonly problem: LookupProblem,
  ) {
    super(lookupMessage(arg, problem));
  }
}

function lookupMessage(arg: string, problem: LookupProblem): string {
  if (problem === 'undeclared') return `ARG ${argName(arg)} is not declared before the first FROM`;
  if (problem === 'no value') return `ARG ${argName(arg)} has no default value`;
  if (problem.arg === arg) return `ARG ${argName(arg)} cannot be used: ${problem.why}`;
  return `ARG ${argName(arg)} cannot be used: it depends on ARG ${argName(problem.arg)}, which cannot be used: ${problem.why}`;
}

/**
 * Expands `$V`, `${V}`, `${V:-word}`, `${V-word}`, `${V:+word}` and `${V+word}` the way Docker expands
 * ARGs in FROM, except that a variable with no value is an error instead of an empty string, and so is a value
 * longer than MAX_VALUE_LENGTH or substitutions nested deeper than MAX_NESTING.
 */
function expandWord(word: string, args: ArgValues): string {
  return expandArgs(word, args, 0);
}

/** `depth` is how many substitutions enclose `word`; the work is at most MAX_NESTING passes over it. */
function expandArgs(word: string, args: ArgValues, depth: number): string {
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
      if (depth === MAX_NESTING) throw new ExpansionError(`"\${…}" is nested more than ${MAX_NESTING} deep in "${safeText(word, QUOTE_MAX)}"`);
      const end = matchingBrace(word, i + 1);
      out += expandBraced(word.slice(i + 2, end), args, depth + 1);
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
    if (out.length > MAX_VALUE_LENGTH) throw new TooLongError();
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
  throw new ExpansionError(`"\${" without a closing "}" in "${safeText(word, QUOTE_MAX)}"`);
}

function expandBraced(body: string, args: ArgValues, depth: number): string {
  const match = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+?])([\s\S]*))?$/.exec(body);
  if (!match) throw new ExpansionError(`"${safeText(`\${${body}}`, QUOTE_MAX)}" is not a variable substitution`);
  const [, name = '', operator, operand = ''] = match;
  if (operator === undefined) return valueOf(name, args);
  const value = args.get(name);
  if (typeof value === 'object') throw new ArgLookupError(name, value);
  const unset = value === undefined;
  const empty = unset || value === '';
  switch (operator) {
    case ':-':
      return empty ? expandArgs(operand, args, depth) : value;
    case '-':
      return unset ? expandArgs(operand, args, depth) : value;
    case ':+':
      return empty ? '' : expandArgs(operand, args, depth);
    case '+':
      return unset ? '' : expandArgs(operand, args, depth);
    default:
      throw new ExpansionError(`ARG ${argName(name)} is required here ("${safeText(`\${${body}}`, QUOTE_MAX)}")`);
  }
}

function valueOf(name: string, args: ArgValues): string {
  if (!args.has(name)) throw new ArgLookupError(name, 'undeclared');
  const value = args.get(name);
  if (value === undefined) throw new ArgLookupError(name, 'no value');
  if (typeof value === 'object') throw new ArgLookupError(name, value);
  return value;
}

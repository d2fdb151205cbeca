import { DockerfileParser, type From } from 'dockerfile-ast';
import { DockerfileError, InvalidImageReferenceError } from '../errors.ts';
import { type ImageReference, parseImageReference, printable } from '../image-ref/reference.ts';
import { type ArgValues, expandArgs } from './expand.ts';

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
  if (unknownFlag) throw new DockerfileError(`FROM does not take the flag --${printable(unknownFlag.getName())}`);

  const wellFormed = words.length === 1 || (words.length === 3 && words[1]?.toLowerCase() === 'as');
  if (!wellFormed) {
    throw new DockerfileError(`FROM takes "image" or "image AS name", got "${printable(words.join(' '))}"`);
  }
  const imageText = expandArgs(words[0] as string, args);
  const stageName = words[2];
  if (stageName !== undefined && !/^[a-zA-Z][a-zA-Z0-9_.-]*$/.test(stageName)) {
    throw new DockerfileError(`stage name "${printable(stageName)}" is not valid`);
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

/** The images tree as a bot sees it: where it sits in the repository, and its Dockerfiles. */
export interface ImagesTree {
  /** The images directory relative to the repository root, with `/` separators; `''` when it is the root. */
  readonly imagesDir: string;
  /** Every `Dockerfile` below the images directory, relative to it (`docker.io/library/postgres/Dockerfile`). */
  readonly dockerfiles: readonly string[];
}

/** How often a bot looks for new tags. */
export const BOT_SCHEDULES = ['daily', 'weekly', 'monthly'] as const;
/** One of BOT_SCHEDULES. */
export type BotSchedule = (typeof BOT_SCHEDULES)[number];

/** What a generator did to a configuration file: the new text, whether it differs, and what changed. */
export interface ConfigUpdate {
  /** The file's new text; byte for byte the old one when nothing changed. */
  readonly text: string;
  readonly changed: boolean;
  /** One line per change, for people. */
  readonly changes: readonly string[];
  /** What the bot would refuse in the result; empty when it is valid. */
  readonly problems: readonly string[];
}

/** Dockerfile paths from the repository root (`images/docker.io/library/postgres/Dockerfile`), sorted. */
export function repositoryPaths(tree: ImagesTree): string[] {
  return [...new Set(tree.dockerfiles.map((file) => joinPath(tree.imagesDir, file)))].sort();
}

/** Every directory holding a Dockerfile, from the repository root with a leading `/`, sorted: Dependabot's `directories`. */
export function dockerfileDirectories(tree: ImagesTree): string[] {
  const dirs = repositoryPaths(tree).map((path) => `/${path.split('/').slice(0, -1).join('/')}`);
  return [...new Set(dirs)].sort();
}

/** True when a repository path (with or without a leading `/`) lies inside the images directory. */
export function isInsideImages(path: string, imagesDir: string): boolean {
  const bare = path.replace(/^\/+/, '').replace(/\/+$/, '');
  return imagesDir === '' || bare === imagesDir || bare.startsWith(`${imagesDir}/`);
}

/** Deep equality of JSON-like values; key order does not matter. */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((item, i) => sameJson(item, b[i]));
  }
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  const keysA = Object.keys(a);
  const keysB = Object.keys(b);
  return keysA.length === keysB.length && keysA.every((key) => Object.hasOwn(b, key) && sameJson((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]));
}

function joinPath(dir: string, file: string): string {
  return dir === '' ? file : `${dir}/${file}`;
}

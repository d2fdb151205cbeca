import { formatReference, type ImageReference, repositoryName } from '../image-ref/reference.ts';
import type { DockerfileEntry, FileIssue } from '../ports.ts';
import type { Plan } from './plan.ts';

/** One image a pull request adds, changes or removes, with the files that name it. */
export interface ImageChange {
  /** The image after the change; for a removed image, the one that was named. */
  readonly source: ImageReference;
  /** For a changed image: what the same file named before (same repository, another tag or digest). */
  readonly previous?: ImageReference;
  readonly target?: ImageReference;
  readonly files: readonly string[];
  /**
   * True when the other tree names this exact image in some file: an added or changed image the base already
   * names costs no new copy; a removed image the new tree still names stays synced.
   */
  readonly namedElsewhere: boolean;
}

/** What changes between the plan of a base tree and the plan of a new tree. */
export interface PlanDiff {
  readonly added: readonly ImageChange[];
  readonly changed: readonly ImageChange[];
  readonly removed: readonly ImageChange[];
  /**
   * The problems the change introduces: each problem of the new tree that the base does not have in the same file,
   * left as it was, with the same message. A file the change edits and leaves broken is here, however it is broken:
   * the change touched it, and the author must see that it is still not mirrored.
   */
  readonly invalid: readonly FileIssue[];
  /** Problems of the new tree the base has too, in a file the change leaves as it was, with the same message: not the change's, they fail nothing. */
  readonly alreadyBroken: readonly FileIssue[];
  readonly warnings: readonly FileIssue[];
  /** Files of the new tree naming a registry the allow-list leaves out (each has its notice in `warnings`). */
  readonly notMirrored: readonly string[];
  /** Images named by the same file in both trees, unchanged. */
  readonly unchanged: number;
}

interface Named {
  readonly ref: ImageReference;
  readonly target?: ImageReference;
}

/**
 * Compares two plans image by image. Images are matched by file and source repository: the same file naming
 * the same repository with another tag or digest is a change; anything else is added or removed. The new tree's
 * problems are split into those the change introduces and those already on the base; `edited` names the files whose
 * text differs between the trees (editedFiles), whose problems are all the change's. Pure.
 */
export function diffPlans(base: Plan, next: Plan, edited: ReadonlySet<string>): PlanDiff {
  const before = byFileAndRepository(base);
  const after = byFileAndRepository(next);
  const baseImages = new Set(base.jobs.map((job) => formatReference(job.source)));
  const nextImages = new Set(next.jobs.map((job) => formatReference(job.source)));
  const added = new Grouped();
  const changed = new Grouped();
  const removed = new Grouped();
  let unchanged = 0;

  for (const key of new Set([...before.keys(), ...after.keys()])) {
    const file = key.slice(0, key.indexOf('\u0000'));
    const old = before.get(key) ?? [];
    const now = after.get(key) ?? [];
    const oldNames = new Set(old.map((named) => formatReference(named.ref)));
    const nowNames = new Set(now.map((named) => formatReference(named.ref)));
    unchanged += now.filter((named) => oldNames.has(formatReference(named.ref))).length;
    const gone = old.filter((named) => !nowNames.has(formatReference(named.ref)));
    const come = now.filter((named) => !oldNames.has(formatReference(named.ref)));
    // A multi-stage file may name one repository twice: pair what went with what came, in order.
    for (let i = 0; i < Math.max(gone.length, come.length); i += 1) {
      const was = gone[i];
      const is = come[i];
      if (was && is) changed.add(file, is, was.ref, baseImages);
      else if (is) added.add(file, is, undefined, baseImages);
      else if (was) removed.add(file, was, undefined, nextImages);
    }
  }
  const { introduced, alreadyBroken } = splitProblems(base.errors, next.errors, edited);
  return { added: added.list(), changed: changed.list(), removed: removed.list(), invalid: introduced, alreadyBroken, warnings: next.warnings, notMirrored: next.notMirrored ?? [], unchanged };
}

/**
 * Sorts the new tree's problems into those the change introduces and those the base has already. A problem is the
 * base's only when the change leaves its file as it was and the base has the same message there: one old broken file
 * must not fail every change, but a file the change edits is its own to fix (a tag bumped beside a broken line would
 * otherwise pass for mirrored, and is not), and so is a collision it widens.
 */
function splitProblems(base: readonly FileIssue[], next: readonly FileIssue[], edited: ReadonlySet<string>): { introduced: FileIssue[]; alreadyBroken: FileIssue[] } {
  const key = (issue: FileIssue) => `${issue.file}\u0000${issue.message}`;
  const before = new Set(base.map(key));
  const old = (issue: FileIssue) => !edited.has(issue.file) && before.has(key(issue));
  return { introduced: next.filter((issue) => !old(issue)), alreadyBroken: next.filter(old) };
}

/**
 * The files of the new tree whose text differs from the base's, new files included: what the change edits. Line
 * endings aside: a git ref's blob has the LF a checkout with `core.autocrlf` turns into CRLF, and a file only checked
 * out is not edited. A file neither tree could read has no text in either, and is not counted as edited. Pure.
 */
export function editedFiles(base: readonly DockerfileEntry[], next: readonly DockerfileEntry[]): Set<string> {
  const before = new Map(base.map((entry) => [entry.path, lineFeeds(entry.text)]));
  return new Set(next.filter((entry) => !before.has(entry.path) || before.get(entry.path) !== lineFeeds(entry.text)).map((entry) => entry.path));
}

function lineFeeds(text: string | undefined): string | undefined {
  return text?.replaceAll('\r\n', '\n');
}

function byFileAndRepository(plan: Plan): Map<string, Named[]> {
  const out = new Map<string, Named[]>();
  for (const job of plan.jobs) {
    for (const file of job.files) {
      const key = `${file}\u0000${repositoryName(job.source)}`;
      const named: Named = job.target === undefined ? { ref: job.source } : { ref: job.source, target: job.target };
      out.set(key, [...(out.get(key) ?? []), named].sort((a, b) => formatReference(a.ref).localeCompare(formatReference(b.ref))));
    }
  }
  return out;
}

// One line per image (and previous image): files naming the same change are listed together.
class Grouped {
  private readonly entries = new Map<string, { source: ImageReference; previous?: ImageReference; target?: ImageReference; files: Set<string>; namedElsewhere: boolean }>();

  add(file: string, named: Named, previous: ImageReference | undefined, otherImages: ReadonlySet<string>): void {
    const key = `${formatReference(named.ref)} ${previous === undefined ? '' : formatReference(previous)}`;
    const existing = this.entries.get(key);
    if (existing) {
      existing.files.add(file);
      return;
    }
    this.entries.set(key, {
      source: named.ref,
      ...(previous === undefined ? {} : { previous }),
      ...(named.target === undefined ? {} : { target: named.target }),
      files: new Set([file]),
      namedElsewhere: otherImages.has(formatReference(named.ref)),
    });
  }

  list(): ImageChange[] {
    return [...this.entries.values()]
      .map((entry) => ({ ...entry, files: [...entry.files].sort() }))
      .sort((a, b) => formatReference(a.source).localeCompare(formatReference(b.source)) || (a.files[0] ?? '').localeCompare(b.files[0] ?? ''));
  }
}

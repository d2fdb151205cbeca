import { formatReference, type ImageReference, repositoryName } from '../image-ref/reference.ts';
import type { FileIssue } from '../ports.ts';
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
   * The problems the change introduces: each problem of the new tree that the base does not have (the same file with
   * the same message, line numbers aside). A file the change leaves broken in another way is here: its problem is new.
   */
  readonly invalid: readonly FileIssue[];
  /** Problems of the new tree the base has too, in the same file with the same message (line numbers aside): not the change's, they fail nothing. */
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
 * problems are split into those the change introduces and those already on the base. Pure.
 */
export function diffPlans(base: Plan, next: Plan): PlanDiff {
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
  const { introduced, alreadyBroken } = splitProblems(base.errors, next.errors);
  return { added: added.list(), changed: changed.list(), removed: removed.list(), invalid: introduced, alreadyBroken, warnings: next.warnings, notMirrored: next.notMirrored ?? [], unchanged };
}

/**
 * Sorts the new tree's problems into those the change introduces and those the base has already. A problem is the
 * base's only when the same file has the same message there, line numbers aside (a line added above an old problem
 * moves it, and changes nothing of it): one old broken file must not fail every change, but a file a change leaves
 * broken in another way (or a collision it widens) is its own to fix.
 */
function splitProblems(base: readonly FileIssue[], next: readonly FileIssue[]): { introduced: FileIssue[]; alreadyBroken: FileIssue[] } {
  const key = (issue: FileIssue) => `${issue.file}\u0000${issue.message.replace(LINE_NUMBER_RE, '$1')}`;
  const before = new Set(base.map(key));
  return { introduced: next.filter((issue) => !before.has(key(issue))), alreadyBroken: next.filter((issue) => before.has(key(issue))) };
}

/** The `line 3: ` in front of each problem of a Dockerfile's message (several are joined with `; `). */
const LINE_NUMBER_RE = /(^|; )line \d+: /g;

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

import pLimit from 'p-limit';
import type { Plan } from '../plan/plan.ts';
import { mirrorImage, type SyncDeps, type SyncOptions } from './mirror-image.ts';
import { buildReport, type MirrorResult, type Report, resultOf } from './report.ts';

export interface SyncAllOptions extends SyncOptions {
  /** Images copied at once. */
  readonly concurrency?: number;
  /** Called as each image finishes, for progress output. */
  readonly onResult?: (result: MirrorResult, done: number, total: number) => void;
}

/** Mirrors every job of a plan, a bounded number at a time; one image failing never stops the others. */
export async function syncAll(plan: Plan, deps: SyncDeps, options: SyncAllOptions = {}): Promise<Report> {
  const limit = pLimit(Math.max(1, options.concurrency ?? 4));
  let done = 0;
  const results = await Promise.all(
    plan.jobs.map((job) =>
      limit(async () => {
        const started = performance.now();
        let result: MirrorResult;
        try {
          const outcome = await mirrorImage(job, deps, options);
          result = resultOf(job, { ...outcome, durationMs: performance.now() - started });
        } catch (error) {
          result = resultOf(job, { status: 'failed', error, durationMs: performance.now() - started });
        }
        done += 1;
        options.onResult?.(result, done, plan.jobs.length);
        return result;
      }),
    ),
  );
  return buildReport(plan, results);
}

/** The report of a plan alone: every job `planned`. */
export function planReport(plan: Plan): Report {
  return buildReport(plan, plan.jobs.map((job) => resultOf(job, { status: 'planned' })));
}

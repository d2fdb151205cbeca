import type { ScheduleRecorder, ScheduleSummary, WorkerInvoker, WorkerJobPayload } from '../../shared/ports.ts';

/** Records invocations; fails those whose source matches `failFor`. */
export class FakeInvoker implements WorkerInvoker {
  readonly invoked: WorkerJobPayload[] = [];
  inFlight = 0;
  maxInFlight = 0;

  constructor(private readonly failFor?: RegExp) {}

  async invoke(job: WorkerJobPayload): Promise<void> {
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await new Promise((resolve) => setTimeout(resolve, 5));
    this.inFlight -= 1;
    if (this.failFor?.test(job.source)) throw new Error('Rate exceeded');
    this.invoked.push(job);
  }
}

/** Keeps what the scheduler recorded. */
export class FakeScheduleRecorder implements ScheduleRecorder {
  readonly runs: ScheduleSummary[] = [];
  readonly failures: unknown[] = [];
  readonly orphans: { runId: string; orphans: unknown }[] = [];

  recordRun(summary: ScheduleSummary): void {
    this.runs.push(summary);
  }

  recordOrphans(runId: string, orphans: unknown): void {
    this.orphans.push({ runId, orphans });
  }

  recordFailure(error: unknown): void {
    this.failures.push(error);
  }
}

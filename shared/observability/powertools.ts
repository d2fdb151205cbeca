import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { describeError, isRetryable } from '../errors.ts';
import type { MirrorResult, OutcomeRecorder, ScheduleRecorder, ScheduleSummary } from '../ports.ts';
import { DIMENSION, METRIC } from './names.ts';
import { safeMessage } from '../safe-text.ts';

/** One JSON log line and EMF metrics per image the worker handles. */
export class PowertoolsOutcomeRecorder implements OutcomeRecorder {
  constructor(
    private readonly logger: Logger,
    private readonly metrics: Metrics,
  ) {}

  record(result: MirrorResult, attempt?: { readonly number: number; readonly of: number }): void {
    const attributes = {
      source: result.source,
      target: result.target,
      digest: result.digest,
      files: result.files,
      durationMs: result.durationMs,
      ...(result.replaced === undefined ? {} : { replaced: result.replaced }),
      ...(result.pulls === undefined ? {} : { pulls: result.pulls }),
      // The source's pull budget on every line, so that "who spent Docker Hub's pulls?" has an answer in Logs Insights.
      ...(result.budget === undefined ? {} : { pullBudget: result.budget }),
      // A pin whose tag moved on upstream, and the other notices: on the outcome's own line, so one filter finds them.
      ...(result.pinDrift === undefined ? {} : { pinDrift: result.pinDrift }),
      ...(result.notices === undefined ? {} : { notices: result.notices }),
      // How the image was verified, and the signatures that travelled with it: "which images went out unsigned?" is one filter.
      ...(result.verified === undefined ? {} : { verified: result.verified }),
      ...(result.artifacts === undefined ? {} : { artifacts: result.artifacts }),
      // Which of the worker's attempts this outcome came from: "failed on the 3rd of 3" reads otherwise than "on the 1st".
      ...(attempt === undefined ? {} : { attempt: attempt.number, attempts: attempt.of }),
    };
    if (result.budget !== undefined) this.recordBudget(result);
    this.recordRepository(result);
    // Upstream moving on is no incident: counted for the dashboard, never paged.
    if (result.pinDrift !== undefined) this.metrics.addMetric(METRIC.pinsDrifted, MetricUnit.Count, 1);
    if (result.status === 'deferred') {
      // Not a failure: the next scheduled run picks it up. Counted, shown on the dashboard, never paged.
      this.logger.warn('image deferred', { ...attributes, reason: result.error });
      this.metrics.addMetric(METRIC.deferred, MetricUnit.Count, 1);
    } else if (result.status === 'failed' || result.status === 'interrupted') {
      this.logger.error('image failed', { ...attributes, error: result.error, retryable: result.retryable ?? false, ...(result.reason === undefined ? {} : { reason: result.reason }) });
      this.metrics.addMetric(METRIC.failed, MetricUnit.Count, 1);
      // Refused by the signature policy: a failure of its own kind (upstream unsigned, or signed by someone else), paged apart.
      if (result.reason === 'unverified') this.metrics.addMetric(METRIC.unverified, MetricUnit.Count, 1);
    } else if (result.status === 'copied') {
      this.logger.info('image copied', attributes);
      this.metrics.addMetric(METRIC.copied, MetricUnit.Count, 1);
    } else {
      this.logger.info('image skipped', attributes);
      this.metrics.addMetric(METRIC.skipped, MetricUnit.Count, 1);
    }
    if (result.durationMs !== undefined) this.metrics.addMetric(METRIC.duration, MetricUnit.Milliseconds, result.durationMs);
  }

  retrying(result: MirrorResult, attempt: { readonly number: number; readonly of: number; readonly waitMs: number }): void {
    // Not a failure yet: counted apart from ImagesFailed, which only the last attempt's failure (or a permanent one) moves.
    this.logger.warn('image retried', {
      source: result.source,
      target: result.target,
      digest: result.digest,
      error: result.error,
      attempt: attempt.number,
      attempts: attempt.of,
      retryInMs: attempt.waitMs,
    });
    this.metrics.addMetric(METRIC.retried, MetricUnit.Count, 1);
  }

  // A repository whose managed settings drifted is put back by the worker: said once, counted, never paged. What could
  // not be checked or put back, and encryption (which cannot change), are only reported.
  private recordRepository(result: MirrorResult): void {
    const repository = result.repository;
    if (repository?.repaired?.length) {
      this.logger.warn('repository repaired', { source: result.source, target: result.target, repaired: repository.repaired });
      this.metrics.addMetric(METRIC.repositoriesRepaired, MetricUnit.Count, 1);
    }
    for (const warning of repository?.warnings ?? []) this.logger.warn('repository warning', { source: result.source, target: result.target, warning });
  }

  // The one metric with a second dimension: a budget is per source registry, and there are few of them.
  private recordBudget(result: MirrorResult): void {
    const budget = result.budget;
    if (budget === undefined) return;
    const metric = this.metrics.singleMetric();
    metric.addDimension(DIMENSION.sourceRegistry, registryOf(result.source));
    metric.addMetric(METRIC.sourcePullsRemaining, MetricUnit.Count, budget.remaining);
  }
}

/** `docker.io` of `docker.io/library/postgres:14`. */
function registryOf(reference: string): string {
  return reference.slice(0, Math.max(0, reference.indexOf('/')));
}

/** Images or repositories named on one scheduler line; its count says how many more there are. */
const MAX_LOGGED_SOURCES = 100;

/** One JSON log line per scheduler run (plus one per invalid file) and its metrics. */
export class PowertoolsScheduleRecorder implements ScheduleRecorder {
  constructor(
    private readonly logger: Logger,
    private readonly metrics: Metrics,
  ) {}

  recordRun(summary: ScheduleSummary): void {
    for (const error of summary.errors) this.logger.warn('invalid file', { runId: summary.runId, file: error.file, error: error.message });
    for (const failure of summary.invokeErrors) this.logger.error('worker invocation failed', { runId: summary.runId, ...failure });
    if (summary.invokeErrors.length > 0) {
      // One line that answers "which images did this run leave out?"; the next run invokes them again.
      // A bounded line (a missing worker function fails them all): the first ones, and the count.
      const sources = summary.invokeErrors.slice(0, MAX_LOGGED_SOURCES).map((failure) => failure.source);
      this.logger.error('workers not invoked', { runId: summary.runId, count: summary.invokeErrors.length, sources });
    }
    this.logger.info('sync scheduled', {
      runId: summary.runId,
      dryRun: summary.dryRun,
      planned: summary.planned,
      invoked: summary.invoked,
      notInvoked: summary.failedInvokes,
      invalid: summary.invalid,
      warnings: summary.warnings.length,
      unmatched: summary.unmatched,
    });
    this.metrics.addMetric(METRIC.schedulerRuns, MetricUnit.Count, 1);
    this.metrics.addMetric(METRIC.planned, MetricUnit.Count, summary.planned);
    this.metrics.addMetric(METRIC.invoked, MetricUnit.Count, summary.invoked);
    this.metrics.addMetric(METRIC.invalidFiles, MetricUnit.Count, summary.invalid);
    this.metrics.addMetric(METRIC.notInvoked, MetricUnit.Count, summary.failedInvokes);
    // Written now, not when the handler returns: the run's counts (WorkersNotInvoked pages) outlive a later timeout.
    this.metrics.publishStoredMetrics();
  }

  // Orphans are for a person to decide on (nothing deletes them): a line naming them and a count, no page.
  recordOrphans(runId: string, orphans: NonNullable<ScheduleSummary['orphans']>): void {
    if ('error' in orphans) {
      this.logger.warn('orphan check failed', { runId, error: orphans.error });
      return;
    }
    const count = orphans.repositories.length;
    if (count > 0) {
      this.logger.warn('orphaned repositories', {
        runId,
        count,
        checked: orphans.checked,
        // A bounded line: the first ones, and `mirror orphans` for the whole list.
        repositories: orphans.repositories.slice(0, MAX_LOGGED_SOURCES),
      });
    }
    this.metrics.addMetric(METRIC.orphanedRepositories, MetricUnit.Count, count);
  }

  recordFailure(error: unknown, runId: string): void {
    // GitHub's own words may be in it: escaped, capped and with secrets hidden like every message.
    this.logger.error('schedule failed', { runId, error: safeMessage(describeError(error)), retryable: isRetryable(error) });
    this.metrics.addMetric(METRIC.schedulerFailures, MetricUnit.Count, 1);
  }
}

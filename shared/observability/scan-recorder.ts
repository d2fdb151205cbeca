import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { METRIC } from './names.ts';
import type { Acceptance, ScanEventOutcome, ScanRecorder, UnacceptedFinding } from '../ports.ts';

/**
 * Unaccepted findings, and problems, named in one line at most: an image with hundreds must not make a huge line; the
 * rest are counted. CloudWatch Logs Insights extracts at most 200 fields from a JSON line, in the order they come: the
 * scalars and the error come first, each finding is one string (one field, not four), and the lists come last.
 */
const LISTED_AT_MOST = 50;

/** One JSON log line and EMF metrics per scan event; the repository goes in the line, never in a dimension. */
export class PowertoolsScanRecorder implements ScanRecorder {
  constructor(
    private readonly logger: Logger,
    private readonly metrics: Metrics,
  ) {}

  record(outcome: ScanEventOutcome): void {
    switch (outcome.kind) {
      case 'scanned': {
        const { repository, digest, tags, status, counts, acceptance } = outcome;
        // Not judged at all (a caller that gives no acceptance): every finding counts, as when judging fails.
        const unacceptedCritical = acceptance?.unacceptedCritical ?? counts.critical;
        const unacceptedHigh = acceptance?.unacceptedHigh ?? counts.high;
        const attributes = { repository, digest, tags, status, findings: counts, ...(acceptance ? { acceptance: acceptanceAttributes(acceptance) } : {}) };
        // A warning only for what pages: critical findings nobody signed off, the line the critical-findings alarm sends the on-call to.
        if (unacceptedCritical > 0) this.logger.warn('image scanned', attributes);
        else this.logger.info('image scanned', attributes);
        this.metrics.addMetric(METRIC.imagesScanned, MetricUnit.Count, 1);
        this.metrics.addMetric(METRIC.scanCritical, MetricUnit.Count, counts.critical);
        this.metrics.addMetric(METRIC.scanHigh, MetricUnit.Count, counts.high);
        this.metrics.addMetric(METRIC.unacceptedCritical, MetricUnit.Count, unacceptedCritical);
        this.metrics.addMetric(METRIC.unacceptedHigh, MetricUnit.Count, unacceptedHigh);
        return;
      }
      case 'scan-failed':
        this.logger.warn('image scan failed', { repository: outcome.repository, digest: outcome.digest, tags: outcome.tags, status: outcome.status });
        this.metrics.addMetric(METRIC.scanFailures, MetricUnit.Count, 1);
        return;
      case 'not-scanned':
        this.logger.info('image not scanned', { repository: outcome.repository, digest: outcome.digest, tags: outcome.tags, status: outcome.status });
        this.metrics.addMetric(METRIC.imagesNotScanned, MetricUnit.Count, 1);
        return;
      case 'invalid':
        this.logger.error('invalid scan event', { error: outcome.error });
        this.metrics.addMetric(METRIC.invalidScanEvents, MetricUnit.Count, 1);
        return;
      case 'ignored':
        this.logger.info('scan event ignored', { reason: outcome.reason, ...(outcome.repository ? { repository: outcome.repository } : {}) });
        return;
    }
  }
}

/**
 * The acceptance as the log line carries it: counts and the error first, then the unaccepted findings as
 * `CVE-2024-1 CRITICAL libssl3 not signed off` and the problems, both capped, and the files to edit.
 */
function acceptanceAttributes(acceptance: Acceptance): Record<string, unknown> {
  const { unacceptedCritical, unacceptedHigh, signedOff, expired, error, unaccepted, problems, signOffFiles, signOffUrls, dockerfiles } = acceptance;
  return {
    unacceptedCritical,
    unacceptedHigh,
    signedOff,
    expired,
    ...(error === undefined ? {} : { error }),
    ...(unaccepted.length > LISTED_AT_MOST ? { unacceptedNotListed: unaccepted.length - LISTED_AT_MOST } : {}),
    ...(problems.length > LISTED_AT_MOST ? { problemsNotListed: problems.length - LISTED_AT_MOST } : {}),
    unaccepted: unaccepted.slice(0, LISTED_AT_MOST).map(describeUnaccepted),
    signOffFiles,
    ...(signOffUrls.length > 0 ? { signOffUrls } : {}),
    dockerfiles,
    problems: problems.slice(0, LISTED_AT_MOST),
  };
}

/** One unaccepted finding as one field: `CVE-2024-1 CRITICAL libssl3 not signed off` (or `… expired`). */
function describeUnaccepted(finding: UnacceptedFinding): string {
  return `${finding.id} ${finding.severity} ${finding.pkgName} ${finding.status === 'expired' ? 'sign-off expired' : 'not signed off'}`;
}

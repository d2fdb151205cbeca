import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { METRIC } from './names.ts';
import type { ScanEventOutcome, ScanRecorder } from '../ports.ts';

/** One JSON log line and EMF metrics per scan event; the repository goes in the line, never in a dimension. */
export class PowertoolsScanRecorder implements ScanRecorder {
  constructor(
    private readonly logger: Logger,
    private readonly metrics: Metrics,
  ) {}

  record(outcome: ScanEventOutcome): void {
    switch (outcome.kind) {
      case 'scanned': {
        const { repository, digest, tags, status, counts } = outcome;
        const attributes = { repository, digest, tags, status, findings: counts };
        // A warning, so that the line stands out where the critical-findings alarm sends the on-call.
        if (counts.critical > 0) this.logger.warn('image scanned', attributes);
        else this.logger.info('image scanned', attributes);
        this.metrics.addMetric(METRIC.imagesScanned, MetricUnit.Count, 1);
        this.metrics.addMetric(METRIC.scanCritical, MetricUnit.Count, counts.critical);
        this.metrics.addMetric(METRIC.scanHigh, MetricUnit.Count, counts.high);
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

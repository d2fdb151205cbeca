import { describe, expect, it } from 'vitest';
import { createTelemetry } from '../../../shared/wiring/telemetry.ts';
import { parseTargetBase } from '../../../shared/image-ref/target.ts';
import { formatReference } from '../../../shared/image-ref/reference.ts';
import { parsePlatform } from '../../../shared/oci/platform.ts';
import { METRIC, METRICS_NAMESPACE } from '../../../shared/observability/names.ts';
import { PowertoolsOutcomeRecorder } from '../../../shared/observability/powertools.ts';
import { describePinDrift } from '../../../shared/plan/pin-drift.ts';
import { runWorkerJob, type WorkerSettings } from '../../../shared/sync/worker-job.ts';
import { FakeCopier, FakeManifestRegistry } from '../../fakes/registry.ts';
import { captureJsonLines, emfMetrics } from '../../support/lambda.ts';

// The worker's outcome line and metrics for an image with notices: the real Powertools recorder, the registry a fake.

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const TAG = 'quay.io/app/one:1';
const TARGET = 'registry.example.com/mirror/quay.io/app/one:1';
const settings: WorkerSettings = { target: parseTargetBase('registry.example.com/mirror'), nameTemplate: '{registry}/{repository}', allowRegistries: [], platforms: [] };
type Directive = { Metrics: { Name: string }[] };

/** Runs the worker on one event with a real recorder, and returns the result, its log lines and its EMF documents. */
async function runWith(registry: FakeManifestRegistry, source: string, workerSettings: WorkerSettings = settings) {
  const { logger, metrics } = createTelemetry();
  const recorder = new PowertoolsOutcomeRecorder(logger, metrics);
  const copier = new FakeCopier((request) => registry.digests.set(formatReference(request.target), request.source.digest ?? ''));
  const { value, error, lines } = await captureJsonLines(async () => {
    const result = await runWorkerJob({ source }, { registry, copier, credentials: { credentialsFor: async () => undefined }, recorder }, workerSettings);
    metrics.publishStoredMetrics();
    return result;
  });
  expect(error).toBeUndefined();
  return { result: value, lines, emf: emfMetrics(lines) };
}

const names = (emf: Record<string, unknown>[]) => emf.flatMap((doc) => (doc._aws as { CloudWatchMetrics: Directive[] }).CloudWatchMetrics.flatMap((d) => d.Metrics.map((m) => m.Name)));

describe('runWorkerJob: notices on the outcome line and in the metrics', () => {
  it('logs the drift of a pin on the outcome line and counts PinsDrifted once', async () => {
    const registry = new FakeManifestRegistry();
    registry.digests.set(`${TAG}@${D1}`, D1);
    registry.digests.set(TAG, D2);
    const { result, lines, emf } = await runWith(registry, `${TAG}@${D1}`);
    const drift = { tag: TAG, pinned: D1, current: D2 };
    expect(result).toMatchObject({ status: 'copied', digest: D1, pinDrift: drift });
    expect(registry.digests.get(TARGET)).toBe(D1);

    const outcome = lines.filter((line) => line.message === 'image copied');
    expect(outcome).toHaveLength(1);
    expect(outcome[0]).toMatchObject({ level: 'INFO', source: `${TAG}@${D1}`, digest: D1, pinDrift: drift, notices: [describePinDrift(drift)] });

    expect(emf).toHaveLength(1);
    expect(emf[0]).toMatchObject({ [METRIC.pinsDrifted]: 1, [METRIC.copied]: 1 });
    expect((emf[0]?._aws as { CloudWatchMetrics: { Namespace: string }[] }).CloudWatchMetrics[0]?.Namespace).toBe(METRICS_NAMESPACE);

    // The next run finds the pin mirrored: skipped, and the drift said and counted again, for it is still true.
    const again = await runWith(registry, `${TAG}@${D1}`);
    expect(again.lines.find((line) => line.message === 'image skipped')).toMatchObject({ pinDrift: drift });
    expect(again.emf[0]).toMatchObject({ [METRIC.pinsDrifted]: 1, [METRIC.skipped]: 1 });
  });

  it('counts no PinsDrifted for a pin whose tag still names it, nor for an image not pinned', async () => {
    const registry = new FakeManifestRegistry();
    registry.digests.set(`${TAG}@${D1}`, D1);
    registry.digests.set(TAG, D1);
    for (const source of [`${TAG}@${D1}`, TAG]) {
      const { lines, emf } = await runWith(registry, source);
      const outcome = lines.find((line) => typeof line.message === 'string' && line.message.startsWith('image '));
      expect(outcome).toMatchObject({ source });
      expect(outcome).not.toHaveProperty('pinDrift');
      expect(outcome).not.toHaveProperty('notices');
      expect(names(emf)).not.toContain(METRIC.pinsDrifted);
    }
  });

  it('carries the platform notice of a single-platform image on the outcome line', async () => {
    const registry = new FakeManifestRegistry();
    registry.digests.set(TAG, D1);
    registry.mediaTypes.set(TAG, 'application/vnd.docker.distribution.manifest.v2+json');
    const { lines, emf } = await runWith(registry, TAG, { ...settings, platforms: [parsePlatform('linux/arm64')] });
    expect(lines.find((line) => line.message === 'image copied')).toMatchObject({
      notices: ['single-platform image: copied whole; the platforms asked (linux/arm64) apply to multi-platform indexes only'],
    });
    expect(names(emf)).not.toContain(METRIC.pinsDrifted);
  });
});

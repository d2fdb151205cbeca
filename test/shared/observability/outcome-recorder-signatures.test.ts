import { describe, expect, it } from 'vitest';
import { METRIC } from '../../../shared/observability/names.ts';
import { PowertoolsOutcomeRecorder } from '../../../shared/observability/powertools.ts';
import type { MirrorResult } from '../../../shared/ports.ts';
import { createTelemetry } from '../../../shared/wiring/telemetry.ts';
import { captureJsonLines, emfMetrics } from '../../support/lambda.ts';

// The worker's outcome line and metrics for images a signature policy covers: the real Powertools recorder.

const D1 = `sha256:${'1'.repeat(64)}`;
const base: MirrorResult = {
  file: 'ghcr.io/acme/app/Dockerfile',
  files: ['ghcr.io/acme/app/Dockerfile'],
  source: 'ghcr.io/acme/app:1',
  target: 'registry.example.com/mirror/ghcr.io/acme/app:1',
  status: 'copied',
  digest: D1,
  error: null,
  durationMs: 12,
};

async function record(result: MirrorResult) {
  const { logger, metrics } = createTelemetry();
  const recorder = new PowertoolsOutcomeRecorder(logger, metrics);
  const { lines, error } = await captureJsonLines(async () => {
    recorder.record(result, { number: 1, of: 3 });
    metrics.publishStoredMetrics();
  });
  expect(error).toBeUndefined();
  const outcome = lines.find((line) => typeof line.message === 'string' && line.message.startsWith('image '));
  return { outcome, metrics: emfMetrics(lines)[0] ?? {} };
}

describe('PowertoolsOutcomeRecorder: signatures', () => {
  it('counts an image the policy refused as ImagesUnverified and ImagesFailed, with reason unverified on its line', async () => {
    const error = 'verifying "ghcr.io/acme/app:1": no signature found (rule "acme", by key keys/acme.pub)';
    const { outcome, metrics } = await record({ ...base, status: 'failed', error, retryable: false, reason: 'unverified' });
    expect(outcome).toMatchObject({ level: 'ERROR', message: 'image failed', source: 'ghcr.io/acme/app:1', reason: 'unverified', error, retryable: false });
    expect(metrics).toMatchObject({ [METRIC.unverified]: 1, [METRIC.failed]: 1 });
  });

  it('counts no ImagesUnverified for a failure of another kind', async () => {
    const { outcome, metrics } = await record({ ...base, status: 'failed', error: 'copying: 500', retryable: true });
    expect(outcome).toMatchObject({ message: 'image failed' });
    expect(outcome).not.toHaveProperty('reason');
    expect(metrics).toMatchObject({ [METRIC.failed]: 1 });
    expect(metrics).not.toHaveProperty(METRIC.unverified);
  });

  it('says how a copied image was verified and which artifacts came with it', async () => {
    const verified = { rule: 'acme', by: 'key', identity: 'keys/acme.pub', signature: 'cosign-tag' } as const;
    const { outcome, metrics } = await record({ ...base, verified, artifacts: { copied: 2, present: 1 } });
    expect(outcome).toMatchObject({ level: 'INFO', message: 'image copied', verified, artifacts: { copied: 2, present: 1 } });
    expect(metrics).toMatchObject({ [METRIC.copied]: 1 });
    expect(metrics).not.toHaveProperty(METRIC.unverified);
  });

  it('says the same of an unchanged image', async () => {
    const verified = { rule: 'distroless', by: 'keyless', identity: 'keyless@distroless.iam.gserviceaccount.com (https://accounts.google.com)', signature: 'referrer' } as const;
    const { outcome } = await record({ ...base, status: 'skipped', verified, artifacts: { copied: 0, present: 3 } });
    expect(outcome).toMatchObject({ message: 'image skipped', verified, artifacts: { copied: 0, present: 3 } });
  });

  it('adds neither field for an image no rule covers and with no artifacts', async () => {
    const { outcome } = await record(base);
    expect(outcome).toMatchObject({ message: 'image copied' });
    expect(outcome).not.toHaveProperty('verified');
    expect(outcome).not.toHaveProperty('artifacts');
  });
});

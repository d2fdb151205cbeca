import { afterAll, describe, expect, it, vi } from 'vitest';
import { METRIC, METRICS_NAMESPACE, SERVICE_NAME } from '../../../shared/observability/names.ts';
import type { ScanEventOutcome } from '../../../shared/ports.ts';
import { documentedScanEvent, mirroredScanEvent } from '../../fixtures/ecr-image-scan-event.ts';
import { captureJsonLines, emfMetrics, lambdaContext } from '../../support/lambda.ts';

// The real handler, middy and Powertools included. Without GITHUB_REPOSITORY no sign-offs are configured: it makes no
// call (the event carries the counts, all of them unaccepted), so no stack. test/e2e/findings.stack.test.ts judges them.

type Handler = (event: unknown, context: unknown) => Promise<ScanEventOutcome>;
type Directive = { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] };

describe('findings handler', () => {
  const saved = { ...process.env };

  async function loadHandler(env: Record<string, string>): Promise<Handler> {
    vi.resetModules();
    process.env = { ...saved, ...env };
    return (await import('../../../functions/findings/handler.ts')).handler as unknown as Handler;
  }

  afterAll(() => {
    process.env = saved;
  });

  const directiveOf = (emf: Record<string, unknown> | undefined) => (emf?._aws as { CloudWatchMetrics: Directive[] }).CloudWatchMetrics[0];

  it('writes one warning line with the counts and EMF metrics for a mirrored image with critical findings, all unaccepted without sign-offs configured', async () => {
    const handler = await loadHandler({ TARGET_PREFIX: 'mirror' });
    const { value, error, lines } = await captureJsonLines(() => handler(mirroredScanEvent('mirror'), lambdaContext('findings')));
    expect(error).toBeUndefined();
    expect(value).toMatchObject({ kind: 'scanned', repository: 'mirror/docker.io/library/postgres' });

    const scanned = lines.filter((line) => line.message === 'image scanned');
    expect(scanned).toHaveLength(1);
    expect(scanned[0]).toMatchObject({
      level: 'WARN',
      service: SERVICE_NAME,
      repository: 'mirror/docker.io/library/postgres',
      digest: documentedScanEvent.detail['image-digest'],
      tags: ['14'],
      status: 'COMPLETE',
      findings: { critical: 10, high: 0, medium: 9, low: 0, informational: 0, undefined: 0 },
      acceptance: { unacceptedCritical: 10, unacceptedHigh: 0, unaccepted: [], signedOff: 0, expired: 0, signOffFiles: [], dockerfiles: [], problems: [expect.stringContaining('sign-offs are not configured')] },
    });

    const emf = emfMetrics(lines);
    expect(emf).toHaveLength(1);
    expect(emf[0]).toMatchObject({ service: SERVICE_NAME, [METRIC.imagesScanned]: 1, [METRIC.scanCritical]: 10, [METRIC.scanHigh]: 0, [METRIC.unacceptedCritical]: 10, [METRIC.unacceptedHigh]: 0 });
    // The repository is in the log line only: as a dimension it would make one metric per repository.
    expect(emf[0]).not.toHaveProperty('repository');
    const directive = directiveOf(emf[0]);
    expect(directive?.Namespace).toBe(METRICS_NAMESPACE);
    expect(directive?.Dimensions).toEqual([['service']]);
    expect(directive?.Metrics.map((m) => m.Name).sort()).toEqual([METRIC.imagesScanned, METRIC.scanCritical, METRIC.scanHigh, METRIC.unacceptedCritical, METRIC.unacceptedHigh].sort());
  });

  it('logs at info level when the image has no critical finding', async () => {
    const handler = await loadHandler({ TARGET_PREFIX: 'mirror' });
    const event = mirroredScanEvent('mirror', { 'finding-severity-counts': { HIGH: 3, LOW: 1 } });
    const { lines } = await captureJsonLines(() => handler(event, lambdaContext('findings')));
    expect(lines.find((line) => line.message === 'image scanned')).toMatchObject({ level: 'INFO', findings: { critical: 0, high: 3, low: 1 }, acceptance: { unacceptedCritical: 0, unacceptedHigh: 3 } });
    expect(emfMetrics(lines)[0]).toMatchObject({ [METRIC.scanCritical]: 0, [METRIC.scanHigh]: 3, [METRIC.imagesScanned]: 1, [METRIC.unacceptedCritical]: 0, [METRIC.unacceptedHigh]: 3 });
  });

  it('warns about and counts a FAILED scan', async () => {
    const handler = await loadHandler({ TARGET_PREFIX: 'mirror' });
    const { lines } = await captureJsonLines(() => handler(mirroredScanEvent('mirror', { 'scan-status': 'FAILED' }), lambdaContext('findings')));
    expect(lines.find((line) => line.message === 'image scan failed')).toMatchObject({ level: 'WARN', repository: 'mirror/docker.io/library/postgres', status: 'FAILED' });
    const [emf] = emfMetrics(lines);
    expect(emf).toMatchObject({ [METRIC.scanFailures]: 1 });
    expect(emf).not.toHaveProperty(METRIC.scanCritical);
  });

  it('counts an image ECR could not scan apart from failures', async () => {
    const handler = await loadHandler({ TARGET_PREFIX: 'mirror' });
    const { lines } = await captureJsonLines(() => handler(mirroredScanEvent('mirror', { 'scan-status': 'UNSUPPORTED_IMAGE' }), lambdaContext('findings')));
    expect(lines.find((line) => line.message === 'image not scanned')).toMatchObject({ level: 'INFO', status: 'UNSUPPORTED_IMAGE' });
    expect(emfMetrics(lines)[0]).toMatchObject({ [METRIC.imagesNotScanned]: 1 });
    expect(emfMetrics(lines)[0]).not.toHaveProperty(METRIC.scanFailures);
  });

  it('ignores the documented event, whose repository is outside the prefix: no scan line, no finding metric', async () => {
    const handler = await loadHandler({ TARGET_PREFIX: 'mirror' });
    const { value, lines } = await captureJsonLines(() => handler(documentedScanEvent, lambdaContext('findings')));
    expect(value).toMatchObject({ kind: 'ignored', repository: 'my-repository-name' });
    expect(lines.find((line) => line.message === 'scan event ignored')).toMatchObject({ level: 'INFO', repository: 'my-repository-name' });
    expect(lines.find((line) => line.message === 'image scanned')).toBeUndefined();
    for (const emf of emfMetrics(lines)) for (const name of [METRIC.imagesScanned, METRIC.scanCritical, METRIC.scanHigh, METRIC.unacceptedCritical]) expect(emf).not.toHaveProperty(name);
  });

  it('logs and counts an unreadable scan event without throwing (a retry would not help)', async () => {
    const handler = await loadHandler({ TARGET_PREFIX: 'mirror' });
    const { value, error, lines } = await captureJsonLines(() => handler(mirroredScanEvent('mirror', { 'finding-severity-counts': { CRITICAL: 'many' } }), lambdaContext('findings')));
    expect(error).toBeUndefined();
    expect(value).toMatchObject({ kind: 'invalid' });
    expect(lines.find((line) => line.message === 'invalid scan event')).toMatchObject({ level: 'ERROR', error: expect.stringContaining('the CRITICAL count must be a whole number') });
    expect(emfMetrics(lines)[0]).toMatchObject({ [METRIC.invalidScanEvents]: 1 });
  });

  it('fails the cold start without a TARGET_PREFIX', async () => {
    await expect(loadHandler({ TARGET_PREFIX: '' })).rejects.toThrow('invalid findings configuration: TARGET_PREFIX is required');
  });

  it('fails the cold start on a bad images repository or name template, naming both', async () => {
    const loading = loadHandler({ TARGET_PREFIX: 'mirror', GITHUB_REPOSITORY: 'not a repository', NAME_TEMPLATE: '{registry}/{image}' });
    await expect(loading).rejects.toThrow(/NAME_TEMPLATE: invalid name template "\{registry\}\/\{image\}": unknown placeholder \{image\}/);
    await expect(loading).rejects.toThrow('GITHUB_REPOSITORY: expected owner/name, got "not a repository"');
  });
});

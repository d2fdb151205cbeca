import { describe, expect, it } from 'vitest';
import { METRIC } from '../../../shared/observability/names.ts';
import { PowertoolsScanRecorder } from '../../../shared/observability/scan-recorder.ts';
import type { Acceptance, ScanEventOutcome, UnacceptedFinding } from '../../../shared/ports.ts';
import { createTelemetry } from '../../../shared/wiring/telemetry.ts';
import { captureJsonLines, emfMetrics } from '../../support/lambda.ts';

// The real Powertools logger and metrics, flushed as the middleware would; the lines as CloudWatch would get them.

const counts = { critical: 60, high: 2, medium: 0, low: 0, informational: 0, undefined: 0 };
const image = { repository: 'mirror/docker.io/library/postgres', digest: `sha256:${'3'.repeat(64)}`, tags: ['14'], status: 'COMPLETE' };

function acceptance(overrides: Partial<Acceptance> = {}): Acceptance {
  return { unacceptedCritical: 0, unacceptedHigh: 0, unaccepted: [], signedOff: 0, expired: 0, signOffFiles: [], signOffUrls: [], dockerfiles: [], problems: [], ...overrides };
}

async function record(outcome: ScanEventOutcome) {
  const { logger, metrics } = createTelemetry();
  const { lines } = await captureJsonLines(async () => {
    new PowertoolsScanRecorder(logger, metrics).record(outcome);
    metrics.publishStoredMetrics();
  });
  return { line: lines.find((entry) => entry.message === 'image scanned'), metrics: emfMetrics(lines)[0] };
}

describe('PowertoolsScanRecorder', () => {
  it('names at most 50 unaccepted findings and problems in the line, counting the rest', async () => {
    const unaccepted: UnacceptedFinding[] = Array.from({ length: 62 }, (_, i) => ({ id: `CVE-2024-${1000 + i}`, severity: i < 60 ? 'CRITICAL' : 'HIGH', pkgName: 'openssl', status: 'not-signed-off' }));
    const problems = Array.from({ length: 55 }, (_, i) => `line ${i + 2}: CVE-2024-${i} has no statement`);
    const { line, metrics } = await record({ kind: 'scanned', ...image, counts, acceptance: acceptance({ unacceptedCritical: 60, unacceptedHigh: 2, unaccepted, problems }) });
    const logged = line?.acceptance as Record<string, unknown>;
    expect(line?.level).toBe('WARN');
    expect(logged.unaccepted).toEqual(unaccepted.slice(0, 50).map((finding) => `${finding.id} ${finding.severity} openssl not signed off`));
    expect(logged).toMatchObject({ unacceptedNotListed: 12, problemsNotListed: 5, unacceptedCritical: 60, unacceptedHigh: 2 });
    expect(logged.problems).toHaveLength(50);
    expect(metrics).toMatchObject({ [METRIC.unacceptedCritical]: 60, [METRIC.unacceptedHigh]: 2, [METRIC.scanCritical]: 60 });
  });

  it('keeps the counts, the error and the first finding and sign-off file within the 200 fields Logs Insights extracts, however many findings and problems', async () => {
    const unaccepted: UnacceptedFinding[] = Array.from({ length: 80 }, (_, i) => ({ id: `CVE-2024-${1000 + i}`, severity: 'CRITICAL', pkgName: 'libssl3', status: i === 0 ? 'expired' : 'not-signed-off' }));
    const problems = Array.from({ length: 80 }, (_, i) => `line ${i + 2}: CVE-2024-${i} has no statement`);
    const signOffFiles = ['images/docker.io/library/postgres/.trivyignore.yaml'];
    const error = 'judging the findings: gave up after 45 s (GitHub or ECR too slow); every critical and high finding counts';
    const { line } = await record({ kind: 'scanned', ...image, counts, acceptance: acceptance({ unacceptedCritical: 80, unaccepted, problems, signOffFiles, dockerfiles: ['docker.io/library/postgres/Dockerfile'], error }) });
    const fields = leafFields(line);
    const first200 = fields.slice(0, 200);
    for (const field of ['acceptance.unacceptedCritical', 'acceptance.error', 'acceptance.unacceptedNotListed', 'acceptance.unaccepted.0', 'acceptance.signOffFiles.0']) expect(first200, field).toContain(field);
    // Each finding is one field: the line stays under the limit even with every list at its cap.
    expect(fields.length).toBeLessThanOrEqual(200);
    expect(line?.acceptance).toMatchObject({ error, unacceptedNotListed: 30, unaccepted: expect.arrayContaining(['CVE-2024-1000 CRITICAL libssl3 sign-off expired', 'CVE-2024-1001 CRITICAL libssl3 not signed off']) });
  });

  it('logs at info level when every critical finding is signed off, however many there are, with the links to the file', async () => {
    const urls = ['https://github.com/octo/images/blob/HEAD/images/docker.io/library/postgres/.trivyignore.yaml'];
    const { line, metrics } = await record({ kind: 'scanned', ...image, counts, acceptance: acceptance({ unacceptedHigh: 2, signedOff: 60, signOffUrls: urls }) });
    expect(line).toMatchObject({ level: 'INFO', acceptance: { unacceptedCritical: 0, signedOff: 60, signOffUrls: urls } });
    expect(line?.acceptance).not.toHaveProperty('unacceptedNotListed');
    expect(line?.acceptance).not.toHaveProperty('error');
    expect(metrics).toMatchObject({ [METRIC.unacceptedCritical]: 0, [METRIC.unacceptedHigh]: 2, [METRIC.scanCritical]: 60 });
  });

  it('counts the raw findings as unaccepted for an outcome that was never judged', async () => {
    const { line, metrics } = await record({ kind: 'scanned', ...image, counts });
    expect(line).toMatchObject({ level: 'WARN' });
    expect(line).not.toHaveProperty('acceptance');
    expect(metrics).toMatchObject({ [METRIC.unacceptedCritical]: 60, [METRIC.unacceptedHigh]: 2 });
  });
});

/** The fields CloudWatch Logs Insights discovers in a JSON line, in order: one per leaf, arrays by index (`tags.0`). */
function leafFields(value: unknown, prefix = ''): string[] {
  if (value === null || typeof value !== 'object') return prefix === '' ? [] : [prefix];
  return Object.entries(value).flatMap(([key, child]) => leafFields(child, prefix === '' ? key : `${prefix}.${key}`));
}

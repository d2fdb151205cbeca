import { describe, expect, it } from 'vitest';
import { renderReport, summaryLine } from '../../../functions/cli/render.ts';
import { renderReportMarkdown } from '../../../functions/cli/render-markdown.ts';
import type { Report, ReportSummary } from '../../../shared/plan/report.ts';
import type { MirrorResult } from '../../../shared/ports.ts';

const D = (n: number) => `sha256:${String(n).repeat(64).slice(0, 64)}`;

function result(source: string, fields: Partial<MirrorResult>): MirrorResult {
  return { file: `${source}/Dockerfile`, files: [`${source}/Dockerfile`], source, target: null, status: 'planned', digest: null, error: null, ...fields };
}

function report(results: readonly MirrorResult[], counts: Partial<ReportSummary> = {}): Report {
  const summary: ReportSummary = { planned: results.length, copied: 0, skipped: 0, failed: 0, interrupted: 0, deferred: 0, pulls: 0, invalid: 0, wouldCopy: 0, wouldSkip: 0, ...counts };
  return { results, errors: [], warnings: [], summary };
}

const KEYLESS = 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main (https://token.actions.githubusercontent.com)';

const synced = report(
  [
    result('ghcr.io/acme/app:1', { status: 'copied', target: 'r.example.com/m/ghcr.io/acme/app:1', digest: D(1), verified: { rule: 'acme', by: 'key', identity: 'keys/acme.pub', signature: 'cosign-tag' }, artifacts: { copied: 2, present: 0 } }),
    result('ghcr.io/acme/tool:2', { status: 'skipped', target: 'r.example.com/m/ghcr.io/acme/tool:2', digest: D(2), verified: { rule: 'vendor', by: 'keyless', identity: KEYLESS, signature: 'referrer' }, artifacts: { copied: 0, present: 1 } }),
    result('ghcr.io/acme/forged:3', {
      status: 'failed',
      target: 'r.example.com/m/ghcr.io/acme/forged:3',
      digest: D(3),
      reason: 'unverified',
      error: 'verifying "ghcr.io/acme/forged:3" by rule "acme": the signature does not verify with the key keys/acme.pub',
      retryable: false,
    }),
    result('docker.io/library/redis:7', { status: 'copied', target: 'r.example.com/m/docker.io/library/redis:7', digest: D(4) }),
  ],
  { copied: 2, skipped: 1, failed: 1 },
);

describe('a sync report with signatures', () => {
  const text = renderReport(synced, 'sync');

  it('says how each covered image was verified and what travelled with it', () => {
    expect(text).toContain(['Signatures:', '  ghcr.io/acme/app:1: verified by key keys/acme.pub; +2 artifacts', `  ghcr.io/acme/tool:2: verified keyless ${KEYLESS}; 1 artifact already there`].join('\n'));
    expect(text).not.toContain('docker.io/library/redis:7: verified');
  });

  it('marks a refused image as failed (unverified), in the table and with its reason', () => {
    expect(text).toMatch(/\nfailed \(unverified\)\s+ghcr\.io\/acme\/forged:3/);
    expect(text).toContain('  ghcr.io/acme/forged:3 (ghcr.io/acme/forged:3/Dockerfile)\n    failed (unverified): verifying "ghcr.io/acme/forged:3" by rule "acme": the signature does not verify with the key keys/acme.pub');
  });

  it('counts the unverified images in the summary line', () => {
    expect(summaryLine(synced, 'sync')).toBe('4 images planned: 2 copied, 1 skipped, 1 failed (1 unverified); 0 invalid files');
  });

  it('says nothing of signatures for a run without any', () => {
    const plain = report([result('docker.io/library/redis:7', { status: 'copied', digest: D(4) })], { copied: 1 });

    expect(renderReport(plain, 'sync')).not.toContain('Signatures');
    expect(summaryLine(plain, 'sync')).toBe('1 image planned: 1 copied, 0 skipped, 0 failed; 0 invalid files');
  });

  it('shows the same in markdown: a signatures column, the refusal in bold and in the failed list', () => {
    const markdown = renderReportMarkdown(synced, 'sync');

    expect(markdown).toContain('| status | source | target | digest | signatures | file |');
    expect(markdown).toContain('| verified by key keys/acme.pub; +2 artifacts |');
    expect(markdown).toContain('| **failed (unverified)** | `ghcr.io/acme/forged:3` |');
    expect(markdown).toContain('- `ghcr.io/acme/forged:3` (`ghcr.io/acme/forged:3/Dockerfile`): failed (unverified): verifying');
    expect(markdown).toContain('2 copied, 1 skipped, 1 failed (1 unverified)');
  });
});

describe('a plan report with a signature policy', () => {
  const planned = report([
    result('ghcr.io/acme/app:1', { rule: { name: 'acme', by: 'key' } }),
    result('gcr.io/distroless/static:nonroot', { rule: { name: 'distroless', by: 'keyless' } }),
    result('docker.io/library/redis:7', {}),
  ]);

  it('names the rule that applies to each covered image and counts them', () => {
    const text = renderReport(planned, 'plan');

    expect(text).toContain(
      [
        'Signature policy: 2 of 3 images covered; the other one matches no rule and is mirrored without verification',
        '  ghcr.io/acme/app:1  policy: rule acme (key)',
        '  gcr.io/distroless/static:nonroot  policy: rule distroless (keyless)',
      ].join('\n'),
    );
    expect(summaryLine(planned, 'plan')).toBe('3 images planned, 2 covered by the signature policy; 0 invalid files');
  });

  it('gives markdown a policy column, "no rule" for the others', () => {
    const markdown = renderReportMarkdown(planned, 'plan');

    expect(markdown).toContain('| status | source | policy | file |');
    expect(markdown).toContain('| planned | `ghcr.io/acme/app:1` | rule acme (key) |');
    expect(markdown).toContain('| planned | `docker.io/library/redis:7` | no rule |');
  });

  it('says nothing of a policy when no image is covered', () => {
    const plain = report([result('docker.io/library/redis:7', {})]);

    expect(renderReport(plain, 'plan')).not.toContain('Signature policy');
    expect(renderReportMarkdown(plain, 'plan')).not.toContain('policy');
  });
});

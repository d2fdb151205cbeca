import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderReport } from '../../../functions/cli/render.ts';
import { renderReportMarkdown } from '../../../functions/cli/render-markdown.ts';
import type { Report, ReportSummary } from '../../../shared/plan/report.ts';
import type { MirrorResult } from '../../../shared/ports.ts';
import { runCli, writeImagesTree } from '../../support/cli.ts';

// Rule names and key paths come from the policy file, a keyless identity from a signature's certificate: printed, they
// are escaped as file names and errors are, so that none can rewrite the terminal or forge a line of the report.

const ESC = '\u001b';

function result(source: string, fields: Partial<MirrorResult>): MirrorResult {
  return { file: `${source}/Dockerfile`, files: [`${source}/Dockerfile`], source, target: null, status: 'planned', digest: null, error: null, ...fields };
}

function report(results: readonly MirrorResult[]): Report {
  const summary: ReportSummary = { planned: results.length, copied: results.length, skipped: 0, failed: 0, interrupted: 0, deferred: 0, pulls: 0, invalid: 0, wouldCopy: 0, wouldSkip: 0 };
  return { results, errors: [], warnings: [], summary };
}

describe('policy text in a report', () => {
  const planned = report([result('ghcr.io/acme/app:1', { rule: { name: `acme${ESC}[2J\nfailed: everything`, by: 'key' } })]);
  const synced = report([
    result('ghcr.io/acme/app:1', { status: 'copied', digest: `sha256:${'1'.repeat(64)}`, verified: { rule: 'acme', by: 'key', identity: `keys/acme.pub\n  ghcr.io/evil:1: verified by key ok`, signature: 'cosign-tag' } }),
    result('ghcr.io/acme/tool:2', { status: 'copied', digest: `sha256:${'2'.repeat(64)}`, verified: { rule: 'vendor', by: 'keyless', identity: `ci${ESC}]8;;https://evil.example${ESC}\\ (issuer)`, signature: 'referrer' } }),
  ]);

  it.each([
    ['a plan, as text', () => renderReport(planned, 'plan')],
    ['a sync, as text', () => renderReport(synced, 'sync')],
    ['a plan, as markdown', () => renderReportMarkdown(planned, 'plan')],
    ['a sync, as markdown', () => renderReportMarkdown(synced, 'sync')],
  ])('escapes terminal escapes and line breaks in %s', (_, render) => {
    const out = render();
    expect(out).not.toContain(ESC);
    expect(out).not.toMatch(/\n\s*failed: everything/);
    expect(out).not.toMatch(/\n\s*ghcr\.io\/evil:1/);
  });

  it('keeps a plain rule name and key path as they are', () => {
    const out = renderReport(report([result('ghcr.io/acme/app:1', { status: 'copied', verified: { rule: 'acme', by: 'key', identity: 'keys/acme.pub', signature: 'cosign-tag' } })]), 'sync');
    expect(out).toContain('ghcr.io/acme/app:1: verified by key keys/acme.pub');
  });
});

describe('--policy naming no file', () => {
  it('quotes the name it was given as other usage errors do', async () => {
    const images = await writeImagesTree({ 'docker.io/library/postgres/Dockerfile': 'FROM postgres:16\n' });
    const named = join(images, 'a "quoted" name.yaml');
    const run = await runCli(['plan', '--images', images, '--policy', named]);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(`mirror: --policy: "${named.replaceAll('"', '\\"')}" is not a file\n`);
  });
});

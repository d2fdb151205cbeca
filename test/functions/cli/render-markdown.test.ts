import { describe, expect, it } from 'vitest';
import { renderOrphansMarkdown, renderReportMarkdown } from '../../../functions/cli/render-markdown.ts';
import { parseImageReference } from '../../../shared/image-ref/reference.ts';
import { parseTargetBase, targetFor } from '../../../shared/image-ref/target.ts';
import { describePinDrift } from '../../../shared/plan/pin-drift.ts';
import type { MirrorJob } from '../../../shared/plan/plan.ts';
import { buildReport, type JobOutcome, resultOf } from '../../../shared/plan/report.ts';
import type { FileIssue } from '../../../shared/ports.ts';
import type { OrphanReport } from '../../../shared/sync/orphans.ts';

const target = parseTargetBase('123456789012.dkr.ecr.eu-west-1.amazonaws.com/mirror');
const A = `sha256:${'a'.repeat(64)}`;
const B = `sha256:${'b'.repeat(64)}`;

function jobOf(reference: string, file = `${reference.replace(/[:@].*$/, '')}/Dockerfile`): MirrorJob {
  const source = parseImageReference(reference);
  return { source, target: targetFor(source, target), files: [file] };
}

function report(entries: [string, JobOutcome][], errors: FileIssue[] = [], warnings: FileIssue[] = []) {
  const jobs = entries.map(([reference]) => jobOf(reference));
  return buildReport({ jobs, errors, warnings }, jobs.map((job, i) => resultOf(job, entries[i]![1])));
}

describe('renderReportMarkdown', () => {
  const drift = { tag: 'docker.io/library/postgres:14', pinned: A, current: B };
  const sync = report(
    [
      ['quay.io/app/copied:1', { status: 'copied', digest: A, replaced: B }],
      ['quay.io/app/skipped:1', { status: 'skipped', digest: A, repository: { repaired: ['scan on push'], warnings: ['encryption is AES256, configured KMS key k'] } }],
      ['quay.io/app/failed:1', { status: 'failed', error: new Error('crane copy failed: <b>denied</b> | see @octo-team') }],
      ['quay.io/app/deferred:1', { status: 'deferred', error: new Error('docker.io has 3 pulls left, 20 kept in reserve') }],
      [`docker.io/library/postgres:14@${A}`, { status: 'skipped', digest: A, pinDrift: drift, notices: [describePinDrift(drift)] }],
      [`docker.io/library/redis:7@${A}`, { status: 'skipped', digest: A, pinDrift: { tag: 'docker.io/library/redis:7', pinned: A, current: null } }],
    ],
    [{ file: 'quay.io/bad/Dockerfile', message: 'line 1: invalid image reference "<script>"' }],
    [{ file: 'quay.io/warn/Dockerfile', message: 'the directory names another image' }],
  );
  const text = renderReportMarkdown(sync, 'sync');

  it('opens with a heading and the counts, in the words of the text summary', () => {
    expect(text).toMatch(/^### Mirror sync\n\n6 images planned: 1 copied, 3 skipped, 1 failed, 1 deferred; 1 invalid file\.\n/);
  });

  it('has a row per image with status, source, target, short digest and file', () => {
    expect(text.match(/^\| (copied|skipped|\*\*failed\*\*|deferred) \|/gm)).toHaveLength(6);
    expect(text).toContain(
      '| copied | `quay.io/app/copied:1` | `123456789012.dkr.ecr.eu-west-1.amazonaws.com/mirror/quay.io/app/copied:1` | `sha256:aaaaaaaaaaaa…` | `quay.io/app/copied/Dockerfile` |',
    );
  });

  it('lists the failed and the deferred images apart, with their errors escaped', () => {
    expect(text).toContain('#### Failed or interrupted images: 1\n\n- `quay.io/app/failed:1` (`quay.io/app/failed/Dockerfile`): crane copy failed: &lt;b&gt;denied&lt;/b&gt; \\| see @\u200bocto-team\n');
    expect(text).toContain('#### Deferred images (the next run copies them; nothing failed): 1\n\n- `quay.io/app/deferred:1`');
    expect(text).not.toMatch(/<b>|@octo-team/);
  });

  it('lists invalid files and warnings in tables, escaped', () => {
    expect(text).toContain('#### Invalid files (nothing mirrored from them): 1\n\n| file | error |\n| --- | --- |\n| `quay.io/bad/Dockerfile` | line 1: invalid image reference "&lt;script&gt;" |');
    expect(text).toContain('#### Warnings: 1\n\n| file | warning |\n| --- | --- |\n| `quay.io/warn/Dockerfile` | the directory names another image |');
  });

  it('says each notice once: a pin drift, a tag overwritten, repository settings', () => {
    const notices = text.slice(text.indexOf('#### Notices'));
    expect(notices.match(/now names sha256:b/g)).toHaveLength(1);
    expect(notices).toContain(`- \`docker.io/library/postgres:14@${A}\`: tag docker.io/library/postgres:14 now names ${B}`);
    // A result that carries the drift without its notice still has it said.
    expect(notices).toContain(`- \`docker.io/library/redis:7@${A}\`: tag docker.io/library/redis:7 no longer exists upstream`);
    expect(notices).toContain(`- \`quay.io/app/copied:1\`: the target tag held another image, ${B}, now overwritten`);
    expect(notices).toContain('- `quay.io/app/skipped:1`: repository settings put back: scan on push');
    expect(notices).toContain('- `quay.io/app/skipped:1`: repository: encryption is AES256, configured KMS key k');
  });

  it('counts a dry run as such, its failures too, and a plan without outcomes', () => {
    const dry = renderReportMarkdown(report([['quay.io/a:1', { status: 'would-copy' }], ['quay.io/b:1', { status: 'would-skip' }], ['quay.io/c:1', { status: 'failed', error: new Error('no such image') }]]), 'dry-run');
    expect(dry).toMatch(/^### Mirror sync \(dry run\)\n\n3 images planned: 1 would copy, 1 would skip, 1 failed; 0 invalid files\.\n/);
    const allFailed = renderReportMarkdown(report([['quay.io/c:1', { status: 'failed', error: new Error('no such image') }]]), 'dry-run');
    expect(allFailed).toMatch(/^### Mirror sync \(dry run\)\n\n1 image planned: 0 would copy, 0 would skip, 1 failed; 0 invalid files\.\n/);
    const plan = renderReportMarkdown(report([['quay.io/a:1', { status: 'planned' }]]), 'plan');
    expect(plan).toMatch(/^### Mirror plan\n\n1 image planned; 0 invalid files\.\n/);
    expect(plan).not.toContain('####');
  });

  it('leaves out a column no image has a value in', () => {
    const jobs = [{ source: parseImageReference('quay.io/a:1'), files: ['quay.io/a/Dockerfile'] }];
    const plain = renderReportMarkdown(buildReport({ jobs, errors: [], warnings: [] }, jobs.map((job) => resultOf(job, { status: 'planned' }))), 'plan');
    expect(plain).toContain('| status | source | file |\n| --- | --- | --- |\n| planned | `quay.io/a:1` | `quay.io/a/Dockerfile` |');
  });

  it('cuts a table past a thousand rows, saying how many more the JSON has', () => {
    const many = report(Array.from({ length: 1002 }, (_, i): [string, JobOutcome] => [`quay.io/app/n${i}:1`, { status: 'planned' }]));
    const text = renderReportMarkdown(many, 'plan');
    expect(text.match(/^\| planned \|/gm)).toHaveLength(1000);
    expect(text).toContain('| … and 2 more (see `--format json`) | | | |');
  });
});

describe('renderOrphansMarkdown', () => {
  const orphan = (name: string, source?: string) => ({ name, ...(source === undefined ? {} : { source }) });
  const base: OrphanReport = { orphans: [], checked: 4, spared: [], invalid: 0, foreign: 0, unattributed: [], notAllowed: [] };

  it('lists the orphans with their source, and what was left out', () => {
    const text = renderOrphansMarkdown(
      { ...base, orphans: [orphan('mirror/docker.io/library/old', 'docker.io/library/old:1|<i>')], spared: [orphan('mirror/quay.io/x', 'quay.io/x:1')], foreign: 1, unattributed: [orphan('mirror/y')] },
      target,
    );
    expect(text).toMatch(/^### Mirror orphans\n\n\*\*1\*\* of 4 repositories under `123456789012\.dkr\.ecr\.eu-west-1\.amazonaws\.com\/mirror` are orphaned/);
    expect(text).toContain('| `mirror/docker.io/library/old` | `docker.io/library/old:1\\|<i>` |');
    expect(text).toContain("Not listed, as an invalid Dockerfile sits in their source's directory: 1.");
    expect(text).toContain("Left out as another configuration's: 1.");
    expect(text).toContain('| `mirror/y` | – |');
  });

  it('says when there is none, and warns of a target without prefix', () => {
    expect(renderOrphansMarkdown(base, target)).toContain('No orphaned repositories under `123456789012.dkr.ecr.eu-west-1.amazonaws.com/mirror` (4 checked).');
    expect(renderOrphansMarkdown(base, parseTargetBase('123456789012.dkr.ecr.eu-west-1.amazonaws.com'))).toMatch(/^### Mirror orphans\n\n> Warning: the target has no prefix/);
  });
});

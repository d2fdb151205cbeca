import { describe, expect, it } from 'vitest';
import { main } from '../../../functions/cli/main.ts';
import { renderOrphans } from '../../../functions/cli/render-orphans.ts';
import { cutMiddle, outputWidth, type ReportKind, renderReport } from '../../../functions/cli/render.ts';
import { parseImageReference } from '../../../shared/image-ref/reference.ts';
import { parseTargetBase, targetFor } from '../../../shared/image-ref/target.ts';
import type { MirrorJob } from '../../../shared/plan/plan.ts';
import { buildReport, type JobOutcome, planReport, resultOf } from '../../../shared/plan/report.ts';
import type { FileIssue, MirrorResult, RepositoryNote } from '../../../shared/ports.ts';
import { writeImagesTree } from '../../support/cli.ts';
import type { OrphanReport } from '../../../shared/sync/orphans.ts';

const target = parseTargetBase('123456789012.dkr.ecr.eu-west-1.amazonaws.com/mirror');
const D = `sha256:${'a'.repeat(64)}`;

function reportWith(...notes: RepositoryNote[]) {
  const jobs: MirrorJob[] = notes.map((_, i) => {
    const source = parseImageReference(`quay.io/app${i}:1`);
    return { source, target: targetFor(source, target), files: [`quay.io/app${i}/Dockerfile`] };
  });
  const results = jobs.map((job, i) => resultOf(job, { status: 'skipped', digest: D, repository: notes[i] }));
  return renderReport(buildReport({ jobs, errors: [], warnings: [] }, results), 'sync');
}

describe('the Repositories block of the sync report', () => {
  const encryption = 'encryption is AES256, configured KMS key k: encryption cannot change; recreate the repository to change it';
  const unchecked = 'could not check the lifecycle policy: AccessDeniedException: not authorized; the image was not held back for it, and the next check tries again';

  it('says settings were put back when that is all there is', () => {
    const text = reportWith({ repaired: ['scan on push'] });
    expect(text).toContain('Repositories (settings that had drifted were put back):\n  123456789012.dkr.ecr.eu-west-1.amazonaws.com/mirror/quay.io/app0: put back scan on push\n');
  });

  it('says nothing was put back when there are only warnings (encryption, a check ECR refused)', () => {
    const text = reportWith({ warnings: [encryption] }, { warnings: [unchecked] });
    expect(text).toContain('Repositories (warnings; nothing was put back):\n');
    expect(text).not.toContain('drifted');
    expect(text).toContain(`mirror/quay.io/app1: ${unchecked}`);
  });

  it('names both when there are both', () => {
    expect(reportWith({ repaired: ['tag source'] }, { warnings: [encryption] })).toContain('Repositories (settings that had drifted were put back; warnings):\n');
  });

  it('has no block when no repository has anything to say', () => {
    expect(reportWith({ created: true })).not.toContain('Repositories');
  });
});

describe('renderOrphans', () => {
  const empty: OrphanReport = { orphans: [], checked: 3, spared: [], invalid: 0, foreign: 0, unattributed: [], notAllowed: [] };

  it('says how many repositories of another configuration were left out, and lists those it cannot attribute', () => {
    const text = renderOrphans({ ...empty, foreign: 2, unattributed: [{ name: 'mirror/quay.io/x' }] }, target);
    expect(text).toContain('No orphaned repositories under 123456789012.dkr.ecr.eu-west-1.amazonaws.com/mirror (3 checked).');
    expect(text).toContain('2 managed repositories under the prefix belong to another configuration');
    expect(text).toContain('were left out.');
    expect(text).toContain('Left out, as their source tag names no image (whose they are cannot be told):\n  REPOSITORY        SOURCE\n  mirror/quay.io/x  -\n');
    expect(renderOrphans({ ...empty, foreign: 1 }, target)).toContain('1 managed repository under the prefix belongs to another configuration');
  });

  it('warns first when the target has no prefix', () => {
    const bare = parseTargetBase('123456789012.dkr.ecr.eu-west-1.amazonaws.com');
    expect(renderOrphans(empty, bare)).toMatch(/^Warning: the target has no prefix: every managed repository in the registry is looked at/);
    expect(renderOrphans(empty, target)).not.toContain('Warning');
  });
});

/** A job for `reference`, named by `files` (its own Dockerfile by default), with a target under `target` when given. */
function job(reference: string, options: { files?: string[]; target?: boolean } = {}): MirrorJob {
  const source = parseImageReference(reference);
  const files = options.files ?? [`${source.registry}/${source.repository}/Dockerfile`];
  return { source, files, ...(options.target === false ? {} : { target: targetFor(source, target) }) };
}

/** The report of a run in which each job had the outcome beside it. */
function runReport(outcomes: readonly (readonly [MirrorJob, JobOutcome])[], errors: FileIssue[] = []): ReturnType<typeof buildReport> {
  const jobs = outcomes.map(([j]) => j);
  return buildReport({ jobs, errors, warnings: [] }, outcomes.map(([j, outcome]) => resultOf(j, outcome)));
}

/** The lines of the image table: from the header to the first empty line. */
function tableLines(text: string): string[] {
  const lines = text.split('\n');
  return lines.slice(0, lines.indexOf(''));
}

/** Characters as a terminal shows them (the `…` is one). */
const width = (line: string) => [...line].length;

const LONG = 'ghcr.io/some-organisation/a-rather-long-repository-name/with-a-sub-path:v1.2.3-alpine3.20';
const PINNED = `quay.io/prometheus/node-exporter:v1.8.2@${D}`;

describe('cutMiddle', () => {
  it.each([
    ['docker.io/library/postgres:14', 40, 'docker.io/library/postgres:14'],
    ['docker.io/library/postgres:14', 29, 'docker.io/library/postgres:14'],
    ['docker.io/library/postgres:14', 15, 'docker.…gres:14'],
    ['docker.io/library/postgres:14', 2, '…4'],
    ['docker.io/library/postgres:14', 1, '…'],
    ['docker.io/library/postgres:14', 0, ''],
    // A character outside the BMP is one, never cut in half.
    ['😀😀😀😀😀😀', 4, '😀…😀😀'],
  ])('cuts %j to %i characters as %j', (text, max, expected) => {
    expect(cutMiddle(text, max)).toBe(expected);
    expect(width(cutMiddle(text, max))).toBeLessThanOrEqual(max);
  });
});

describe('outputWidth', () => {
  it.each([
    ['COLUMNS, whatever the stream', { COLUMNS: '100' }, false, undefined, 100],
    ['COLUMNS over the terminal', { COLUMNS: '100' }, true, 120, 100],
    ["the terminal's width without COLUMNS", {}, true, 120, 120],
    ['no limit for a pipe or a CI log', {}, false, 120, undefined],
    ['the terminal when COLUMNS is no whole number', { COLUMNS: 'wide' }, true, 90, 90],
    ['no limit when COLUMNS is 0 and the stream is no terminal', { COLUMNS: '0' }, false, undefined, undefined],
  ])('takes %s', (_, env, isTTY, columns, expected) => {
    expect(outputWidth(env, isTTY, columns)).toBe(expected);
  });
});

describe('the image table', () => {
  it('fits the width: names cut in the middle, STATUS whole, the digest as a short id, a pin left to the DIGEST column', () => {
    const report = runReport([
      [job('docker.io/library/postgres:14'), { status: 'copied', digest: D }],
      [job(LONG), { status: 'skipped', digest: D }],
      [job(PINNED), { status: 'failed', error: new Error('boom') }],
    ]);
    const lines = tableLines(renderReport(report, 'sync', { columns: 80 }));
    expect(lines).toHaveLength(4);
    for (const line of lines) expect(width(line), line).toBeLessThanOrEqual(80);
    expect(lines[0]).toMatch(/^STATUS +SOURCE +TARGET +DIGEST +FILE$/);
    expect(lines[1]).toMatch(/^copied {2,}\S+ {2,}\S+ {2,}aaaaaaaaaaaa {2}\S+$/);
    expect(lines.join('\n')).toContain('…');
    // Both ends of a long name stay: where it comes from, and its tag.
    expect(lines[2]).toMatch(/ ghcr\.\S*…\S*3\.20 /);
    expect(lines[3]).toMatch(/^failed {2,}quay\.\S*@… /);
  });

  it('leaves out of TARGET the registry and prefix every target is under, before it cuts names', () => {
    const report = runReport([
      [job('docker.io/library/postgres:14'), { status: 'copied', digest: D }],
      [job('quay.io/prometheus/node-exporter:v1.8.2'), { status: 'copied', digest: D }],
    ]);
    const lines = tableLines(renderReport(report, 'sync', { columns: 140 }));
    expect(lines[1]).toContain('  …/docker.io/library/postgres:14  ');
    expect(lines[2]).toContain('  …/quay.io/prometheus/node-exporter:v1.8.2  ');
    expect(lines[2]).toMatch(/^copied {2}quay\.io\/prometheus\/node-exporter:v1\.8\.2 /);
    for (const line of lines) expect(width(line), line).toBeLessThanOrEqual(140);
  });

  it('shrinks only the columns too wide, so that a short name stays whole', () => {
    const report = runReport([[job(LONG, { target: false, files: ['short/Dockerfile'] }), { status: 'copied', digest: D }]]);
    const lines = tableLines(renderReport(report, 'sync', { columns: 60 }));
    expect(lines[1]).toMatch(/^copied {2}ghcr\.\S+…\S+ {2}aaaaaaaaaaaa {2}short\/$/);
    expect(width(lines[1]!)).toBeLessThanOrEqual(60);
  });

  it('shrinks the wide columns fairly: the same width for each name column that is cut', () => {
    const report = runReport([[job(LONG, { files: [`${'x'.repeat(100)}/Dockerfile`] }), { status: 'copied', digest: D }]]);
    const [header, row] = tableLines(renderReport(report, 'sync', { columns: 120 }));
    const starts = ['SOURCE', 'TARGET', 'DIGEST'].map((name) => header!.indexOf(name));
    expect(starts[1]! - starts[0]!).toBe(starts[2]! - starts[1]!);
    const cells = row!.split(/ {2,}/);
    expect(width(cells[1]!)).toBe(width(cells[2]!));
    expect(width(cells[4]!)).toBeGreaterThanOrEqual(width(cells[1]!) - 1);
    expect(width(row!)).toBeLessThanOrEqual(120);
  });

  it('keeps whole names when no width is given (a pipe, a CI log)', () => {
    const report = runReport([[job(LONG), { status: 'copied', digest: D }]]);
    const text = renderReport(report, 'sync');
    const [, source, targetName, , file] = tableLines(text)[1]!.split(/ {2,}/);
    expect([source, targetName, file]).toEqual([LONG, `123456789012.dkr.ecr.eu-west-1.amazonaws.com/mirror/${LONG}`, `${LONG.replace(/:[^:]*$/, '')}/Dockerfile`]);
  });

  it('names the first file of an image and how many more name it', () => {
    const files = ['docker.io/library/postgres/Dockerfile', 'docker.io/library/postgres/14/Dockerfile', 'docker.io/library/postgres/alt/Dockerfile'];
    const text = renderReport(runReport([[job('docker.io/library/postgres:14', { files }), { status: 'copied', digest: D }]]), 'sync');
    expect(tableLines(text)[1]).toMatch(/ docker\.io\/library\/postgres\/Dockerfile \+2$/);
  });

  it('leaves out TARGET and DIGEST on a plain plan without pins, and shows each once a cell has something', () => {
    const bare = planReport({ jobs: [job('docker.io/library/redis:7', { target: false })], errors: [], warnings: [] });
    expect(tableLines(renderReport(bare, 'plan'))).toEqual(['STATUS   SOURCE                     FILE', 'planned  docker.io/library/redis:7  docker.io/library/redis/Dockerfile']);
    const pinned = planReport({ jobs: [job('docker.io/library/redis:7', { target: false }), job(PINNED, { target: false })], errors: [], warnings: [] });
    expect(tableLines(renderReport(pinned, 'plan'))[0]).toMatch(/^STATUS +SOURCE +DIGEST +FILE$/);
    expect(tableLines(renderReport(pinned, 'plan'))[1]).toMatch(/^planned {2}docker\.io\/library\/redis:7 +- +docker/);
    const targeted = planReport({ jobs: [job('docker.io/library/redis:7')], errors: [], warnings: [] });
    expect(tableLines(renderReport(targeted, 'plan'))[0]).toMatch(/^STATUS +SOURCE +TARGET +FILE$/);
  });

  it('ends no line in spaces', () => {
    const report = runReport([
      [job('docker.io/library/postgres:14'), { status: 'copied', digest: D, replaced: `sha256:${'b'.repeat(64)}` }],
      [job(LONG), { status: 'failed', error: new Error('refused') }],
    ]);
    for (const columns of [undefined, 60, 200]) {
      for (const line of renderReport(report, 'sync', { columns }).split('\n')) expect(line).toBe(line.trimEnd());
    }
  });
});

describe('the summary line', () => {
  const redis = job('docker.io/library/redis:7');
  const one = (reference: string) => job(`docker.io/library/${reference}`);
  const invalid: FileIssue[] = [{ file: 'docker.io/library/bad/Dockerfile', message: 'line 1: no FROM' }];

  it.each<[string, ReportKind, readonly JobOutcome[], FileIssue[], string]>([
    ['a plain plan', 'plan', [{ status: 'planned' }, { status: 'planned' }], invalid, '2 images planned; 1 invalid file'],
    ['a sync', 'sync', [{ status: 'copied' }, { status: 'skipped' }, { status: 'failed', error: new Error('x') }], [], '3 images planned: 1 copied, 1 skipped, 1 failed; 0 invalid files'],
    ['a sync where all failed', 'sync', [{ status: 'failed', error: new Error('x') }, { status: 'failed', error: new Error('y') }], [], '2 images planned: 0 copied, 0 skipped, 2 failed; 0 invalid files'],
    [
      'a sync deferred and interrupted',
      'sync',
      [{ status: 'copied' }, { status: 'deferred', error: new Error('budget') }, { status: 'interrupted', error: new Error('SIGINT') }],
      invalid,
      '3 images planned: 1 copied, 0 skipped, 0 failed, 1 deferred, 1 interrupted; 1 invalid file',
    ],
    ['a dry run with a failure', 'dry-run', [{ status: 'would-copy' }, { status: 'would-skip' }, { status: 'failed', error: new Error('x') }], [], '3 images planned: 1 would copy, 1 would skip, 1 failed; 0 invalid files'],
    ['a dry run where all failed', 'dry-run', [{ status: 'failed', error: new Error('x') }], invalid, '1 image planned: 0 would copy, 0 would skip, 1 failed; 1 invalid file'],
    [
      'a dry run deferred and interrupted',
      'dry-run',
      [{ status: 'would-copy' }, { status: 'deferred', error: new Error('budget') }, { status: 'interrupted', error: new Error('SIGINT') }],
      [],
      '3 images planned: 1 would copy, 0 would skip, 0 failed, 1 deferred, 1 interrupted; 0 invalid files',
    ],
  ])('counts every outcome of %s', (_, kind, outcomes, errors, expected) => {
    const jobs = outcomes.map((_, i) => one(`app${i}:1`));
    const text = renderReport(runReport(jobs.map((j, i) => [j, outcomes[i]!] as const), errors), kind);
    expect(text.split('\n').at(-1)).toBe(expected);
  });

  it('lists a failed image of a dry run under the failures, as a sync does', () => {
    const text = renderReport(runReport([[redis, { status: 'failed', error: new Error('looking up "docker.io/library/redis:7": 404') }]]), 'dry-run');
    expect(text).toContain('Failed or interrupted images:\n  docker.io/library/redis:7 (docker.io/library/redis/Dockerfile)\n    looking up "docker.io/library/redis:7": 404\n');
  });
});

describe('the Notices block', () => {
  const withNotices = (notices: readonly string[] | undefined, reference: string): MirrorResult => ({
    ...resultOf(job(reference), { status: 'copied', digest: D }),
    ...(notices === undefined ? {} : { notices }),
  });

  it('has a line per image and notice, under its header', () => {
    const results = [
      withNotices(['the pinned tag 14 now names sha256:bbbb…', 'platform linux/s390x is not in the image'], 'docker.io/library/postgres:14'),
      withNotices(undefined, 'docker.io/library/redis:7'),
      withNotices([], 'docker.io/library/nginx:1'),
      withNotices(['platform linux/s390x is not in the image'], 'quay.io/app:1'),
    ];
    const text = renderReport(buildReport({ jobs: [], errors: [], warnings: [] }, results), 'sync');
    expect(text).toContain(
      [
        '',
        'Notices:',
        '  docker.io/library/postgres:14: the pinned tag 14 now names sha256:bbbb…',
        '  docker.io/library/postgres:14: platform linux/s390x is not in the image',
        '  quay.io/app:1: platform linux/s390x is not in the image',
        '',
      ].join('\n'),
    );
  });

  it('is left out when no image has a notice', () => {
    expect(renderReport(buildReport({ jobs: [], errors: [], warnings: [] }, [withNotices([], 'quay.io/app:1')]), 'sync')).not.toContain('Notices');
  });
});

describe('mirror plan through main()', () => {
  async function plan(args: readonly string[], io: { env?: Record<string, string>; stdoutIsTTY?: boolean; columns?: number }) {
    const images = await writeImagesTree({
      'docker.io/library/postgres/Dockerfile': 'FROM postgres:14\n',
      [`${LONG.replace(/:[^:]*$/, '')}/Dockerfile`]: `FROM ${LONG}\n`,
      'quay.io/prometheus/node-exporter/Dockerfile': `FROM ${PINNED}\n`,
    });
    let stdout = '';
    const code = await main(['plan', '--images', images, ...args], {
      stdout: (text) => void (stdout += text),
      stderr: () => undefined,
      env: io.env ?? {},
      cwd: images,
      ...(io.stdoutIsTTY === undefined ? {} : { stdoutIsTTY: io.stdoutIsTTY }),
      ...(io.columns === undefined ? {} : { columns: io.columns }),
    });
    return { code, stdout };
  }

  it('prints no line of the table longer than COLUMNS=80', async () => {
    const run = await plan(['--target', '123456789012.dkr.ecr.eu-west-1.amazonaws.com/mirror'], { env: { COLUMNS: '80' } });
    expect(run.code).toBe(0);
    const lines = tableLines(run.stdout);
    expect(lines).toHaveLength(4);
    for (const line of lines) expect(width(line), line).toBeLessThanOrEqual(80);
    expect(lines[0]).toMatch(/^STATUS +SOURCE +TARGET +DIGEST +FILE$/);
  });

  it("fits the terminal's width on a terminal, and keeps whole names in a pipe", async () => {
    const terminal = await plan([], { stdoutIsTTY: true, columns: 70 });
    for (const line of tableLines(terminal.stdout)) expect(width(line), line).toBeLessThanOrEqual(70);
    const pipe = await plan([], { stdoutIsTTY: false, columns: 70 });
    expect(pipe.stdout).toContain(` ${LONG} `);
    expect(pipe.stdout).toContain(` ${PINNED} `);
  });
});

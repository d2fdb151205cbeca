import { chmod, mkdir, mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { PLAN_COMMENT_MARKER } from '../functions/cli/render-diff.ts';
import { normaliseRegistryHost } from '../shared/image-ref/reference.ts';
import { SIGN_OFF_FILE, signOffPathFor } from '../shared/plan/sign-off-path.ts';
import { trivyReportJson } from './fixtures/trivy-report.ts';
import { type ActionRun, runAction } from './support/actions-runner.ts';
import { runCli, writeImagesTree } from './support/cli.ts';
import { stubbedAction } from './support/mirror-action-stub.ts';
import { startScriptedRegistry } from './support/upstreams/scripted-registry.ts';

const root = resolve(import.meta.dirname, '..');
const examples = join(root, 'examples', 'github');
/** How a workflow names the image-mirror action: any owner, this repository's name. */
const IMAGE_MIRROR_ACTION = /^[\w.-]+\/image-mirror@/;
/** What GitHub puts in the examples' `${{ }}` expressions, as stand-ins; an expression missing here fails the test. */
const STAND_INS: Record<string, string> = {
  'github.base_ref': 'main',
  'vars.MIRROR_REGISTRY': '123456789012.dkr.ecr.eu-west-1.amazonaws.com/mirror',
  'secrets.MIRROR_SOURCE_CREDENTIALS': JSON.stringify({ 'docker.io': { username: 'someone', password: 'stand-in' } }),
};

interface Step {
  name?: string;
  id?: string;
  if?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
  'continue-on-error'?: boolean;
}
interface Job {
  name?: string;
  steps: Step[];
  needs?: string | string[];
  if?: string;
  permissions?: Record<string, string>;
  outputs?: Record<string, string>;
}
interface Workflow {
  name: string;
  on: Record<string, { branches?: string[]; paths?: string[] } | null>;
  permissions?: Record<string, string>;
  jobs: Record<string, Job>;
}

const workflows = new Map<string, Workflow>();
const texts = new Map<string, string>();
/** A workflow's opening comment, its lines joined by spaces. */
const header = (file: string) =>
  (texts.get(file) ?? '')
    .split('\n')
    .filter((line) => line.startsWith('#'))
    .map((line) => line.replace(/^#\s*/, ''))
    .join(' ');
const steps = () => [...workflows.entries()].flatMap(([file, workflow]) => Object.entries(workflow.jobs).flatMap(([job, { steps: list }]) => list.map((step) => ({ file, job, step }))));

beforeAll(async () => {
  for (const file of (await readdir(examples)).filter((name) => /\.ya?ml$/.test(name)).sort()) {
    const text = await readFile(join(examples, file), 'utf8');
    texts.set(file, text);
    workflows.set(file, parse(text, { uniqueKeys: true }) as Workflow);
  }
});

describe('examples/github workflows', () => {
  it('are the two documented workflows, each with a name, triggers and jobs with steps', () => {
    expect([...workflows.keys()]).toEqual(['plan-comment.yml', 'sync-on-merge.yml']);
    for (const [file, workflow] of workflows) {
      expect(workflow.name, file).toMatch(/\S/);
      expect(Object.keys(workflow.on ?? {}).length, file).toBeGreaterThan(0);
      for (const [job, { steps: list }] of Object.entries(workflow.jobs)) expect(list.length, `${file} ${job}`).toBeGreaterThan(0);
    }
  });

  it('run the plan on pull requests touching images/, and the sync on pushes of images/ to main', () => {
    const plan = workflows.get('plan-comment.yml') as Workflow;
    expect(Object.keys(plan.on)).toEqual(['pull_request']);
    expect(plan.on.pull_request?.paths).toEqual(['images/**']);
    const sync = workflows.get('sync-on-merge.yml') as Workflow;
    expect(sync.on.push).toEqual({ branches: ['main'], paths: ['images/**'] });
    expect(sync.permissions).toMatchObject({ 'id-token': 'write', contents: 'read' });
  });

  it('pin every action by full commit sha, with its version in a comment (an org may require sha pinning)', () => {
    const used = steps().filter(({ step }) => step.uses !== undefined);
    expect(used.length).toBeGreaterThan(0);
    const lines = [...texts.entries()].flatMap(([file, text]) =>
      text
        .split('\n')
        .filter((line) => /^\s*(-\s+)?uses:/.test(line))
        .map((line) => ({ file, line: line.trim() })),
    );
    expect(lines).toHaveLength(used.length);
    for (const { file, line } of lines) expect(line, file).toMatch(/^(- )?uses: [\w.-]+\/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$/);
    expect(used.map(({ step }) => step.uses)).toContain('aquasecurity/trivy-action@57a97c7e7821a5776cebc9bb87c984fa69cba8f1');
  });

  it('run the image-mirror action with only inputs action.yml declares, and every required one', async () => {
    const action = parse(await readFile(join(root, 'action.yml'), 'utf8')) as { inputs: Record<string, { required?: boolean; default?: string }> };
    const uses = steps().filter(({ step }) => IMAGE_MIRROR_ACTION.test(step.uses ?? ''));
    expect(uses.map(({ file, step }) => `${file}: ${String(step.with?.command)}`)).toEqual(['plan-comment.yml: plan', 'plan-comment.yml: gate', 'sync-on-merge.yml: sync']);
    for (const { file, step } of uses) {
      for (const name of Object.keys(step.with ?? {})) expect(action.inputs, `${file}: with.${name}`).toHaveProperty(name);
      for (const [name, input] of Object.entries(action.inputs)) if (input.required === true && input.default === undefined) expect(step.with, `${file}: ${name}`).toHaveProperty(name);
    }
  });

  it('say in their opening comment which token and permissions each needs, and ask for no more', () => {
    for (const file of workflows.keys()) {
      expect(header(file), file).toContain('contents: read');
      expect(header(file), file).toContain('Accessible from repositories in the <org> organization');
      expect(header(file), file).toContain('placeholder sha 1111');
    }
    expect(header('plan-comment.yml')).toContain('pull-requests: write');
    expect(header('sync-on-merge.yml')).toContain('id-token: write');
    const plan = workflows.get('plan-comment.yml') as Workflow;
    expect(plan.permissions).toEqual({ contents: 'read' });
    const jobPermissions = Object.entries(plan.jobs).flatMap(([name, job]) => (job.permissions === undefined ? [] : [[name, job.permissions]]));
    expect(jobPermissions).toEqual([['comment', { 'pull-requests': 'write' }]]);
    expect(workflows.get('sync-on-merge.yml')?.permissions).toEqual({ contents: 'read', 'id-token': 'write' });
  });

  it('call only mirror commands and options the CLI has, with values it accepts', async () => {
    const calls: { file: string; args: readonly string[] }[] = [];
    for (const { file, step } of steps().filter(({ step }) => IMAGE_MIRROR_ACTION.test(step.uses ?? ''))) {
      // The real action.yml and run.sh, with a mirror that records the command line it was given.
      const stub = await stubbedAction();
      const workspace = await mkdtemp(join(tmpdir(), 'image-mirror-example-'));
      const result = await runAction({ actionDir: stub.actionDir, workspace, inputs: withInputs(file, step.with ?? {}) });
      const mirror = result.steps.find((s) => s.id === 'mirror');
      expect(mirror?.outcome, `${file}: ${mirror?.stdout}${mirror?.stderr}`).toBe('success');
      const recorded = await stub.calls();
      expect(recorded, file).toHaveLength(1);
      calls.push({ file, args: recorded[0]?.argv ?? [] });
    }
    expect(calls.map(({ file, args }) => `${file}: ${args[0]}`)).toEqual(['plan-comment.yml: plan', 'plan-comment.yml: gate', 'sync-on-merge.yml: sync']);
    // The plan shows the names the sync writes: both use the same target. The gate reads files only: no target.
    const optionValue = (args: readonly string[], option: string) => (args.includes(option) ? args[args.indexOf(option) + 1] : undefined);
    expect(calls.map(({ args }) => optionValue(args, '--target'))).toEqual([STAND_INS['vars.MIRROR_REGISTRY'], undefined, STAND_INS['vars.MIRROR_REGISTRY']]);
    // The gate compares with the same base as the plan, so that it asks a report of each image the plan lists to scan.
    expect(calls.map(({ args }) => optionValue(args, '--base'))).toEqual(['origin/main', 'origin/main', undefined]);
    expect(optionValue(calls[1]?.args ?? [], '--trivy')).toBe('reports/');
    for (const { file, args } of calls) {
      const [command = '', ...rest] = args;
      const run = await runCli([command, '--help']);
      expect(run.code, `${file}: mirror ${command} --help`).toBe(0);
      rest.forEach((token, i) => {
        if (!token.startsWith('--')) return;
        const option = token.split('=')[0] as string;
        expect(run.stdout, `${file}: mirror ${command} ${option}`).toMatch(new RegExp(`(^|[\\s,])${option}(?![\\w-])`, 'm'));
        const choices = choicesOf(run.stdout, option);
        if (choices) expect(choices, `${file}: mirror ${command} ${option} ${rest[i + 1]}`).toContain(rest[i + 1]);
      });
    }
  });

  it('name every ECR action the sync needs in the role sync-on-merge.yml asks for', async () => {
    const header = (await readFile(join(examples, 'sync-on-merge.yml'), 'utf8')).split('\n').filter((line) => line.startsWith('#')).join(' ');
    const actions = [
      'GetAuthorizationToken',
      // Creating repositories and keeping their settings.
      'DescribeRepositories', 'CreateRepository', 'GetLifecyclePolicy', 'PutLifecyclePolicy', 'PutImageScanningConfiguration', 'ListTagsForResource', 'TagResource',
      // Pushing and pulling.
      'BatchCheckLayerAvailability', 'InitiateLayerUpload', 'UploadLayerPart', 'CompleteLayerUpload', 'PutImage', 'BatchGetImage', 'GetDownloadUrlForLayer',
    ];
    for (const action of actions) expect(header, action).toMatch(new RegExp(`\\b${action}\\b`));
  });

  it('put no ${{ }} expression inside a shell script (pull-request text must not become code)', () => {
    for (const { file, step } of steps().filter(({ step }) => step.run !== undefined)) expect(step.run, `${file}: ${step.name}`).not.toContain('${{');
  });

  it('find the comment they posted before by the marker the markdown starts with', () => {
    const script = steps().find(({ step }) => step.uses?.startsWith('actions/github-script@'))?.step.with?.script as string;
    expect(script).toContain(`const marker = '${PLAN_COMMENT_MARKER}';`);
    expect(script).toContain('c.body?.startsWith(marker)');
  });

  it('gate the findings as a required check that fails last, after the comment, in the job the header names', () => {
    const plan = workflows.get('plan-comment.yml') as Workflow;
    const needs = (job: string) => [plan.jobs[job]?.needs ?? []].flat();
    expect(Object.keys(plan.jobs)).toEqual(['plan', 'scan', 'gate', 'comment', 'verdict']);
    expect(needs('scan')).toEqual(['plan']);
    expect(needs('gate')).toEqual(['plan', 'scan']);
    expect(needs('comment')).toEqual(['plan', 'gate']);
    expect(needs('verdict')).toEqual(['plan', 'gate', 'comment']);
    // always(): a required check that is skipped counts as passed, so the verdict runs whatever came before it.
    expect(plan.jobs.verdict?.if).toBe('${{ always() }}');
    expect(plan.jobs.verdict?.name).toBe('image-mirror verdict');
    expect(header('plan-comment.yml')).toContain('require the check "image-mirror verdict"');
    // The plan and the gate never fail their own jobs on what they found: the comment is posted first.
    for (const command of ['plan', 'gate']) {
      const [job, step] = Object.entries(plan.jobs).flatMap(([name, { steps: list }]) => list.filter((s) => s.with?.command === command).map((s) => [name, s] as const))[0] ?? [];
      expect(step?.['continue-on-error'], command).toBe(true);
      expect(plan.jobs[job ?? '']?.outputs?.['exit-code'], command).toBe(`\${{ steps.${step?.id}.outputs.exit-code }}`);
    }
    // A .trivyignore.yaml lies beside its Dockerfile, under images/: a sign-off commit runs the workflow again.
    expect(plan.on.pull_request?.paths).toEqual(['images/**']);
  });

  it('scan with no checkout and no permission of its own: no ignore file of the tree hides a finding from the gate', () => {
    const scan = (workflows.get('plan-comment.yml') as Workflow).jobs.scan as Job;
    expect(scan.permissions).toBeUndefined();
    expect(scan.steps.map((step) => step.uses?.split('@')[0]).filter((uses) => uses !== undefined)).toEqual(['aquasecurity/trivy-action', 'actions/upload-artifact']);
  });

  it('scan each added or changed image by the digest the plan resolved, logged in to its registry only', async () => {
    const plan = workflows.get('plan-comment.yml') as Workflow;
    const digest = `sha256:${'a'.repeat(64)}`;
    const answer = resolvesTo(digest);
    const [source, other] = [await startScriptedRegistry(answer), await startScriptedRegistry(answer, 'localhost')];
    try {
      const pinned = `sha256:${'b'.repeat(64)}`;
      const base = await writeImagesTree({
        [`${source.host}/team/pinned/Dockerfile`]: `FROM ${source.host}/team/pinned:1@sha256:${'c'.repeat(64)}\n`,
        [`${source.host}/team/shared/Dockerfile`]: `FROM ${source.host}/team/shared:1\n`,
      });
      const next = await writeImagesTree({
        [`${source.host}/team/pinned/Dockerfile`]: `FROM ${source.host}/team/pinned:2@${pinned}\n`,
        [`${source.host}/team/shared/Dockerfile`]: `FROM ${source.host}/team/shared:1\n`,
        [`${source.host}/team/shared-too/Dockerfile`]: `FROM ${source.host}/team/shared:1\n`,
        [`${source.host}/team/app/Dockerfile`]: `FROM ${source.host}/team/app:1.2\n`,
        [`${other.host}/lib/tool/Dockerfile`]: `FROM ${other.host}/lib/tool:3\n`,
      });
      const { workspace, images } = await planAndList(base, next);
      expect(await readFile(join(workspace, 'plan.md'), 'utf8')).toBe('the comment\n');
      // The image the base names already (shared) is mirrored already: the gate asks no report of it.
      expect([...images].sort((a, b) => a.source.localeCompare(b.source))).toEqual([
        { source: `${source.host}/team/app:1.2`, registry: source.host, ref: `${source.host}/team/app:1.2@${digest}` },
        { source: `${source.host}/team/pinned:2@${pinned}`, registry: source.host, ref: `${source.host}/team/pinned:2@${pinned}` },
        { source: `${other.host}/lib/tool:3`, registry: other.host, ref: `${other.host}/lib/tool:3@${digest}` },
      ]);

      const scan = plan.jobs.scan as Job;
      const trivy = scan.steps.find((step) => step.uses?.startsWith('aquasecurity/trivy-action@'));
      expect(trivy?.with).toMatchObject({ 'image-ref': '${{ matrix.image.ref }}', format: 'json', output: 'trivy-${{ strategy.job-index }}.json', scanners: 'vuln' });
      const upload = scan.steps.find((step) => step.uses?.startsWith('actions/upload-artifact@'));
      expect(upload?.with).toMatchObject({ name: 'trivy-${{ strategy.job-index }}', path: trivy?.with?.output });
      const download = plan.jobs.gate?.steps.find((step) => step.uses?.startsWith('actions/download-artifact@'));
      expect(download?.with).toMatchObject({ pattern: 'trivy-*', path: 'reports', 'merge-multiple': true });

      const password = 'stand-in-password-for-the-scan';
      const credentials = JSON.stringify({ [`http://${source.host}/v2/`]: { username: 'someone', password }, 'registry.example.com': { username: 'else', password: 'not-this-one' } });
      for (const image of images) {
        const docker = await dockerStandIn();
        const scanned = await runJobSteps(scan, await mkdtemp(join(tmpdir(), 'image-mirror-example-scan-')), { 'secrets.MIRROR_SOURCE_CREDENTIALS': credentials, 'matrix.image.registry': image.registry }, docker.env);
        expect(scanned.outcome, stepLog(scanned)).toBe('success');
        const config = join(scanned.runnerTemp, 'docker-config');
        if (image.registry === source.host) {
          expect(await docker.calls()).toEqual([{ argv: ['login', '--username', 'someone', '--password-stdin', source.host], stdin: password, config }]);
        } else {
          expect(await docker.calls()).toEqual([]);
          expect(stepLog(scanned)).toContain(`no login for ${other.host} in MIRROR_SOURCE_CREDENTIALS: pulled anonymously`);
        }
        // The runner reads ::add-mask:: and prints nothing of it; no other line holds the password.
        expect(stepLog(scanned).replace(`::add-mask::${password}`, '')).not.toContain(password);
        expect(await exists(config), 'the Docker config with the login is removed').toBe(false);
      }
    } finally {
      await source.close();
      await other.close();
    }
  });

  it.each([
    ['docker.io', 'docker.io'],
    ['https://index.docker.io/v1/', 'docker.io'],
    ['registry-1.docker.io', 'docker.io'],
    ['GHCR.io', 'ghcr.io'],
    ['https://quay.io', 'quay.io'],
    ['127.0.0.1:5000', '127.0.0.1:5000'],
  ])('log the scan in with the login keyed %s, as the CLI reads that key (for %s)', async (key, registry) => {
    expect(normaliseRegistryHost(key)).toBe(registry);
    const docker = await dockerStandIn();
    const scan = (workflows.get('plan-comment.yml') as Workflow).jobs.scan as Job;
    const credentials = JSON.stringify({ [key]: { username: 'someone', password: 'stand-in-password' } });
    const scanned = await runJobSteps(scan, await mkdtemp(join(tmpdir(), 'image-mirror-example-scan-')), { 'secrets.MIRROR_SOURCE_CREDENTIALS': credentials, 'matrix.image.registry': registry }, docker.env);
    expect(scanned.outcome, stepLog(scanned)).toBe('success');
    expect((await docker.calls()).map((call) => call.argv)).toEqual([['login', '--username', 'someone', '--password-stdin', registry]]);
  });

  it('scan anonymously without MIRROR_SOURCE_CREDENTIALS, and fail on a login with no password', async () => {
    const scan = (workflows.get('plan-comment.yml') as Workflow).jobs.scan as Job;
    const docker = await dockerStandIn();
    const workspace = await mkdtemp(join(tmpdir(), 'image-mirror-example-scan-'));
    const anonymous = await runJobSteps(scan, workspace, { 'secrets.MIRROR_SOURCE_CREDENTIALS': '', 'matrix.image.registry': 'docker.io' }, docker.env);
    expect(anonymous.outcome, stepLog(anonymous)).toBe('success');
    expect(stepLog(anonymous)).toContain('no MIRROR_SOURCE_CREDENTIALS: docker.io is pulled anonymously');
    const broken = await runJobSteps(scan, workspace, { 'secrets.MIRROR_SOURCE_CREDENTIALS': '{"docker.io": {"username": "someone"}}', 'matrix.image.registry': 'docker.io' }, docker.env);
    expect(broken.outcome).toBe('failure');
    expect(stepLog(broken)).toContain('::error::MIRROR_SOURCE_CREDENTIALS: the login for docker.io needs a username and a password');
    expect(await docker.calls()).toEqual([]);
  });

  it('put the plan and then the gate section in the comment, or say that the gate did not run', async () => {
    const plan = workflows.get('plan-comment.yml') as Workflow;
    const images = await writeImagesTree({ 'docker.io/library/postgres/Dockerfile': 'FROM postgres:14.13\n' });
    const base = await writeImagesTree({ 'docker.io/library/postgres/Dockerfile': 'FROM postgres:14\n' });
    const workspace = await mkdtemp(join(tmpdir(), 'image-mirror-example-comment-'));
    const planRun = await runCli(['plan', '--images', images, '--base', base, '--format', 'markdown', '--no-cost']);
    expect(planRun.code, planRun.stderr).toBe(0);
    await writeFile(join(workspace, 'plan.md'), planRun.stdout);
    const report = join(workspace, 'trivy-0.json');
    await writeFile(report, JSON.stringify(trivyReportJson({ artifactName: 'docker.io/library/postgres:14.13', repoTags: ['postgres:14.13'], vulnerabilities: [{ id: 'CVE-2024-0001', severity: 'CRITICAL' }] })));
    const gateRun = await runCli(['gate', '--images', images, '--trivy', report, '--format', 'markdown']);
    expect(gateRun.code, gateRun.stderr).toBe(1);
    await writeFile(join(workspace, 'gate-output.md'), gateRun.stdout);
    // The gate job keeps its section, the comment job puts it after the plan.
    const keep = await runJobSteps(plan.jobs.gate as Job, workspace, { 'steps.gate.outputs.exit-code': '1', 'steps.gate.outputs.markdown-file': join(workspace, 'gate-output.md') });
    expect(keep.outcome, stepLog(keep)).toBe('success');
    const assemble = await runJobSteps(plan.jobs.comment as Job, workspace, {});
    expect(assemble.outcome, stepLog(assemble)).toBe('success');
    const comment = await readFile(join(workspace, 'comment.md'), 'utf8');
    expect(comment.startsWith(PLAN_COMMENT_MARKER)).toBe(true);
    expect(comment).toBe(`${planRun.stdout}\n${gateRun.stdout}`);
    expect(comment).toContain('CVE-2024-0001');
    // The Action never ran (its build failed): the section says so, and the verdict fails the check.
    await runJobSteps(plan.jobs.gate as Job, workspace, { 'steps.gate.outputs.exit-code': '', 'steps.gate.outputs.markdown-file': '' });
    await runJobSteps(plan.jobs.comment as Job, workspace, {});
    expect(await readFile(join(workspace, 'comment.md'), 'utf8')).toContain('the vulnerability gate did not run (exit code none; see the gate job)');
  });

  it('ask the gate of exactly the images the workflow scans: each ref its jq lists, as a report\'s ArtifactName, leaves none not scanned', async () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    const answer = resolvesTo(digest);
    const registry = await startScriptedRegistry(answer);
    try {
      const host = registry.host;
      const base = await writeImagesTree({
        [`${host}/team/cache/Dockerfile`]: `FROM ${host}/team/redis:7\n`,
        [`${host}/team/app/Dockerfile`]: `FROM ${host}/team/app:1.1\n`,
        [`${host}/team/pinned/Dockerfile`]: `FROM ${host}/team/pinned:1@sha256:${'c'.repeat(64)}\n`,
        [`${host}/team/shared/Dockerfile`]: `FROM ${host}/team/shared:1\n`,
      });
      const next = await writeImagesTree({
        // Another repository in the same file: the plan lists it as added, and so must the gate.
        [`${host}/team/cache/Dockerfile`]: `FROM ${host}/team/valkey:8\n`,
        [`${host}/team/app/Dockerfile`]: `FROM ${host}/team/app:1.2\n`,
        [`${host}/team/app-too/Dockerfile`]: `FROM ${host}/team/app:1.2\n`,
        [`${host}/team/pinned/Dockerfile`]: `FROM ${host}/team/pinned:2@sha256:${'b'.repeat(64)}\n`,
        [`${host}/team/shared/Dockerfile`]: `FROM ${host}/team/shared:1\n`,
        [`${host}/team/shared-too/Dockerfile`]: `FROM ${host}/team/shared:1\n`,
        [`${host}/team/new/Dockerfile`]: `FROM ${host}/team/new:1 AS build\nFROM ${host}/team/base:3\n`,
      });
      const { diff: planned, images } = await planAndList(base, next);
      expect(images.length).toBeGreaterThanOrEqual(5);
      // Each scan job's report names what trivy-action was given: the ref.
      const reports = await mkdtemp(join(tmpdir(), 'image-mirror-example-reports-'));
      for (const [index, image] of images.entries()) await writeFile(join(reports, `trivy-${index}.json`), JSON.stringify(trivyReportJson({ artifactName: image.ref })));
      const gated = await runCli(['gate', '--images', next, '--base', base, '--trivy', reports, '--json']);
      expect(gated.code, gated.stdout + gated.stderr).toBe(0);
      const gate = JSON.parse(gated.stdout) as { images: { source: string; change?: string; status: string }[]; unmatchedReports: unknown[]; summary: { notScanned: number } };
      expect(gate.unmatchedReports).toEqual([]);
      expect(gate.summary.notScanned).toBe(0);
      expect(gate.images.map((image) => image.status)).not.toContain('not-scanned');
      // The same images, with the labels of the plan's comment.
      const diff = JSON.parse(planned) as Record<'added' | 'changed', { source: string; namedElsewhere: boolean }[]>;
      const labels = new Map<string, string>([...diff.added.map((c) => [c.source, 'added'] as const), ...diff.changed.map((c) => [c.source, 'changed'] as const)].filter(([source]) => images.some((image) => image.source === source)));
      expect(new Map(gate.images.map((image) => [image.source, image.change ?? '']))).toEqual(labels);
      expect(labels.get(`${host}/team/valkey:8`)).toBe('added');
    } finally {
      await registry.close();
    }
  });

  it('make reports/ before the download, so that a run whose every scan failed gates each image as not scanned', async () => {
    const gateJob = (workflows.get('plan-comment.yml') as Workflow).jobs.gate as Job;
    const made = gateJob.steps.findIndex((step) => step.run?.trim() === 'mkdir -p reports');
    const download = gateJob.steps.findIndex((step) => step.uses?.startsWith('actions/download-artifact@'));
    expect(made).toBeGreaterThan(-1);
    expect(made).toBeLessThan(download);
    const workspace = await mkdtemp(join(tmpdir(), 'image-mirror-example-no-reports-'));
    await runJobSteps(gateJob, workspace, { 'steps.gate.outputs.exit-code': '', 'steps.gate.outputs.markdown-file': '' });
    expect(await readdir(join(workspace, 'reports'))).toEqual([]);
    // What the gate step then runs on it: no report, each added image not scanned, in the usual section.
    const images = await writeImagesTree({ 'docker.io/library/postgres/Dockerfile': 'FROM postgres:14.13\n' });
    const run = await runCli(['gate', '--images', images, '--base', await writeImagesTree({}), '--trivy', join(workspace, 'reports'), '--format', 'markdown']);
    expect(run.code, run.stderr).toBe(1);
    expect(run.stdout).toContain('**`docker.io/library/postgres:14.13`** (added): **not scanned**');
  });

  it('cut the gate section to its heading and counts when the comment would pass GitHub\'s 65,536 characters, pointing to the gate job\'s summary', async () => {
    const comment = (workflows.get('plan-comment.yml') as Workflow).jobs.comment as Job;
    const workspace = await mkdtemp(join(tmpdir(), 'image-mirror-example-long-comment-'));
    // A long plan section, and a real gate section of twenty images with hundreds of findings each.
    const planText = `${PLAN_COMMENT_MARKER}\n#### image-mirror plan\n\n${'| `docker.io/library/x:1` → `mirror/x` | 1 pull |\n'.repeat(600)}`;
    await writeFile(join(workspace, 'plan.md'), planText);
    const names = Array.from({ length: 20 }, (_, i) => `app${i}`);
    const images = await writeImagesTree(Object.fromEntries(names.map((name) => [`docker.io/library/${name}/Dockerfile`, `FROM ${name}:1\n`])));
    const reports = join(workspace, 'reports');
    await mkdir(reports);
    const many = Array.from({ length: 200 }, (_, i) => ({ id: `CVE-2024-${String(i).padStart(5, '0')}`, severity: 'CRITICAL' as const, pkgName: `package-${i}`, installed: '1.0', fixed: '1.1' }));
    for (const name of names) await writeFile(join(reports, `${name}.json`), JSON.stringify(trivyReportJson({ artifactName: `${name}:1`, vulnerabilities: many })));
    const gateRun = await runCli(['gate', '--images', images, '--trivy', reports, '--format', 'markdown']);
    expect(gateRun.code, gateRun.stderr).toBe(1);
    await writeFile(join(workspace, 'gate.md'), gateRun.stdout);
    expect(planText.length + 1 + gateRun.stdout.length).toBeGreaterThan(65_536);

    const run = { GITHUB_SERVER_URL: 'https://github.com', GITHUB_REPOSITORY: 'your-org/images', GITHUB_RUN_ID: '42' };
    const assembled = await runJobSteps(comment, workspace, {}, run);
    expect(assembled.outcome, stepLog(assembled)).toBe('success');
    const body = await readFile(join(workspace, 'comment.md'), 'utf8');
    expect(body.length).toBeLessThanOrEqual(65_536);
    const [heading, blank, counts] = gateRun.stdout.split('\n');
    expect(heading).toBe('#### Vulnerability gate (Trivy): failed');
    expect(body).toBe(
      `${planText}\n${heading}\n${blank}\n${counts}\n\nThe vulnerability gate's section is too long for this comment: see the step summary of the gate job (https://github.com/your-org/images/actions/runs/42).\n`,
    );
  });

  it('protect the sign-offs: CODEOWNERS owns the workflows too, and review of the latest push by code owners is asked for', async () => {
    const text = await readFile(join(examples, 'CODEOWNERS'), 'utf8');
    const rules = text
      .split('\n')
      .filter((line) => line.trim() !== '' && !line.startsWith('#'))
      .map((line) => line.trim().split(/\s+/));
    const owners = (pattern: string) => rules.find(([p]) => p === pattern)?.slice(1);
    expect(owners('/.github/')).toEqual(owners(`images/**/${SIGN_OFF_FILE}`));
    const readme = (await readFile(join(root, 'README.md'), 'utf8')).replace(/\s+/g, ' ');
    const section = readme.slice(readme.indexOf('## Vulnerabilities and sign-off'), readme.indexOf('## GitHub Action'));
    const codeownersHeader = text
      .split('\n')
      .filter((line) => line.startsWith('#'))
      .map((line) => line.replace(/^#\s*/, ''))
      .join(' ');
    for (const [where, words] of [['CODEOWNERS', codeownersHeader], ['README', section], ['plan-comment.yml', header('plan-comment.yml')]] as const) {
      for (const setting of ['Require review from Code Owners', 'Require approval of the most recent reviewable push', 'Dismiss stale pull request approvals when new commits are pushed', '/.github/']) {
        expect(words, `${where}: ${setting}`).toContain(setting);
      }
    }
    // ECR's findings name no package: entries narrowed by purls or paths judge differently there.
    expect(section).toContain("ECR's findings carry no package URL or path");
  });

  it('give the sign-off files an owner of their own in the CODEOWNERS example, on its last matching line', async () => {
    const rules = (await readFile(join(examples, 'CODEOWNERS'), 'utf8'))
      .split('\n')
      .filter((line) => line.trim() !== '' && !line.startsWith('#'))
      .map((line) => line.trim().split(/\s+/));
    const signOffs = rules.filter(([pattern]) => pattern === `images/**/${SIGN_OFF_FILE}`);
    expect(signOffs).toHaveLength(1);
    expect(signOffs[0]?.slice(1).every((owner) => /^@[\w.-]+(\/[\w.-]+)?$/.test(owner))).toBe(true);
    // GitHub takes the last matching pattern: no line after it may take the sign-off files back.
    expect(rules.at(-1)).toEqual(signOffs[0]);
    expect(signOffPathFor('docker.io/library/postgres/Dockerfile')).toBe(`docker.io/library/postgres/${SIGN_OFF_FILE}`);
  });

  it.each([
    ['passes a plan and a gate that both exited 0', '0', '[{"source":"x"}]', '0', 'success'],
    ['passes a change with no image to scan, where no gate ran', '0', '[]', '', 'success'],
    ['fails findings not signed off, or an image not scanned', '0', '[{"source":"x"}]', '1', 'failure'],
    ['fails a gate that could not read its reports', '0', '[{"source":"x"}]', '2', 'failure'],
    ['fails a gate that did not run', '0', '[{"source":"x"}]', '', 'failure'],
    ['fails an invalid file, with nothing to gate', '1', '[]', '', 'failure'],
    ['fails a plan that never ran', '', '', '', 'failure'],
  ])('verdict: %s', async (_, planCode, images, gateCode, outcome) => {
    const verdict = (workflows.get('plan-comment.yml') as Workflow).jobs.verdict as Job;
    const result = await runJobSteps(verdict, await mkdtemp(join(tmpdir(), 'image-mirror-example-verdict-')), {
      'needs.plan.outputs.exit-code': planCode,
      'needs.plan.outputs.images': images,
      'needs.gate.outputs.exit-code': gateCode,
    });
    expect(result.outcome, stepLog(result)).toBe(outcome);
  });
});

/** A step's `with:` as the runner hands it to the action: text, each `${{ }}` replaced by its stand-in. */
function withInputs(file: string, inputs: Record<string, unknown>): Record<string, string> {
  const text = (value: unknown) =>
    String(value).replace(/\$\{\{\s*([\s\S]*?)\s*\}\}/g, (_, expression: string) => {
      const standIn = STAND_INS[expression];
      if (standIn === undefined) throw new Error(`${file}: no stand-in for \${{ ${expression} }}: add one to STAND_INS`);
      return standIn;
    });
  return Object.fromEntries(Object.entries(inputs).map(([name, value]) => [name, text(value)]));
}

// commander prints `(choices: "a", "b")` after an option's description, wrapped over lines.
function choicesOf(help: string, option: string): string[] | undefined {
  const block = new RegExp(`^\\s+(?:-\\w, )?${option}\\b[\\s\\S]*?(?=^\\s+-|(?![\\s\\S]))`, 'm').exec(help)?.[0] ?? '';
  const list = /\(choices:\s*([^)]*)\)/.exec(block.replace(/\s+/g, ' '))?.[1];
  return list === undefined ? undefined : [...list.matchAll(/"([^"]+)"/g)].map((m) => m[1] as string);
}

/**
 * Runs the `run:` steps of a workflow job (its `uses:` steps left out) through the runner stand-in, as the steps of a
 * composite action: each `${{ }}` of their `env:` replaced by its value in `values` (one missing there is an error).
 */
async function runJobSteps(job: Job, workspace: string, values: Readonly<Record<string, string>>, env: Readonly<Record<string, string>> = {}): Promise<ActionRun> {
  const text = (value: string) =>
    value.replace(/\$\{\{\s*([\s\S]*?)\s*\}\}/g, (_, expression: string) => {
      const value = values[expression];
      if (value === undefined) throw new Error(`no value for \${{ ${expression} }}`);
      return value;
    });
  const list = job.steps
    .filter((step) => step.run !== undefined)
    .map((step) => ({
      name: step.name,
      ...(step.if === undefined ? {} : { if: step.if }),
      shell: 'bash',
      env: Object.fromEntries(Object.entries(step.env ?? {}).map(([key, value]) => [key, text(value)])),
      run: step.run,
    }));
  const actionDir = await mkdtemp(join(tmpdir(), 'image-mirror-example-job-'));
  await writeFile(join(actionDir, 'action.yml'), stringify({ name: 'job', runs: { using: 'composite', steps: list } }));
  return runAction({ actionDir, workspace, env });
}

/** A scripted registry's answer: every manifest HEAD names a single image of `digest`; anything else is a 404. */
function resolvesTo(digest: string): (request: { method: string; path: string }) => { headers: Record<string, string> } | { status: number } {
  return (request) =>
    request.method === 'HEAD' && request.path.includes('/manifests/') ? { headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'docker-content-digest': digest, 'content-length': '512' } } : { status: 404 };
}

/** An image the plan job lists for the scan jobs' matrix. */
interface ListedImage {
  readonly source: string;
  readonly registry: string;
  readonly ref: string;
}

/**
 * `mirror plan --base --format json` on two trees, then the plan job's shell steps on its JSON (the action's outputs
 * stood in for): the plan's JSON, the job's workspace, and the images it lists to scan.
 */
async function planAndList(base: string, next: string): Promise<{ diff: string; workspace: string; images: ListedImage[] }> {
  const run = await runCli(['plan', '--images', next, '--base', base, '--format', 'json']);
  expect(run.code, run.stderr).toBe(0);
  const workspace = await mkdtemp(join(tmpdir(), 'image-mirror-example-plan-'));
  await writeFile(join(workspace, 'plan.json'), run.stdout);
  await writeFile(join(workspace, 'plan-output.md'), 'the comment\n');
  const listed = await runJobSteps((workflows.get('plan-comment.yml') as Workflow).jobs.plan as Job, workspace, {
    'steps.plan.outputs.exit-code': '0',
    'steps.plan.outputs.json-file': join(workspace, 'plan.json'),
    'steps.plan.outputs.markdown-file': join(workspace, 'plan-output.md'),
  });
  expect(listed.outcome, stepLog(listed)).toBe('success');
  return { diff: run.stdout, workspace, images: JSON.parse(listed.steps[0]?.outputs.images ?? '') as ListedImage[] };
}

/** A `docker` first on PATH that records each call (argv, stdin, DOCKER_CONFIG) and does nothing else. */
async function dockerStandIn(): Promise<{ env: Record<string, string>; calls(): Promise<{ argv: string[]; stdin: string; config: string | null }[]> }> {
  const dir = await mkdtemp(join(tmpdir(), 'image-mirror-docker-'));
  const record = join(dir, 'calls.jsonl');
  await writeFile(record, '');
  await mkdir(join(dir, 'bin'));
  await writeFile(
    join(dir, 'bin', 'docker'),
    [
      '#!/usr/bin/env node',
      "const { appendFileSync, readFileSync } = require('node:fs');",
      `appendFileSync(${JSON.stringify(record)}, JSON.stringify({ argv: process.argv.slice(2), stdin: readFileSync(0, 'utf8'), config: process.env.DOCKER_CONFIG ?? null }) + '\\n');`,
      '',
    ].join('\n'),
  );
  await chmod(join(dir, 'bin', 'docker'), 0o755);
  return {
    env: { PATH: `${join(dir, 'bin')}:${process.env.PATH ?? ''}` },
    calls: async () =>
      (await readFile(record, 'utf8'))
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as { argv: string[]; stdin: string; config: string | null }),
  };
}

/** What the steps of a run printed, for a failure message or a search. */
function stepLog(run: ActionRun): string {
  return run.steps.map((step) => `--- ${step.name} (${step.outcome})\n${step.stdout}${step.stderr}`).join('\n');
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

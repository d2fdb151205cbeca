import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { PLAN_COMMENT_MARKER } from '../functions/cli/render-diff.ts';
import { runAction } from './support/actions-runner.ts';
import { runCli, writeImagesTree } from './support/cli.ts';
import { stubbedAction } from './support/mirror-action-stub.ts';

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
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
}
interface Workflow {
  name: string;
  on: Record<string, { branches?: string[]; paths?: string[] } | null>;
  permissions?: Record<string, string>;
  jobs: Record<string, { steps: Step[]; needs?: string | string[]; if?: string; permissions?: Record<string, string> }>;
}

const workflows = new Map<string, Workflow>();
const texts = new Map<string, string>();
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
    expect(uses.map(({ file, step }) => `${file}: ${String(step.with?.command)}`)).toEqual(['plan-comment.yml: plan', 'sync-on-merge.yml: sync']);
    for (const { file, step } of uses) {
      for (const name of Object.keys(step.with ?? {})) expect(action.inputs, `${file}: with.${name}`).toHaveProperty(name);
      for (const [name, input] of Object.entries(action.inputs)) if (input.required === true && input.default === undefined) expect(step.with, `${file}: ${name}`).toHaveProperty(name);
    }
  });

  it('say in their opening comment which token and permissions each needs, and ask for no more', () => {
    const header = (file: string) =>
      (texts.get(file) ?? '')
        .split('\n')
        .filter((line) => line.startsWith('#'))
        .map((line) => line.replace(/^#\s*/, ''))
        .join(' ');
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
    expect(calls.map(({ file, args }) => `${file}: ${args[0]}`)).toEqual(['plan-comment.yml: plan', 'sync-on-merge.yml: sync']);
    // The plan shows the names the sync writes: both use the same target.
    const optionValue = (args: readonly string[], option: string) => args[args.indexOf(option) + 1];
    expect(calls.map(({ args }) => optionValue(args, '--target'))).toEqual([STAND_INS['vars.MIRROR_REGISTRY'], STAND_INS['vars.MIRROR_REGISTRY']]);
    expect(optionValue(calls[0]?.args ?? [], '--base')).toBe('origin/main');
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

  it('turn the plan JSON into the list of images to scan with their jq filter', async () => {
    const filter = jqProgram(/jq -c '([^']+)' "\$PLAN_JSON"/);
    const base = await writeImagesTree({ 'docker.io/library/postgres/Dockerfile': 'FROM postgres:14\n', 'docker.io/library/redis/Dockerfile': 'FROM redis:7\n' });
    const next = await writeImagesTree({
      'docker.io/library/postgres/Dockerfile': 'FROM postgres:14.13\n',
      'docker.io/library/redis/Dockerfile': 'FROM redis:7\n',
      'docker.io/library/redis-too/Dockerfile': 'FROM redis:7\n',
      'ghcr.io/hadolint/hadolint/Dockerfile': 'FROM ghcr.io/hadolint/hadolint:v2.12.0\n',
    });
    const plan = await runCli(['plan', '--images', next, '--base', base, '--format', 'json', '--no-cost']);
    expect(plan.code, plan.stderr).toBe(0);
    expect(JSON.parse(await jq(['-c', filter], plan.stdout))).toEqual(['ghcr.io/hadolint/hadolint:v2.12.0', 'docker.io/library/postgres:14.13']);
    const none = await runCli(['plan', '--images', base, '--base', base, '--format', 'json', '--no-cost']);
    expect((await jq(['-c', filter], none.stdout)).trim()).toBe('[]');
  });

  it('summarise a Trivy report as one table row per image with their jq filter', async () => {
    const filter = jqProgram(/jq -r --arg image "\$IMAGE" '([\s\S]+?)' trivy\.json/);
    const trivy = {
      SchemaVersion: 2,
      ArtifactName: 'postgres:14.13',
      Results: [
        { Target: 'debian 12', Vulnerabilities: [{ Severity: 'CRITICAL' }, { Severity: 'HIGH' }, { Severity: 'HIGH' }, { Severity: 'LOW' }] },
        { Target: 'usr/local/bin/gosu', Vulnerabilities: [{ Severity: 'MEDIUM' }] },
        { Target: 'Python' },
      ],
    };
    expect(await jq(['-r', '--arg', 'image', 'docker.io/library/postgres:14.13', filter], JSON.stringify(trivy))).toBe('| `docker.io/library/postgres:14.13` | 1 | 2 | 1 | 1 |\n');
    expect(await jq(['-r', '--arg', 'image', 'x:1', filter], JSON.stringify({ SchemaVersion: 2 }))).toBe('| `x:1` | 0 | 0 | 0 | 0 |\n');
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

function jqProgram(pattern: RegExp): string {
  const found = steps()
    .map(({ step }) => pattern.exec(step.run ?? '')?.[1])
    .find((program) => program !== undefined);
  expect(found, `a step runs ${pattern}`).toBeDefined();
  return found as string;
}

function jq(args: readonly string[], input: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = execFile('jq', [...args], (error, stdout, stderr) => (error ? reject(new Error(`jq ${args.join(' ')}: ${stderr || error.message}`)) : resolvePromise(stdout)));
    child.stdin?.end(input);
  });
}

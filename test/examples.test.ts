import { execFile } from 'node:child_process';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { PLAN_COMMENT_MARKER } from '../functions/cli/render-diff.ts';
import { runCli, writeImagesTree } from './support/cli.ts';

const root = resolve(import.meta.dirname, '..');
const examples = join(root, 'examples', 'github');
/** Where the workflows check image-mirror out, next to the team's images tree. */
const CHECKOUT = 'image-mirror/';
/** Files the workflows use that a step builds rather than the repository holds, with the file that says so. */
const BUILT: Record<string, { by: string; says: string }> = {
  'dist/mirror.mjs': { by: 'package.json', says: '--outdir=dist --entry-names=mirror' },
  'layers/crane/bin/crane': { by: 'scripts/build-crane-layer.sh', says: 'LAYER_BIN="$REPO_DIR/layers/crane/bin/crane"' },
};
/** Owners whose actions may be pinned by version tag; any other action must be pinned by full commit sha. */
const FIRST_PARTY = new Set(['actions', 'aws-actions', 'github']);

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
  'working-directory'?: string;
}
interface Workflow {
  name: string;
  env?: Record<string, string>;
  on: Record<string, { branches?: string[]; paths?: string[] } | null>;
  permissions?: Record<string, string>;
  jobs: Record<string, { steps: Step[]; needs?: string | string[]; if?: string }>;
}

const workflows = new Map<string, Workflow>();
const steps = () => [...workflows.entries()].flatMap(([file, workflow]) => Object.entries(workflow.jobs).flatMap(([job, { steps: list }]) => list.map((step) => ({ file, job, step }))));

beforeAll(async () => {
  for (const file of (await readdir(examples)).filter((name) => /\.ya?ml$/.test(name)).sort()) {
    workflows.set(file, parse(await readFile(join(examples, file), 'utf8'), { uniqueKeys: true }) as Workflow);
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

  it('pin every action: first-party ones to a version, others to a full commit sha', () => {
    const used = steps().filter(({ step }) => step.uses !== undefined);
    expect(used.length).toBeGreaterThan(0);
    for (const { file, step } of used) {
      const match = /^([\w.-]+)\/[\w./-]+@(.+)$/.exec(step.uses as string);
      expect(match, `${file}: ${step.uses}`).not.toBeNull();
      const [, owner = '', ref = ''] = match ?? [];
      const pinned = FIRST_PARTY.has(owner) ? /^(v\d+(\.\d+){0,2}|[0-9a-f]{40})$/ : /^[0-9a-f]{40}$/;
      expect(ref, `${file}: ${step.uses}`).toMatch(pinned);
    }
    expect(used.map(({ step }) => step.uses)).toContain('aquasecurity/trivy-action@57a97c7e7821a5776cebc9bb87c984fa69cba8f1');
  });

  it('check image-mirror out at a pinned ref into the folder the commands use', () => {
    const checkouts = steps().filter(({ step }) => step.with?.repository !== undefined);
    expect(checkouts.map(({ file }) => file)).toEqual(['plan-comment.yml', 'sync-on-merge.yml']);
    for (const { step } of checkouts) expect(step.with).toMatchObject({ path: CHECKOUT.slice(0, -1), ref: '${{ env.IMAGE_MIRROR_REF }}' });
    // A release tag or a commit, never a branch that moves under the workflow.
    for (const [file, workflow] of workflows) expect(workflow.env?.IMAGE_MIRROR_REF, file).toMatch(/^(v\d+\.\d+\.\d+|[0-9a-f]{40})$/);
  });

  it.each([
    [0, 0, false],
    [3, 0, true],
    [1, 1, false],
    [2, 2, false],
  ])('sync step: mirror exiting %i ends the step with %i (3, images deferred for the pull budget, is a notice)', async (mirrorCode, stepCode, notice) => {
    const sync = steps().find(({ file, step }) => file === 'sync-on-merge.yml' && (step.run ?? '').includes('mirror.mjs sync')) as { step: Step };
    // The step's own script, as the runner runs it (bash -e), with `node` standing in for the mirror's exit code.
    const script = `set -e\nnode() { return ${mirrorCode}; }\n${sync.step.run}`;
    const dir = await writeImagesTree({});
    const result = await new Promise<{ code: number; stdout: string }>((done) => {
      execFile('bash', ['-c', script], { env: { PATH: process.env.PATH, RUNNER_TEMP: dir } }, (error, stdout) => done({ code: error ? Number(error.code) : 0, stdout }));
    });
    expect(result.code).toBe(stepCode);
    expect(result.stdout.includes('::notice title=image-mirror::images deferred')).toBe(notice);
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

  it('call only mirror commands and options the CLI has, with values it accepts', async () => {
    const calls = steps().flatMap(({ file, step }) => mirrorCalls(step.run ?? '').map((args) => ({ file, args })));
    expect(calls.map(({ file, args }) => `${file}: ${args[0]}`)).toEqual(['plan-comment.yml: plan', 'plan-comment.yml: plan', 'sync-on-merge.yml: sync']);
    const help = new Map<string, string>();
    for (const { file, args } of calls) {
      const [command = '', ...rest] = args;
      if (!help.has(command)) {
        const run = await runCli([command, '--help']);
        expect(run.code, `${file}: mirror ${command} --help`).toBe(0);
        help.set(command, run.stdout);
      }
      const text = help.get(command) as string;
      rest.forEach((token, i) => {
        if (!token.startsWith('--')) return;
        const option = token.split('=')[0] as string;
        expect(text, `${file}: mirror ${command} ${option}`).toMatch(new RegExp(`(^|[\\s,])${option}(?![\\w-])`, 'm'));
        const choices = choicesOf(text, option);
        if (choices) expect(choices, `${file}: mirror ${command} ${option} ${rest[i + 1]}`).toContain(rest[i + 1]);
      });
    }
  });

  it('use only files the image-mirror repository has or builds, and npm scripts it defines', async () => {
    const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(await exists(join(root, 'package-lock.json')), 'npm ci needs package-lock.json').toBe(true);
    for (const { file, step } of steps()) {
      const script = step.run ?? '';
      for (const [, name] of script.matchAll(/npm run (\S+)/g)) expect(pkg.scripts, `${file}: npm run ${name}`).toHaveProperty(name as string);
      const inCheckout = step['working-directory'] === CHECKOUT.slice(0, -1);
      const paths = [
        ...[...script.matchAll(/(?:^|[\s"'=])image-mirror\/([\w./-]+)/g)].map((m) => m[1] as string),
        ...(inCheckout ? [...script.matchAll(/(?:^|\s)(scripts\/[\w./-]+)/g)].map((m) => m[1] as string) : []),
        ...Object.values(step.with ?? {}).flatMap((value) => (typeof value === 'string' && value.startsWith(CHECKOUT) ? [value.slice(CHECKOUT.length)] : [])),
      ];
      for (const path of paths) {
        const built = BUILT[path];
        if (built) expect(await readFile(join(root, built.by), 'utf8'), `${file}: ${path} is built by ${built.by}`).toContain(built.says);
        else expect(await exists(join(root, path)), `${file}: ${path}`).toBe(true);
      }
    }
  });

  it('find the comment they posted before by the marker the markdown starts with', () => {
    const script = steps().find(({ step }) => step.uses?.startsWith('actions/github-script@'))?.step.with?.script as string;
    expect(script).toContain(`const marker = '${PLAN_COMMENT_MARKER}';`);
    expect(script).toContain('c.body?.startsWith(marker)');
  });

  it('turn the plan JSON into the list of images to scan with their jq filter', async () => {
    const filter = jqProgram(/jq -c '([^']+)' plan\.json/);
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

/** The argument lists of every `node …/dist/mirror.mjs …` call of a script, up to the first shell operator. */
function mirrorCalls(script: string): string[][] {
  const calls: string[][] = [];
  for (const line of script.replace(/\\\n\s*/g, ' ').split('\n')) {
    const tokens = shellWords(line);
    const at = tokens.findIndex((token) => token.endsWith('dist/mirror.mjs'));
    if (at === -1) continue;
    const stop = tokens.findIndex((token, i) => i > at && /^(\||\|\||&&|;|>|>>|2>|<)$/.test(token));
    calls.push(tokens.slice(at + 1, stop === -1 ? undefined : stop));
  }
  return calls;
}

// Enough of the shell's word splitting for these scripts: quotes kept together, operators apart.
function shellWords(line: string): string[] {
  return [...line.matchAll(/"[^"]*"|'[^']*'|\|\||&&|>>|2>|[|;<>]|[^\s|;<>"']+/g)].map((m) => m[0].replace(/^(["'])(.*)\1$/, '$2'));
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

function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, cp, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { manifestDigest, pushImage, type SeedTarget } from '../scripts/lib/oci-seed.ts';
import { PLAN_COMMENT_MARKER } from '../functions/cli/render-diff.ts';
import type { Report } from '../shared/plan/report.ts';
import { trivyReportJson } from './fixtures/trivy-report.ts';
import { type ActionRun, runAction, type StepRun } from './support/actions-runner.ts';
import { startDockerHub } from './support/docker-hub.ts';
import { stack, uniqueName } from './support/stack.ts';
import { listening } from './support/upstreams/listening.ts';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '..');
/** What the action's build needs of the repository: the action, the npm manifests and the CLI's sources. */
const ACTION_FILES = ['action.yml', 'action', 'package.json', 'package-lock.json', 'tsconfig.json', 'functions', 'shared'];

/** A copy of the action as a workflow checks it out (github.action_path), without node_modules or dist/. */
async function copyAction(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'image-mirror-action-'));
  for (const entry of ACTION_FILES) await cp(join(root, entry), join(dir, entry), { recursive: true });
  return dir;
}

/** A copy of the action holding dist/mirror.mjs, built by the package's own `npm run build` with this checkout's tools. */
async function builtAction(): Promise<string> {
  const dir = await copyAction();
  await symlink(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir');
  try {
    await run('npm', ['run', '--silent', 'build'], { cwd: dir });
  } finally {
    await rm(join(dir, 'node_modules'));
  }
  return dir;
}

/** A workspace holding an images tree at images/ (keys are paths under it), and a base tree at base/ when given. */
async function workspaceWith(images: Record<string, string>, base?: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'image-mirror-workspace-'));
  const trees: [string, Record<string, string>][] = [['images', images], ...(base === undefined ? [] : [['base', base] as [string, Record<string, string>]])];
  for (const [tree, files] of trees) {
    await mkdir(join(dir, tree), { recursive: true });
    for (const [path, text] of Object.entries(files)) {
      await mkdir(dirname(join(dir, tree, path)), { recursive: true });
      await writeFile(join(dir, tree, path), text);
    }
  }
  return dir;
}

function step(result: ActionRun, id: string): StepRun {
  const found = result.steps.find((s) => s.id === id);
  if (!found) throw new Error(`no step ${id} in ${result.steps.map((s) => s.id).join(', ')}`);
  return found;
}

function log(result: ActionRun): string {
  return result.steps.map((s) => `--- ${s.name} (${s.outcome}, exit ${s.exitCode})\n${s.stdout}${s.stderr}`).join('\n');
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Files left in the run's temp directory whose name starts with `prefix`. */
async function leftIn(dir: string, prefix: string): Promise<string[]> {
  return (await readdir(dir)).filter((name) => name.startsWith(prefix));
}

describe('the image-mirror GitHub Action (action.yml), run as the runner runs it', () => {
  const s = stack();
  const source: SeedTarget = { registry: s.sourceRegistry };
  const target: SeedTarget = { registry: s.targetRegistry, auth: { username: s.targetUsername, password: s.targetPassword } };
  const targetLogin = JSON.stringify({ [s.targetRegistry]: { username: s.targetUsername, password: s.targetPassword } });
  let action = '';

  beforeAll(async () => {
    action = await builtAction();
  });

  it('plans a tree: exit code, JSON report and markdown as outputs, the markdown in the step summary', async () => {
    const workspace = await workspaceWith({ 'docker.io/library/redis/Dockerfile': 'FROM redis:7\n', 'quay.io/prometheus/node-exporter/Dockerfile': 'FROM quay.io/prometheus/node-exporter:v1.8.2\n' });
    const result = await runAction({ actionDir: action, workspace, inputs: { command: 'plan', target: 'registry.example.com/mirror' } });
    expect(result.outcome, log(result)).toBe('success');
    expect(step(result, 'build').stdout).toContain('using the bundled CLI already in the action');
    // A plan copies nothing: no crane is installed for it.
    expect(step(result, 'crane').outcome).toBe('skipped');
    expect(result.outputs['exit-code']).toBe('0');
    const report = JSON.parse(result.outputs.json ?? '') as Report;
    expect(report.results.map((r) => [r.source, r.target, r.status])).toEqual([
      ['docker.io/library/redis:7', 'registry.example.com/mirror/docker.io/library/redis:7', 'planned'],
      ['quay.io/prometheus/node-exporter:v1.8.2', 'registry.example.com/mirror/quay.io/prometheus/node-exporter:v1.8.2', 'planned'],
    ]);
    expect(await readFile(result.outputs['json-file'] ?? '', 'utf8')).toBe(`${result.outputs.json}\n`);
    const markdown = result.outputs.markdown ?? '';
    expect(markdown).toContain('docker.io/library/redis:7');
    expect(markdown).toContain('quay.io/prometheus/node-exporter:v1.8.2');
    expect(result.summary.trim()).toBe(markdown.trim());
  });

  it('fails the step with exit code 1 on an invalid Dockerfile, and still reports every file', async () => {
    const workspace = await workspaceWith({
      'docker.io/library/redis/Dockerfile': 'FROM redis:7\n',
      'docker.io/library/broken/Dockerfile': 'FROM broken:${UNDECLARED}\n',
    });
    const result = await runAction({ actionDir: action, workspace, inputs: { command: 'plan' } });
    expect(result.outcome).toBe('failure');
    expect(step(result, 'mirror')).toMatchObject({ outcome: 'failure', exitCode: 1 });
    expect(result.outputs['exit-code']).toBe('1');
    const report = JSON.parse(result.outputs.json ?? '') as Report;
    expect(report.errors.map((e) => e.file)).toEqual(['docker.io/library/broken/Dockerfile']);
    expect(report.results.map((r) => r.source)).toEqual(['docker.io/library/redis:7']);
    expect(result.summary).toContain('docker.io/library/broken/Dockerfile');
    expect(step(result, 'mirror').stdout).toContain('::error title=image-mirror::mirror plan exited 1');
  });

  it('plans a change against a base: the markdown is the pull-request comment, the credentials file is gone after', async () => {
    const workspace = await workspaceWith(
      { 'docker.io/library/redis/Dockerfile': 'FROM redis:7.2\n', 'docker.io/library/nginx/Dockerfile': 'FROM nginx:1.27\n' },
      { 'docker.io/library/redis/Dockerfile': 'FROM redis:7\n' },
    );
    const result = await runAction({
      actionDir: action,
      workspace,
      inputs: { command: 'plan', base: 'base', credentials: JSON.stringify({ 'docker.io': { username: 'someone', password: 'not-printed-anywhere-1' } }), args: '--no-cost' },
    });
    expect(result.outcome, log(result)).toBe('success');
    expect(result.outputs.markdown?.trim().startsWith(PLAN_COMMENT_MARKER)).toBe(true);
    const diff = JSON.parse(result.outputs.json ?? '') as { added: { source: string }[]; changed: { source: string }[] };
    expect(diff.added.map((entry) => entry.source)).toEqual(['docker.io/library/nginx:1.27']);
    expect(diff.changed.map((entry) => entry.source)).toEqual(['docker.io/library/redis:7.2']);
    expect(await leftIn(result.runnerTemp, 'image-mirror-credentials')).toEqual([]);
    expect(log(result)).not.toContain('not-printed-anywhere-1');
  });

  it('gates a change on Trivy reports: a finding nobody signed off fails the step, a sign-off beside the Dockerfile passes it', async () => {
    const report = trivyReportJson({ artifactName: 'postgres:14.13', repoTags: ['postgres:14.13'], vulnerabilities: [{ id: 'CVE-2024-0001', severity: 'CRITICAL', pkgName: 'libssl3' }] });
    const workspace = await workspaceWith(
      { 'docker.io/library/postgres/Dockerfile': 'FROM postgres:14.13\n', 'docker.io/library/redis/Dockerfile': 'FROM redis:7.2\n' },
      { 'docker.io/library/postgres/Dockerfile': 'FROM postgres:14\n' },
    );
    await mkdir(join(workspace, 'reports'));
    await writeFile(join(workspace, 'reports', 'trivy-0.json'), JSON.stringify(report));
    const inputs = { command: 'gate', base: 'base', trivy: 'reports/', severity: 'CRITICAL,HIGH' };
    const failed = await runAction({ actionDir: action, workspace, inputs });
    expect(failed.outcome, log(failed)).toBe('failure');
    expect(failed.outputs['exit-code']).toBe('1');
    expect(step(failed, 'crane').outcome).toBe('skipped');
    expect(step(failed, 'mirror').stdout).toContain('::error title=image-mirror::mirror gate exited 1: findings not signed off, or an image not scanned');
    // The markdown is the comment's section: the finding, and the image the change adds that no report scanned.
    expect(failed.outputs.markdown).toContain('CVE-2024-0001');
    expect(failed.outputs.markdown).toContain('docker.io/library/redis:7.2');
    expect(failed.summary.trim()).toBe(failed.outputs.markdown?.trim());
    // The gate's report is in json-file only: it grows with the findings past what an output holds.
    expect(failed.outputs.json).toBe('');
    expect(JSON.parse(await readFile(failed.outputs['json-file'] ?? '', 'utf8'))).toMatchObject({ passed: false, summary: { notSignedOff: 1, notScanned: 1 } });

    await writeFile(join(workspace, 'reports', 'trivy-1.json'), JSON.stringify(trivyReportJson({ artifactName: 'redis:7.2', repoTags: ['redis:7.2'] })));
    await writeFile(
      join(workspace, 'images', 'docker.io/library/postgres/.trivyignore.yaml'),
      'vulnerabilities:\n  - id: CVE-2024-0001\n    statement: libssl3 serves only the client tools, which nothing runs\n    expired_at: 2999-01-01\n',
    );
    const passed = await runAction({ actionDir: action, workspace, inputs });
    expect(passed.outcome, log(passed)).toBe('success');
    expect(passed.outputs['exit-code']).toBe('0');
    expect(JSON.parse(await readFile(passed.outputs['json-file'] ?? '', 'utf8'))).toMatchObject({ passed: true, summary: { signedOff: 1, notSignedOff: 0, notScanned: 0 } });
  });

  it('syncs into a registry with the crane given, the logins passed in a file that is removed after', async () => {
    const ns = uniqueName('action');
    const pushed = await pushImage(source, `${ns}/app`, '1.0');
    const workspace = await workspaceWith({ [`${s.sourceRegistry}/${ns}/app/Dockerfile`]: `FROM ${s.sourceRegistry}/${ns}/app:1.0\n` });
    const prefix = `mirror-${ns}`;
    const result = await runAction({
      actionDir: action,
      workspace,
      inputs: { command: 'sync', target: `${s.targetRegistry}/${prefix}`, credentials: targetLogin, crane: s.crane, args: '--concurrency 2\n--quiet' },
    });
    expect(result.outcome, log(result)).toBe('success');
    expect(step(result, 'crane').outcome).toBe('skipped');
    expect(result.outputs['exit-code']).toBe('0');
    const report = JSON.parse(result.outputs.json ?? '') as Report;
    expect(report.results.map((r) => [r.source, r.status])).toEqual([[`${s.sourceRegistry}/${ns}/app:1.0`, 'copied']]);
    expect(await manifestDigest(target, `${prefix}/${s.sourceRegistry.replace(':', '-')}/${ns}/app`, '1.0')).toBe(pushed.digest);
    expect(result.summary).toContain(`${s.sourceRegistry}/${ns}/app:1.0`);
    expect(await leftIn(result.runnerTemp, 'image-mirror-credentials')).toEqual([]);
    expect(log(result)).not.toContain(s.targetPassword);
  });

  it.each([
    ['true', 'failure'],
    ['false', 'success'],
  ])('with fail-on-deferred %s, a sync whose images are all deferred for the pull budget (exit 3) ends in %s', async (failOnDeferred, outcome) => {
    const hub = await startDockerHub({ backend: s.sourceRegistry, limit: 100, remaining: 20 });
    try {
      const ns = uniqueName('deferred');
      await pushImage(source, `${ns}/app`, '1');
      const workspace = await workspaceWith({ [`${hub.host}/${ns}/app/Dockerfile`]: `FROM ${hub.host}/${ns}/app:1\n` });
      const result = await runAction({
        actionDir: action,
        workspace,
        inputs: { command: 'sync', target: `${s.targetRegistry}/mirror-${ns}`, credentials: targetLogin, crane: s.crane, 'fail-on-deferred': failOnDeferred },
      });
      expect(result.outcome, log(result)).toBe(outcome);
      expect(result.outputs['exit-code']).toBe('3');
      expect((JSON.parse(result.outputs.json ?? '') as Report).results.map((r) => r.status)).toEqual(['deferred']);
      expect(hub.manifestGets).toBe(0);
      const mirror = step(result, 'mirror').stdout;
      if (failOnDeferred === 'false') expect(mirror).toContain('::notice title=image-mirror::images deferred');
      else expect(mirror).toContain('::error title=image-mirror::mirror sync exited 3');
    } finally {
      await hub.close();
    }
  });

  it('passes inputs as data, never as code: a target holding shell syntax is a usage error, nothing runs', async () => {
    const workspace = await workspaceWith({ 'docker.io/library/redis/Dockerfile': 'FROM redis:7\n' });
    const result = await runAction({ actionDir: action, workspace, inputs: { command: 'plan', target: '$(touch injected)`touch injected`', args: '$(touch injected) *' } });
    expect(result.outputs['exit-code']).toBe('2');
    expect(result.outcome).toBe('failure');
    expect(await exists(join(workspace, 'injected'))).toBe(false);
    const bad = await runAction({ actionDir: action, workspace, inputs: { command: 'plan; touch injected' } });
    expect(bad.outputs['exit-code']).toBe('2');
    expect(step(bad, 'mirror').stdout).toContain('::error title=image-mirror::command must be a mirror command');
    expect(await exists(join(workspace, 'injected'))).toBe(false);
  });

  describe('installing crane (a release served from a loopback server in place of GitHub)', () => {
    /** A release tarball whose crane runs the real one, leaving a mark of each call. */
    async function fakeRelease(mark: string): Promise<Buffer> {
      const dir = await mkdtemp(join(tmpdir(), 'image-mirror-crane-release-'));
      await writeFile(join(dir, 'crane'), `#!/bin/sh\necho "$*" >> '${mark}'\nexec '${s.crane}' "$@"\n`);
      await chmod(join(dir, 'crane'), 0o755);
      await run('tar', ['-czf', join(dir, 'release.tar.gz'), '-C', dir, 'crane']);
      return readFile(join(dir, 'release.tar.gz'));
    }

    async function serve(body: Buffer): Promise<{ url: string; paths: string[]; close(): Promise<void> }> {
      const paths: string[] = [];
      const server = createServer((request, response) => {
        paths.push(request.url ?? '');
        response.writeHead(200, { 'content-type': 'application/gzip', 'content-length': body.length }).end(body);
      });
      const { port, close } = await listening(server);
      return { url: `http://127.0.0.1:${port}/releases/download`, paths, close };
    }

    const asset = () => `go-containerregistry_${process.platform === 'darwin' ? 'Darwin' : 'Linux'}_${process.arch === 'arm64' ? 'arm64' : 'x86_64'}.tar.gz`;

    it('refuses a tarball whose sha256 is not the pinned one: nothing installed, mirror not run', async () => {
      const mark = join(await mkdtemp(join(tmpdir(), 'image-mirror-mark-')), 'calls');
      const server = await serve(await fakeRelease(mark));
      try {
        const workspace = await workspaceWith({ 'docker.io/library/redis/Dockerfile': 'FROM redis:7\n' });
        const result = await runAction({ actionDir: action, workspace, inputs: { command: 'sync', target: `${s.targetRegistry}/refused`, 'crane-releases-url': server.url } });
        expect(server.paths).toEqual([`/releases/download/v0.20.2/${asset()}`]);
        expect(result.outcome).toBe('failure');
        expect(step(result, 'crane')).toMatchObject({ outcome: 'failure', exitCode: 1 });
        expect(step(result, 'crane').stdout).toMatch(/::error title=image-mirror: installing crane::checksum mismatch for go-containerregistry_\w+\.tar\.gz .*expected sha256 [0-9a-f]{64}, got [0-9a-f]{64}; nothing installed/);
        expect(step(result, 'mirror').outcome).toBe('skipped');
        expect(result.outputs['exit-code']).toBe('');
        expect(await exists(mark)).toBe(false);
        const dirs = await leftIn(result.runnerTemp, 'image-mirror-crane');
        for (const dir of dirs) expect(await readdir(join(result.runnerTemp, dir))).toEqual([]);
      } finally {
        await server.close();
      }
    });

    it('installs another release given with its sha256, and the sync runs with it', async () => {
      const mark = join(await mkdtemp(join(tmpdir(), 'image-mirror-mark-')), 'calls');
      const release = await fakeRelease(mark);
      const server = await serve(release);
      try {
        const ns = uniqueName('action-crane');
        await pushImage(source, `${ns}/app`, '1');
        const workspace = await workspaceWith({ [`${s.sourceRegistry}/${ns}/app/Dockerfile`]: `FROM ${s.sourceRegistry}/${ns}/app:1\n` });
        const result = await runAction({
          actionDir: action,
          workspace,
          inputs: {
            command: 'sync',
            target: `${s.targetRegistry}/mirror-${ns}`,
            credentials: targetLogin,
            'crane-releases-url': server.url,
            'crane-version': 'v0.0.1-test',
            'crane-sha256': createHash('sha256').update(release).digest('hex'),
          },
        });
        expect(result.outcome, log(result)).toBe('success');
        expect(server.paths).toEqual([`/releases/download/v0.0.1-test/${asset()}`]);
        expect(step(result, 'crane').outputs.path).toMatch(/\/image-mirror-crane\.\w+\/crane$/);
        expect(step(result, 'mirror').env.MIRROR_CRANE).toBe(step(result, 'crane').outputs.path);
        expect((JSON.parse(result.outputs.json ?? '') as Report).results.map((r) => r.status)).toEqual(['copied']);
        expect(await readFile(mark, 'utf8')).toMatch(/^copy /m);
      } finally {
        await server.close();
      }
    });

    it('refuses another release without its sha256', async () => {
      const workspace = await workspaceWith({});
      const result = await runAction({ actionDir: action, workspace, inputs: { command: 'sync', target: 'registry.example.com/m', 'crane-version': 'v0.19.0', 'crane-releases-url': 'http://127.0.0.1:9/unused' } });
      expect(step(result, 'crane').outcome).toBe('failure');
      expect(step(result, 'crane').stdout).toContain('no pinned checksum for crane v0.19.0: set crane-sha256');
      expect(step(result, 'mirror').outcome).toBe('skipped');
    });
  });

  it('builds the CLI from a checkout without dist/: runtime dependencies from the lock file and the pinned esbuild only', async () => {
    const bare = await copyAction();
    try {
      const workspace = await workspaceWith({ 'docker.io/library/redis/Dockerfile': 'FROM redis:7\n' });
      // The npm registry is reached (as on GitHub); what npm has cached here is used first.
      const result = await runAction({ actionDir: bare, workspace, inputs: { command: 'plan' }, env: { npm_config_prefer_offline: 'true' } });
      expect(result.outcome, log(result)).toBe('success');
      expect(step(result, 'build').outputs.cli).toBe(join(bare, 'dist', 'mirror.mjs'));
      expect(await exists(join(bare, 'node_modules', 'yaml'))).toBe(true);
      // Dev dependencies stay out: the bundle needs none of them.
      for (const dev of ['vitest', 'typescript', 'serverless', 'esbuild']) expect(await exists(join(bare, 'node_modules', dev)), dev).toBe(false);
      expect((JSON.parse(result.outputs.json ?? '') as Report).results.map((r) => r.source)).toEqual(['docker.io/library/redis:7']);
    } finally {
      // Its node_modules weighs over 100 MB.
      await rm(bare, { recursive: true, force: true });
    }
  }, 300_000);
});

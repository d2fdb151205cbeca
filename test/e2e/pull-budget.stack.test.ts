import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { pushImage, pushIndex, type SeedTarget } from '../../scripts/lib/oci-seed.ts';
import type { Report } from '../../shared/plan/report.ts';
import { runCli, writeImagesTree } from '../support/cli.ts';
import { type DockerHubEmulator, type DockerHubOptions, startDockerHub } from '../support/docker-hub.ts';
import { stack, uniqueName } from '../support/stack.ts';
import { cleanedAfterEach } from '../support/upstreams/cleanup.ts';

// The pull budget against a Docker Hub–like source (test/support/docker-hub.ts): every manifest GET spends a pull,
// HEADs are free and tell what is left, and a GET past the limit is refused with 429 TOOMANYREQUESTS.
describe('mirror sync spends no more of a source pull budget than it may (Docker Hub emulator, real crane)', () => {
  const s = stack();
  const backend: SeedTarget = { registry: s.sourceRegistry };
  const { started } = cleanedAfterEach();


  async function startHub(options: Omit<DockerHubOptions, 'backend'>): Promise<DockerHubEmulator> {
    return started(await startDockerHub({ backend: s.sourceRegistry, ...options }));
  }

  /** Six single images and two indexes of two platforms: 6 × 1 + 2 × 3 = 12 pulls to copy them all. */
  async function seedTree(hub: DockerHubEmulator, ns: string): Promise<string> {
    const files: Record<string, string> = {};
    for (let i = 1; i <= 6; i += 1) {
      await pushImage(backend, `${ns}/single-${i}`, '1');
      files[`${hub.host}/${ns}/single-${i}/Dockerfile`] = `FROM ${hub.host}/${ns}/single-${i}:1\n`;
    }
    for (const name of ['multi-a', 'multi-b']) {
      await pushIndex(backend, `${ns}/${name}`, '1', ['linux/amd64', 'linux/arm64']);
      files[`${hub.host}/${ns}/${name}/Dockerfile`] = `FROM ${hub.host}/${ns}/${name}:1\n`;
    }
    return writeImagesTree(files);
  }

  const sync = async (images: string, prefix: string, ...extra: string[]) => {
    const run = await runCli(['sync', '--images', images, '--target', `${s.targetRegistry}/${prefix}`, '--credentials', credentialsFile, '--json', '--quiet', ...extra], { CRANE: s.crane });
    return { ...run, report: JSON.parse(run.stdout) as Report };
  };

  // The target's login, through a credentials file as a user would give it.
  let credentialsFile = '';
  beforeAll(async () => {
    credentialsFile = join(await writeImagesTree({}), 'credentials.json');
    await writeFile(credentialsFile, JSON.stringify({ [s.targetRegistry]: { username: s.targetUsername, password: s.targetPassword } }), { mode: 0o600 });
  });

  it('copies what the budget allows above the reserve, defers the rest with exit 3, and spends no 429; the next run copies the deferred', async () => {
    const hub = await startHub({ limit: 100, remaining: 30 });
    const ns = uniqueName('budget');
    const images = await seedTree(hub, ns);
    const prefix = `mirror-${ns}`;

    // 30 left, 20 kept in reserve: 10 pulls may be spent, the tree needs 12.
    const first = await sync(images, prefix, '--pull-reserve', '20');
    expect(first.stderr).toBe('');
    expect(first.code).toBe(3);
    const statuses = first.report.results.map((r) => r.status);
    expect(statuses.every((status) => status === 'copied' || status === 'deferred')).toBe(true);
    expect(first.report.summary.deferred).toBeGreaterThan(0);
    expect(first.report.summary.failed).toBe(0);
    // Not one pull past the reserve, and not one refused: the mirror heard no 429.
    expect(hub.tooManyRequests).toBe(0);
    expect(hub.remaining).toBeGreaterThanOrEqual(20);
    // The run counts its pulls as the registry does.
    expect(first.report.summary.pulls).toBe(hub.manifestGets);
    expect(first.report.summary.pulls).toBeLessThanOrEqual(10);
    for (const result of first.report.results.filter((r) => r.status === 'deferred')) {
      expect(result.error).toMatch(/deferred to the next run: it needs \d+ pulls? of localhost:\d+'s budget \(100 per 6 h for 192\.0\.2\.1\), \d+ remain and 20 are kept in reserve/);
      expect(result.retryable).toBe(false);
      expect(result.budget).toMatchObject({ limit: 100, windowSeconds: 21_600, source: '192.0.2.1' });
    }
    for (const result of first.report.results.filter((r) => r.status === 'copied')) {
      expect(result.pulls).toBe(result.source.includes('multi') ? 3 : 1);
    }
    expect(first.report.budgets).toEqual([{ registry: hub.host, limit: 100, remaining: expect.any(Number), windowSeconds: 21_600, source: '192.0.2.1', reserve: 20 }]);
    // What the run says is left is never more than the registry says (it may be less: answers overtaken by pulls count low).
    expect(first.report.budgets?.[0]?.remaining).toBeLessThanOrEqual(hub.remaining);
    expect(first.report.budgets?.[0]?.remaining).toBeGreaterThanOrEqual(20);

    // A new window: the next run copies exactly what was deferred, and spends nothing on what it copied before.
    hub.reset();
    hub.setRemaining(100);
    const second = await sync(images, prefix, '--pull-reserve', '20');
    expect(second.code).toBe(0);
    const before = new Map(first.report.results.map((r) => [r.source, r.status]));
    for (const result of second.report.results) {
      expect([result.source, result.status]).toEqual([result.source, before.get(result.source) === 'deferred' ? 'copied' : 'skipped']);
    }
    expect(second.report.summary.pulls).toBe(hub.manifestGets);
    expect(hub.tooManyRequests).toBe(0);
  });

  it('defers every image, spending nothing, when the budget is already at the reserve', async () => {
    const hub = await startHub({ limit: 100, remaining: 20 });
    const ns = uniqueName('spent');
    const images = await seedTree(hub, ns);
    const run = await sync(images, `mirror-${ns}`);
    expect(run.code).toBe(3);
    expect(run.report.results.map((r) => r.status)).toEqual(Array(8).fill('deferred'));
    expect(hub.manifestGets).toBe(0);
    expect(hub.remaining).toBe(20);
  });

  it('takes a pull-limit 429 during a copy as deferred, never retried, when the registry had not said the budget was spent', async () => {
    // Other clients spent the pulls unseen: the first we hear of it is the 429, and each retry would spend more.
    const hub = await startHub({ limit: 100, remaining: 2, silent: true });
    const ns = uniqueName('silent');
    await pushIndex(backend, `${ns}/multi`, '1', ['linux/amd64', 'linux/arm64', 'linux/arm/v7']);
    const images = await writeImagesTree({ [`${hub.host}/${ns}/multi/Dockerfile`]: `FROM ${hub.host}/${ns}/multi:1\n` });
    const run = await sync(images, `mirror-${ns}`);
    expect(run.code).toBe(3);
    expect(run.report.results).toHaveLength(1);
    expect(run.report.results[0]).toMatchObject({ status: 'deferred', retryable: false });
    expect(run.report.results[0]?.error).toContain('TOOMANYREQUESTS');
    expect(hub.tooManyRequests).toBe(1);
  });

  it('shows the budget and the deferred images in the text summary', async () => {
    const hub = await startHub({ limit: 200, remaining: 21, source: 'mirror-bot' });
    const ns = uniqueName('text');
    await pushImage(backend, `${ns}/a`, '1');
    await pushImage(backend, `${ns}/b`, '1');
    const images = await writeImagesTree({
      [`${hub.host}/${ns}/a/Dockerfile`]: `FROM ${hub.host}/${ns}/a:1\n`,
      [`${hub.host}/${ns}/b/Dockerfile`]: `FROM ${hub.host}/${ns}/b:1\n`,
    });
    const run = await runCli(['sync', '--images', images, '--target', `${s.targetRegistry}/mirror-${ns}`, '--credentials', credentialsFile, '--concurrency', '1', '--quiet'], { CRANE: s.crane });
    expect(run.code).toBe(3);
    expect(run.stdout).toContain('Deferred images (the next run copies them; nothing failed):');
    expect(run.stdout).toContain(`  ${hub.host}: 20 of 200 per 6 h left (counted for mirror-bot), 20 kept in reserve`);
    expect(run.stdout).toMatch(/Pull budgets \(this run spent 1 pull\):/);
    expect(run.stdout).toContain('2 images planned: 1 copied, 0 skipped, 0 failed, 1 deferred; 0 invalid files');
  });
});

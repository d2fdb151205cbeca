import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manifestDigest, pushImage, pushIndex, type SeedTarget } from '../../scripts/lib/oci-seed.ts';
import type { Report } from '../../shared/plan/report.ts';
import { runCli, writeImagesTree } from '../support/cli.ts';
import type { FaultProxy } from '../support/fault-proxy.ts';
import { manifestRequests, stack, uniqueName, watchSource } from '../support/stack.ts';

describe('mirror sync --platform with a single-platform image (real registries, real crane)', () => {
  const s = stack();
  const source: SeedTarget = { registry: s.sourceRegistry };
  const target: SeedTarget = { registry: s.targetRegistry, auth: { username: s.targetUsername, password: s.targetPassword } };
  const ns = uniqueName('platform');
  const prefix = `mirror-${ns}`;
  let watched: FaultProxy;
  let host = '';
  let single = '';
  let multi = '';
  let images = '';
  let credentials = '';
  const targetRepo = (repo: string) => `${prefix}/${host.replace(':', '-')}/${ns}/${repo}`;
  const notice = 'single-platform image: copied whole; the platforms asked (linux/arm64) apply to multi-platform indexes only';

  beforeAll(async () => {
    watched = await watchSource();
    host = watched.host;
    single = (await pushImage(source, `${ns}/single`, '1', { platform: 'linux/amd64' })).digest;
    multi = (await pushIndex(source, `${ns}/multi`, '1', ['linux/amd64', 'linux/arm64'])).index.digest;
    images = await writeImagesTree({
      [`${host}/${ns}/single/Dockerfile`]: `FROM ${host}/${ns}/single:1\n`,
      [`${host}/${ns}/multi/Dockerfile`]: `FROM ${host}/${ns}/multi:1\n`,
    });
    credentials = join(images, '..', `${ns}-credentials.json`);
    await writeFile(credentials, JSON.stringify({ [s.targetRegistry]: { username: s.targetUsername, password: s.targetPassword } }), { mode: 0o600 });
  });

  afterAll(() => watched?.close());

  const sync = (...extra: string[]) =>
    runCli(['sync', '--images', images, '--target', `${s.targetRegistry}/${prefix}`, '--credentials', credentials, '--platform', 'linux/arm64', ...extra], { CRANE: s.crane });

  it('copies the single-platform image whole and says so, the index narrowed without a notice', async () => {
    const mark = watched.log.length;
    const run = await sync('--json');
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as Report;
    const bySource = new Map(report.results.map((r) => [r.source.replace(`${host}/${ns}/`, ''), r]));
    expect(bySource.get('single:1')).toMatchObject({ status: 'copied', digest: single, notices: [notice] });
    expect(bySource.get('multi:1')).toMatchObject({ status: 'copied', digest: multi });
    expect(bySource.get('multi:1')).not.toHaveProperty('notices');
    expect(await manifestDigest(target, targetRepo('single'), '1')).toBe(single);
    // The notice comes from the HEAD's media type: the single image's manifest is read once, by crane's copy alone.
    expect(manifestRequests(watched.log.slice(mark), `${ns}/single`, 'GET').map((entry) => entry.path)).toEqual([`/v2/${ns}/single/manifests/${single}`]);
  });

  it('says so in the text report of the next run, which skips', async () => {
    const run = await sync();
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('Notices:');
    expect(run.stdout).toContain(`${host}/${ns}/single:1: single-platform image: the target holds it whole; the platforms asked (linux/arm64) apply to multi-platform indexes only`);
  });
});

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manifestDigest, pushImage, type SeedTarget } from '../../scripts/lib/oci-seed.ts';
import { describePinDrift } from '../../shared/plan/pin-drift.ts';
import type { Report } from '../../shared/plan/report.ts';
import { runCli, writeImagesTree } from '../support/cli.ts';
import type { FaultProxy } from '../support/fault-proxy.ts';
import { type AccessLogEntry, manifestRequests, stack, uniqueName, watchSource } from '../support/stack.ts';

describe('mirror sync of a digest pin whose tag moved on upstream (real registries, real crane)', () => {
  const s = stack();
  const source: SeedTarget = { registry: s.sourceRegistry };
  const target: SeedTarget = { registry: s.targetRegistry, auth: { username: s.targetUsername, password: s.targetPassword } };
  const ns = uniqueName('drift');
  const prefix = `mirror-${ns}`;
  // The image is named through a proxy that logs every request reaching the source registry.
  let watched: FaultProxy;
  let host = '';
  let pinned = '';
  let current = '';
  let images = '';
  let credentials = '';
  const targetRepo = () => `${prefix}/${host.replace(':', '-')}/${ns}/app`;
  const drift = () => ({ tag: `${host}/${ns}/app:1`, pinned, current });
  /** Requests for the tag itself (`/manifests/1`), not for a digest. */
  const onTag = (entries: readonly AccessLogEntry[], method: string) => manifestRequests(entries, ns, method).filter((entry) => entry.path.endsWith('/manifests/1'));

  beforeAll(async () => {
    watched = await watchSource();
    host = watched.host;
    pinned = (await pushImage(source, `${ns}/app`, '1')).digest;
    // The tag moves on upstream: another image is pushed under it.
    current = (await pushImage(source, `${ns}/app`, '1')).digest;
    images = await writeImagesTree({ [`${host}/${ns}/app/Dockerfile`]: `FROM ${host}/${ns}/app:1@${pinned}\n` });
    credentials = join(images, '..', `${ns}-credentials.json`);
    await writeFile(credentials, JSON.stringify({ [s.targetRegistry]: { username: s.targetUsername, password: s.targetPassword } }), { mode: 0o600 });
  });

  afterAll(() => watched?.close());

  const sync = (...extra: string[]) => runCli(['sync', '--images', images, '--target', `${s.targetRegistry}/${prefix}`, '--credentials', credentials, ...extra], { CRANE: s.crane });

  it('mirrors the pin and says in JSON that the tag now names another digest, found by one HEAD on the tag', async () => {
    const mark = watched.log.length;
    const run = await sync('--json');
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as Report;
    expect(report.results).toHaveLength(1);
    expect(report.results[0]).toMatchObject({ status: 'copied', digest: pinned, pinDrift: drift(), notices: [describePinDrift(drift())] });
    expect(current).not.toBe(pinned);
    // The pin is what lands, whatever the tag names now.
    expect(await manifestDigest(target, targetRepo(), '1')).toBe(pinned);
    const requests = watched.log.slice(mark);
    expect(onTag(requests, 'HEAD')).toHaveLength(1);
    expect(onTag(requests, 'GET')).toEqual([]);
    // The only manifest GET on the source is the copy's own, of the pinned digest.
    expect(manifestRequests(requests, ns, 'GET').map((entry) => entry.path)).toEqual([`/v2/${ns}/app/manifests/${pinned}`]);
  });

  it('says it under Notices in the text report of the next run, which skips without a manifest GET on the source', async () => {
    const mark = watched.log.length;
    const run = await sync();
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('Notices:');
    expect(run.stdout).toContain(`${host}/${ns}/app:1@${pinned}: ${describePinDrift(drift())}`);
    expect(run.stdout).toContain(`tag ${host}/${ns}/app:1 now names ${current}, not the pinned ${pinned}`);
    const requests = watched.log.slice(mark);
    expect(manifestRequests(requests, ns, 'GET')).toEqual([]);
    expect(onTag(requests, 'HEAD')).toHaveLength(1);
    expect(await manifestDigest(target, targetRepo(), '1')).toBe(pinned);
  });

  it('says it in a dry run too', async () => {
    const run = await sync('--json', '--dry-run');
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as Report;
    expect(report.results[0]).toMatchObject({ status: 'would-skip', digest: pinned, pinDrift: drift() });
  });
});

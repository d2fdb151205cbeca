import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseTargetBase } from '../../../shared/image-ref/target.ts';
import type { MirrorResult } from '../../../shared/ports.ts';
import { runWorkerJob } from '../../../shared/sync/worker-job.ts';
import { FakeCopier, FakeManifestRegistry } from '../../fakes/registry.ts';

// A rule's name reaches the worker's log lines and result text: the worker takes only the names the policy reader takes.

const PEM = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
const settings = { target: parseTargetBase('registry.example.com/mirror'), nameTemplate: '{registry}/{repository}', allowRegistries: [], platforms: [] };

async function resultFor(name: string): Promise<MirrorResult> {
  const event = { source: 'quay.io/acme/app:1', verify: { name, images: ['quay.io/acme/**'], by: 'key', key: { path: 'keys/acme.pub', pem: PEM } } };
  const verifier = { verify: async () => ({ rule: name, by: 'key' as const, identity: 'keys/acme.pub', signature: 'cosign-tag' as const }) };
  const registry = new FakeManifestRegistry();
  registry.digests.set('quay.io/acme/app:1', `sha256:${'1'.repeat(64)}`);
  const copier = new FakeCopier((request) => registry.digests.set(`${request.target.registry}/${request.target.repository}:${request.target.tag ?? ''}`, request.source.digest ?? ''));
  return runWorkerJob(event, { registry, copier, credentials: { credentialsFor: async () => undefined }, recorder: { record: () => undefined, retrying: () => undefined }, verifier }, settings);
}

describe('runWorkerJob: the name of the event\'s rule', () => {
  it.each(['acme', 'acme-release_2.0', 'a'.repeat(100)])('takes %j', async (name) => {
    expect(await resultFor(name)).toMatchObject({ status: 'copied', verified: { rule: name } });
  });

  it.each([
    ['spaces', 'acme release'],
    ['a terminal escape', 'acme\u001b[2J'],
    ['markup', '<b>acme</b>'],
    ['a line break', 'acme\nimage mirrored'],
    ['more than 100 characters', 'a'.repeat(101)],
  ])('refuses a name with %s, mirroring nothing', async (_, name) => {
    const result = await resultFor(name);
    expect(result).toMatchObject({ status: 'failed', retryable: false });
    expect(result.error).toContain('"verify.name"');
    expect(result.error).toContain("must be 1 to 100 letters, digits, '.', '_' or '-'");
  });
});

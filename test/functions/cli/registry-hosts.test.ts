import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Report } from '../../../shared/plan/report.ts';
import { runCli, writeImagesTree } from '../../support/cli.ts';

// A registry host crane (go-containerregistry v0.14) would read as a path on Docker Hub is refused wherever a host is
// given on its own: our lookups and crane's copies must never go to two different places.
describe('registry hosts crane would read as Docker Hub paths', () => {
  const trees: string[] = [];
  const tree = async (files: Record<string, string>) => {
    const dir = await writeImagesTree(files);
    trees.push(dir);
    return dir;
  };
  afterAll(() => Promise.all(trees.map((dir) => rm(dir, { recursive: true, force: true }))));

  it.each([
    [['sync', '--target', 'myregistry/mirror'], 'invalid target "myregistry/mirror": crane reads "myregistry" with no "." and no port as a path on Docker Hub (docker.io/myregistry/mirror)'],
    [['sync', '--target', 'localhost'], 'invalid target "localhost": crane reads "localhost" with no "." and no port as a path on Docker Hub'],
    [['plan', '--target', 'myregistry'], 'invalid target "myregistry"'],
    [['plan', '--allow-registry', 'myregistry'], '--allow-registry: "myregistry" is not a registry host'],
  ])('%j is a usage error: exit 2', async (args, message) => {
    const images = await tree({});
    const run = await runCli([args[0] as string, '--images', images, ...args.slice(1)]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
    expect(run.stdout).toBe('');
  });

  it('refuses a credentials file keyed by such a name, exit 2, without printing the password', async () => {
    const images = await tree({});
    const file = join(images, 'creds.json');
    await writeFile(file, JSON.stringify({ myregistry: { username: 'ci', password: 'not-for-docker-hub' } }), { mode: 0o600 });
    const run = await runCli(['sync', '--images', images, '--target', 'registry.example.com', '--credentials', file]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('"myregistry" is not a registry host: crane reads a name with no "." and no port as a path on Docker Hub');
    expect(run.stderr).not.toContain('not-for-docker-hub');
  });

  it('reports a FROM of localhost/… as an error for its file, and plans the others', async () => {
    const images = await tree({ 'localhost/app/Dockerfile': 'FROM localhost/app:1\n', 'quay.io/x/y/Dockerfile': 'FROM quay.io/x/y:1\n' });
    const run = await runCli(['plan', '--images', images, '--json']);
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout) as Report;
    expect(report.results.map((result) => result.source)).toEqual(['quay.io/x/y:1']);
    expect(report.errors).toEqual([{ file: 'localhost/app/Dockerfile', message: expect.stringContaining('crane reads "localhost/…" as a Docker Hub path') }]);
  });
});

describe('network settings crane reads too', () => {
  it('makes an unreadable SSL_CERT_FILE a usage error naming the variable, before any image is looked at', async () => {
    const images = await writeImagesTree({});
    try {
      const missing = join(images, 'no-such-ca.pem');
      const run = await runCli(['sync', '--images', images, '--target', 'registry.example.com'], { SSL_CERT_FILE: missing });
      expect(run.code).toBe(2);
      expect(run.stderr).toContain(`SSL_CERT_FILE names "${missing}", which cannot be read (ENOENT)`);
    } finally {
      await rm(images, { recursive: true, force: true });
    }
  });
});

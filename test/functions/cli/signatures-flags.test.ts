import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Report } from '../../../shared/plan/report.ts';
import { runCli, writeImagesTree } from '../../support/cli.ts';

const PEM = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
const POLICY = [
  'rules:',
  '  - name: acme',
  '    images: ["ghcr.io/acme/**"]',
  '    key: keys/acme.pub',
  '  - name: official',
  '    images: ["docker.io/library/*"]',
  '    keyless:',
  '      issuer: https://token.actions.githubusercontent.com',
  '      subjectRegExp: ^https://github\\.com/docker-library/.*$',
  '',
].join('\n');
const DOCKERFILES = {
  'ghcr.io/acme/app/Dockerfile': 'FROM ghcr.io/acme/app:1\n',
  'docker.io/library/postgres/Dockerfile': 'FROM postgres:16\n',
  'quay.io/prometheus/node-exporter/Dockerfile': 'FROM quay.io/prometheus/node-exporter:v1.8.2\n',
};

/** Help text with its wrapping undone: commander wraps option descriptions to the terminal's width. */
const oneLine = (text: string) => text.replace(/\s+/g, ' ');

/** A registry stand-in that counts every request sent to it: a run that stops before any registry is asked sends it none. */
let requests = 0;
let server: Server;
let registry: string;
beforeAll(async () => {
  server = createServer((_, response) => {
    requests += 1;
    response.writeHead(500).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  registry = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('--artifacts', () => {
  it.each(['plan', 'sync'])('is offered by %s with its modes and the default, signatures', async (command) => {
    const help = await runCli([command, '--help']);

    const options = oneLine(help.stdout);
    expect(options).toMatch(/--artifacts <mode> .*?\(choices: "none", "signatures", "all", default: "signatures"\)/);
    expect(help.stdout).toContain('--artifacts (default signatures): what is copied with each image');
  });

  it.each([
    ['plan', []],
    ['sync', ['--target', 'registry.example.com/mirror']],
  ])('makes an unknown mode a usage error of %s, naming the modes', async (command, extra) => {
    const images = await writeImagesTree(DOCKERFILES);
    const run = await runCli([command, '--images', images, ...extra, '--artifacts', 'signature']);

    expect(run.code).toBe(2);
    expect(run.stderr).toContain("option '--artifacts <mode>' argument 'signature' is invalid. Allowed choices are none, signatures, all.");
  });

  it.each(['none', 'signatures', 'all'])('is taken by sync as %s (the run then stops at an --only matching nothing)', async (mode) => {
    const images = await writeImagesTree(DOCKERFILES);
    const run = await runCli(['sync', '--images', images, '--target', 'registry.example.com/mirror', '--artifacts', mode, '--only', 'ghcr.io/none/here']);

    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--only: no image of the tree matches');
  });

  it('is taken by plan --base, whose cost then counts no artifact with none', async () => {
    const base = await writeImagesTree({});
    const images = await writeImagesTree(DOCKERFILES);
    const run = await runCli(['plan', '--images', images, '--base', base, '--no-cost', '--artifacts', 'none', '--json']);

    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ costLookedUp: false, summary: { added: 3 } });
  });
});

describe('--policy and the signature policy', () => {
  it.each(['plan', 'sync'])('is offered by %s with its default', async (command) => {
    const help = await runCli([command, '--help']);

    const text = oneLine(help.stdout);
    expect(text).toContain('--policy <file> the signature policy: which images must carry whose signature before they are mirrored (default: <images>/signature-policy.yaml when it exists)');
    expect(text).toMatch(/2 +usage (or setup )?error[,:] .*a signature policy that cannot be read, a --policy file that does not exist/);
  });

  it('names the rule that applies to each image in the plan, and counts the images covered', async () => {
    const images = await writeImagesTree({ ...DOCKERFILES, 'signature-policy.yaml': POLICY, 'keys/acme.pub': PEM });
    const run = await runCli(['plan', '--images', images]);

    expect(run.code).toBe(0);
    expect(run.stdout).toContain('  ghcr.io/acme/app:1  policy: rule acme (key)\n');
    expect(run.stdout).toContain('  docker.io/library/postgres:16  policy: rule official (keyless)\n');
    expect(run.stdout).toContain('Signature policy: 2 of 3 images covered; the other one matches no rule and is mirrored without verification');
    expect(run.stdout).toContain('3 images planned, 2 covered by the signature policy; 0 invalid files');
  });

  it('gives each covered image its rule in the JSON plan, by name and kind only', async () => {
    const images = await writeImagesTree({ ...DOCKERFILES, 'signature-policy.yaml': POLICY, 'keys/acme.pub': PEM });
    const run = await runCli(['plan', '--images', images, '--json']);
    const report = JSON.parse(run.stdout) as Report;

    expect(Object.fromEntries(report.results.map((r) => [r.source, r.rule ?? null]))).toEqual({
      'docker.io/library/postgres:16': { name: 'official', by: 'keyless' },
      'ghcr.io/acme/app:1': { name: 'acme', by: 'key' },
      'quay.io/prometheus/node-exporter:v1.8.2': null,
    });
    expect(run.stdout).not.toContain('BEGIN PUBLIC KEY');
  });

  it('plans as before without a policy file', async () => {
    const images = await writeImagesTree(DOCKERFILES);
    const run = await runCli(['plan', '--images', images]);

    expect(run.code).toBe(0);
    expect(run.stdout).not.toContain('policy');
    expect(run.stdout).toContain('3 images planned; 0 invalid files');
  });

  it("reads --policy's file in place of the tree's own, its keys still below the images root", async () => {
    const elsewhere = await writeImagesTree({ 'strict.yaml': 'rules:\n  - name: all-of-quay\n    images: ["quay.io/**"]\n    key: keys/acme.pub\n' });
    const images = await writeImagesTree({ ...DOCKERFILES, 'signature-policy.yaml': POLICY, 'keys/acme.pub': PEM });
    const run = await runCli(['plan', '--images', images, '--policy', join(elsewhere, 'strict.yaml')]);

    expect(run.code).toBe(0);
    expect(run.stdout).toContain('  quay.io/prometheus/node-exporter:v1.8.2  policy: rule all-of-quay (key)\n');
    expect(run.stdout).not.toContain('rule acme');
  });

  it.each(['plan', 'sync'])('makes a --policy file that does not exist a usage error of %s', async (command) => {
    const images = await writeImagesTree(DOCKERFILES);
    const missing = join(images, 'nowhere.yaml');
    const run = await runCli([command, '--images', images, '--target', 'registry.example.com/mirror', '--policy', missing]);

    expect(run.code).toBe(2);
    expect(run.stderr).toBe(`mirror: --policy: "${missing}" is not a file\n`);
  });

  it.each([
    ['a key file that is missing', { 'signature-policy.yaml': POLICY }, 'rule "acme"'],
    ['YAML that does not parse', { 'signature-policy.yaml': 'rules: [\n' }, 'not valid YAML'],
    ['an unknown key', { 'signature-policy.yaml': 'rules: []\nextra: 1\n' }, 'unknown key "extra"'],
  ])('stops plan with exit 2 on a policy with %s, naming the file', async (_, files, problem) => {
    const images = await writeImagesTree({ ...DOCKERFILES, ...files });
    const run = await runCli(['plan', '--images', images]);

    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('mirror: reading the signature policy "signature-policy.yaml": ');
    expect(run.stderr).toContain(problem);
  });

  it('stops sync with exit 2 on a broken policy before any registry is asked', async () => {
    const images = await writeImagesTree({
      [`${registry}/acme/app/Dockerfile`]: `FROM ${registry}/acme/app:1\n`,
      'signature-policy.yaml': `rules:\n  - name: acme\n    images: ["${registry}/**"]\n    key: keys/missing.pub\n`,
    });
    const before = requests;
    const run = await runCli(['sync', '--images', images, '--target', `${registry}/mirror`, '--crane', join(images, 'no-crane')]);

    expect(run.code).toBe(2);
    expect(run.stderr).toContain('mirror: reading the signature policy "signature-policy.yaml": rule "acme"');
    expect(run.stderr).not.toContain('crane');
    expect(requests - before).toBe(0);
  });

  it('stops plan --base with exit 2 on a broken policy in the tree of the change', async () => {
    const base = await writeImagesTree(DOCKERFILES);
    const images = await writeImagesTree({ ...DOCKERFILES, 'signature-policy.yaml': 'rules: [\n' });
    const run = await runCli(['plan', '--images', images, '--base', base, '--no-cost']);

    expect(run.code).toBe(2);
    expect(run.stderr).toContain('reading the signature policy "signature-policy.yaml": not valid YAML');
  });
});

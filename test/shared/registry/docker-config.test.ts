import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentialHelperRunner, type DockerConfig, DockerConfigCredentialProvider, loadDockerConfig, parseDockerConfig } from '../../../shared/registry/docker-config.ts';
import { registryLogins } from '../../../shared/wiring/cli.ts';
import { createSyncDeps } from '../../../shared/wiring/sync.ts';
import { parseTargetBase } from '../../../shared/image-ref/target.ts';

const basic = (user: string, password: string) => Buffer.from(`${user}:${password}`).toString('base64');

describe('parseDockerConfig', () => {
  it.each([
    ['an `auth` of base64 user:password', { 'quay.io': { auth: basic('q-user', 'q-pass:with-colon') } }, 'quay.io', { username: 'q-user', password: 'q-pass:with-colon' }],
    ['`username` and `password`', { 'registry.example.com:5000': { username: 'u', password: 'p' } }, 'registry.example.com:5000', { username: 'u', password: 'p' }],
    ["Docker Hub's legacy key", { 'https://index.docker.io/v1/': { auth: basic('hub', 'hub-pass') } }, 'docker.io', { username: 'hub', password: 'hub-pass' }],
    ['a Docker Hub alias', { 'registry-1.docker.io': { auth: basic('hub', 'hub-pass') } }, 'docker.io', { username: 'hub', password: 'hub-pass' }],
    ['a full URL with a path', { 'https://ghcr.io/v2/': { auth: basic('gh', 'gh-pass') } }, 'ghcr.io', { username: 'gh', password: 'gh-pass' }],
    ['a URL with a port, in capitals', { 'http://Localhost:5000': { auth: basic('l', 'l-pass') } }, 'localhost:5000', { username: 'l', password: 'l-pass' }],
  ])('reads %s', (_name, auths, registry, credential) => {
    const config = parseDockerConfig(JSON.stringify({ auths }), 'config.json', () => undefined);
    expect(Object.fromEntries(config.auths)).toEqual({ [registry]: credential });
  });

  it("passes over Docker's helper markers, identity tokens and keys that name no registry", () => {
    const warnings: string[] = [];
    const config = parseDockerConfig(
      JSON.stringify({ auths: { 'ghcr.io': {}, 'acr.example.io': { identitytoken: 'refresh-token-value' }, myregistry: { auth: basic('a', 'b') }, 'quay.io': 'not an object' } }),
      'config.json',
      (message) => warnings.push(message),
    );
    expect(config.auths.size).toBe(0);
    expect(warnings).toEqual([]);
  });

  it('warns of an `auth` that is not user:password, naming the registry and not the value', () => {
    const warnings: string[] = [];
    const config = parseDockerConfig(JSON.stringify({ auths: { 'quay.io': { auth: Buffer.from('no-colon-secret').toString('base64') } } }), '/home/me/.docker/config.json', (message) => warnings.push(message));
    expect(config.auths.size).toBe(0);
    expect(warnings).toEqual([`Docker's config /home/me/.docker/config.json: the "auth" of quay.io is not base64 of user:password: ignored`]);
  });

  it('warns of a file that is not JSON without quoting any of it', () => {
    const warnings: string[] = [];
    const config = parseDockerConfig('{"auths": {"quay.io": {"auth": "c2VjcmV0LXZhbHVl"}}', 'config.json', (message) => warnings.push(message));
    expect(config.auths.size).toBe(0);
    expect(warnings).toEqual([`Docker's config config.json is not valid JSON: going on without its logins`]);
  });

  it("takes the key Docker itself uses for Docker Hub over a stale alias written before it, and a bare host over a URL", () => {
    const auths = {
      'docker.io': { auth: basic('stale', 'stale-pass') },
      'https://quay.io/v2/': { auth: basic('url', 'url-pass') },
      'https://index.docker.io/v1/': { auth: basic('hub', 'hub-pass') },
      'quay.io': { auth: basic('bare', 'bare-pass') },
    };
    const config = parseDockerConfig(JSON.stringify({ auths, credHelpers: { 'registry-1.docker.io': 'stale', 'https://index.docker.io/v1/': 'hub' } }), 'config.json', () => undefined);
    expect(Object.fromEntries(config.auths)).toEqual({ 'docker.io': { username: 'hub', password: 'hub-pass' }, 'quay.io': { username: 'bare', password: 'bare-pass' } });
    expect(Object.fromEntries(config.credHelpers)).toEqual({ 'docker.io': 'hub' });
  });

  it('keys credHelpers by registry host and keeps credsStore', () => {
    const config = parseDockerConfig(JSON.stringify({ credsStore: 'desktop', credHelpers: { 'https://index.docker.io/v1/': 'hub', 'GHCR.io': 'gh', 'quay.io': 7 } }), 'config.json', () => undefined);
    expect(Object.fromEntries(config.credHelpers)).toEqual({ 'docker.io': 'hub', 'ghcr.io': 'gh' });
    expect(config.credsStore).toBe('desktop');
  });
});

describe('loadDockerConfig', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'image-mirror-docker-config-'));
    await mkdir(join(dir, 'home', '.docker'), { recursive: true });
    await writeFile(join(dir, 'home', '.docker', 'config.json'), JSON.stringify({ auths: { 'home.example.com': { auth: basic('h', 'home-pass') } } }));
    await mkdir(join(dir, 'elsewhere'));
    await writeFile(join(dir, 'elsewhere', 'config.json'), JSON.stringify({ auths: { 'other.example.com': { auth: basic('o', 'other-pass') } } }));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads $HOME/.docker/config.json of the environment given', async () => {
    const config = await loadDockerConfig({ HOME: join(dir, 'home') }, () => undefined);
    expect([...(config?.auths.keys() ?? [])]).toEqual(['home.example.com']);
    expect(config?.path).toBe(join(dir, 'home', '.docker', 'config.json'));
  });

  it('reads $DOCKER_CONFIG/config.json before HOME', async () => {
    const config = await loadDockerConfig({ HOME: join(dir, 'home'), DOCKER_CONFIG: join(dir, 'elsewhere') }, () => undefined);
    expect([...(config?.auths.keys() ?? [])]).toEqual(['other.example.com']);
  });

  it('is silent when there is no config, and with neither variable', async () => {
    const warnings: string[] = [];
    expect(await loadDockerConfig({ HOME: join(dir, 'nobody') }, (message) => warnings.push(message))).toBeUndefined();
    expect(await loadDockerConfig({}, (message) => warnings.push(message))).toBeUndefined();
    expect(warnings).toEqual([]);
  });
});

describe('DockerConfigCredentialProvider with real credential helpers on PATH', () => {
  let dir = '';
  let bin = '';
  let log = '';
  let env: Record<string, string> = {};

  // A helper speaking the docker-credential-helpers protocol: the server URL on stdin, JSON back, or "credentials not
  // found in native keychain" and exit 1. Every call is logged as "<helper> <action> <server URL>".
  const helper = (name: string, logins: Record<string, [string, string]>, failFor: string[] = []) =>
    [
      '#!/bin/sh',
      'server=$(cat)',
      `printf '%s %s %s\\n' "${name}" "$1" "$server" >> "$HELPER_LOG"`,
      'case "$server" in',
      ...failFor.map((server) => `  '${server}') echo "error: the keychain is locked" >&2; exit 3 ;;`),
      ...Object.entries(logins).map(([server, [user, secret]]) => `  '${server}') printf '{"ServerURL":"%s","Username":"${user}","Secret":"${secret}"}' "$server" ;;`),
      '  *) echo "credentials not found in native keychain"; exit 1 ;;',
      'esac',
      '',
    ].join('\n');

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'image-mirror-helpers-'));
    bin = join(dir, 'bin');
    log = join(dir, 'calls.log');
    await mkdir(bin);
    const helpers = {
      test: helper('test', { 'https://index.docker.io/v1/': ['hub-user', 'hub-secret-1'], 'ghcr.io': ['gh-user', 'gh-secret-2'] }, ['broken.example.com']),
      store: helper('store', { 'quay.io': ['quay-user', 'quay-secret-3'], 'both.example.com': ['store-user', 'store-secret-4'] }),
      token: '#!/bin/sh\ncat >/dev/null\nprintf \'{"ServerURL":"x","Username":"<token>","Secret":"refresh-secret-5"}\'\n',
      // Answers, then fails: its stdout holds a login, which no warning may quote.
      leaky: '#!/bin/sh\ncat >/dev/null\nprintf \'{"ServerURL":"x","Username":"u","Secret":"leaked-secret-6"}\\n\'\nexit 1\n',
    };
    for (const [name, script] of Object.entries(helpers)) {
      await writeFile(join(bin, `docker-credential-${name}`), script);
      await chmod(join(bin, `docker-credential-${name}`), 0o755);
    }
    env = { PATH: `${bin}${delimiter}${process.env.PATH ?? ''}`, HELPER_LOG: log };
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const calls = async () => (await readFile(log, 'utf8').catch(() => '')).trim().split('\n').filter(Boolean);
  const providerOf = (config: Partial<DockerConfig>, warnings: string[], helperEnv = env) =>
    new DockerConfigCredentialProvider({ path: 'config.json', auths: new Map(), credHelpers: new Map(), ...config }, { helper: credentialHelperRunner(helperEnv), warn: (message) => warnings.push(message) });

  it("asks a registry's own helper (credHelpers), Docker Hub by its legacy server URL, only for what is asked and once each", async () => {
    await rm(log, { force: true });
    const warnings: string[] = [];
    const provider = providerOf({ credHelpers: new Map([['docker.io', 'test'], ['ghcr.io', 'test'], ['never-asked.example.com', 'test']]) }, warnings);
    expect(await provider.credentialsFor('docker.io')).toEqual({ username: 'hub-user', password: 'hub-secret-1' });
    const [first, second] = await Promise.all([provider.credentialsFor('ghcr.io'), provider.credentialsFor('ghcr.io')]);
    expect(first).toEqual({ username: 'gh-user', password: 'gh-secret-2' });
    expect(second).toEqual(first);
    expect(await provider.credentialsFor('ghcr.io')).toEqual(first);
    expect(await calls()).toEqual(['test get https://index.docker.io/v1/', 'test get ghcr.io']);
    expect(warnings).toEqual([]);
  });

  it('asks the default helper (credsStore) for the others, the own helper first, and falls back to the file where a helper has none', async () => {
    await rm(log, { force: true });
    const warnings: string[] = [];
    const provider = providerOf(
      {
        credsStore: 'store',
        credHelpers: new Map([['both.example.com', 'test']]),
        auths: new Map([['file.example.com', { username: 'file-user', password: 'file-pass' }]]),
      },
      warnings,
    );
    expect(await provider.credentialsFor('quay.io')).toEqual({ username: 'quay-user', password: 'quay-secret-3' });
    // Its own helper has no login for it: the default helper is not asked in its place, as Docker would not.
    expect(await provider.credentialsFor('both.example.com')).toBeUndefined();
    expect(await provider.credentialsFor('file.example.com')).toEqual({ username: 'file-user', password: 'file-pass' });
    expect(await calls()).toEqual(['store get quay.io', 'test get both.example.com', 'store get file.example.com']);
    expect(warnings).toEqual([]);
  });

  it('goes on without the login when a helper fails, with a warning naming the registry and the helper', async () => {
    const warnings: string[] = [];
    const provider = providerOf({ credHelpers: new Map([['broken.example.com', 'test'], ['tokens.example.com', 'token'], ['leaky.example.com', 'leaky']]) }, warnings);
    expect(await provider.credentialsFor('broken.example.com')).toBeUndefined();
    expect(await provider.credentialsFor('tokens.example.com')).toBeUndefined();
    expect(await provider.credentialsFor('leaky.example.com')).toBeUndefined();
    expect(warnings).toEqual([
      'the login for broken.example.com from Docker\'s credential helper docker-credential-test failed: "docker-credential-test get" exited with code 3: error: the keychain is locked: going on without it',
      'the login for tokens.example.com from Docker\'s credential helper docker-credential-token failed: "docker-credential-token get" answered with an identity token, which only Docker itself can use: going on without it',
      'the login for leaky.example.com from Docker\'s credential helper docker-credential-leaky failed: "docker-credential-leaky get" exited with code 1: going on without it',
    ]);
    expect(warnings.join('\n')).not.toContain('refresh-secret-5');
    expect(warnings.join('\n')).not.toContain('leaked-secret-6');
  });

  it('runs no helper that is not on PATH, says so once, and uses what the file stores', async () => {
    const warnings: string[] = [];
    const provider = providerOf({ credsStore: 'desktop', auths: new Map([['quay.io', { username: 'file-user', password: 'file-pass' }]]) }, warnings);
    expect(await provider.credentialsFor('quay.io')).toEqual({ username: 'file-user', password: 'file-pass' });
    expect(await provider.credentialsFor('ghcr.io')).toBeUndefined();
    expect(warnings).toEqual(["Docker's config config.json names the credential helper docker-credential-desktop (for quay.io), which is not on PATH: going on without its logins"]);
  });

  it('asks the helper again once the registry refused its login (a short-lived token)', async () => {
    await rm(log, { force: true });
    const provider = providerOf({ credHelpers: new Map([['ghcr.io', 'test']]) }, []);
    expect(await provider.credentialsFor('ghcr.io')).toEqual({ username: 'gh-user', password: 'gh-secret-2' });
    expect(await provider.credentialsFor('ghcr.io')).toBeDefined();
    provider.invalidate('ghcr.io');
    expect(await provider.credentialsFor('ghcr.io')).toEqual({ username: 'gh-user', password: 'gh-secret-2' });
    expect(await calls()).toEqual(['test get ghcr.io', 'test get ghcr.io']);
  });

  it('never runs a helper from a relative PATH entry (in CI, the working directory is a pull request\'s checkout)', async () => {
    const warnings: string[] = [];
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      // `bin` relative to `dir`, and an empty entry (the working directory, to a shell): neither is searched.
      const provider = providerOf({ credHelpers: new Map([['ghcr.io', 'test']]) }, warnings, { ...env, PATH: `bin${delimiter}` });
      expect(await provider.credentialsFor('ghcr.io')).toBeUndefined();
    } finally {
      process.chdir(cwd);
    }
    expect(warnings).toEqual(["Docker's config config.json names the credential helper docker-credential-test (for ghcr.io), which is not on PATH: going on without its logins"]);
  });

  it('never runs a helper named as a path', async () => {
    const warnings: string[] = [];
    const provider = providerOf({ credsStore: `../bin/docker-credential-test` }, warnings, { ...env, PATH: join(bin, 'x') });
    expect(await provider.credentialsFor('ghcr.io')).toBeUndefined();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('is not a credential helper\'s name');
  });
});

describe('registryLogins: --credentials and Docker config.json together', () => {
  it("gives --credentials' entries first and Docker's config the registries the file does not name", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'image-mirror-logins-'));
    try {
      const file = join(dir, 'credentials.json');
      await writeFile(file, JSON.stringify({ 'quay.io': { username: 'file-user', password: 'file-pass' } }));
      await mkdir(join(dir, 'docker'));
      await writeFile(join(dir, 'docker', 'config.json'), JSON.stringify({ auths: { 'quay.io': { auth: basic('docker-user', 'docker-pass') }, 'ghcr.io': { auth: basic('gh', 'gh-pass') } } }));
      const logins = await registryLogins(file, { DOCKER_CONFIG: join(dir, 'docker') }, () => undefined);
      // The sync's own chain, as built for a run.
      const deps = createSyncDeps({ target: parseTargetBase('registry.example.com/mirror'), ecr: false, crane: 'crane', copyTimeoutMs: 1000, ...logins });
      expect(await deps.credentials.credentialsFor('quay.io')).toEqual({ username: 'file-user', password: 'file-pass' });
      expect(await deps.credentials.credentialsFor('ghcr.io')).toEqual({ username: 'gh', password: 'gh-pass' });
      expect(await deps.credentials.credentialsFor('docker.io')).toBeUndefined();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

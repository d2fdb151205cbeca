import { sign, verify } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { PolicyFileError } from '../../../shared/errors.ts';
import { parseImageReference } from '../../../shared/image-ref/reference.ts';
import { matchesIdentity, MAX_PEM_CHARS, MAX_TRUSTED_ROOT_CHARS, POLICY_FILE, type PolicyFileReader, readPolicy, RULE_NAME, ruleFor, type SignaturePolicy } from '../../../shared/plan/policy.ts';
import { createTestAuthorities, generateSigningKey } from '../../support/signing.ts';

const pem = generateSigningKey().publicPem;
let trustedRoot: string;

beforeAll(async () => {
  trustedRoot = (await createTestAuthorities()).trustedRoot;
});

/** A reader over an in-memory images tree. */
const tree =
  (files: Record<string, string>): PolicyFileReader =>
  async (path) =>
    files[path];

const withPolicy = (policy: string, files: Record<string, string> = {}) => tree({ [POLICY_FILE]: policy, 'keys/acme.pub': pem, 'roots/own.json': trustedRoot, ...files });

const failure = async (read: PolicyFileReader): Promise<string> => {
  const error = await readPolicy(read).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(PolicyFileError);
  return (error as Error).message;
};

describe('readPolicy', () => {
  it('is undefined when the images tree has no policy file', async () => {
    await expect(readPolicy(tree({}))).resolves.toBeUndefined();
  });

  it('reads key and keyless rules with the files they name', async () => {
    const policy = await readPolicy(
      withPolicy(`
rules:
  - name: acme
    images: ["ghcr.io/acme/**"]
    key: keys/acme.pub
  - name: distroless
    images: ["gcr.io/distroless/*"]
    keyless:
      issuer: https://accounts.google.com
      subjectRegExp: keyless@distroless\\.iam\\.gserviceaccount\\.com
  - name: own
    images: ["registry.example.com/**"]
    keyless:
      issuerRegExp: https://issuer\\.example\\.com/.*
      subject: ci@example.com
      trustedRoot: roots/own.json
`),
    );
    expect(policy).toEqual({
      path: POLICY_FILE,
      rules: [
        { name: 'acme', images: ['ghcr.io/acme/**'], by: 'key', key: { path: 'keys/acme.pub', pem } },
        { name: 'distroless', images: ['gcr.io/distroless/*'], by: 'keyless', issuer: { exact: 'https://accounts.google.com' }, subject: { regexp: 'keyless@distroless\\.iam\\.gserviceaccount\\.com' } },
        { name: 'own', images: ['registry.example.com/**'], by: 'keyless', issuer: { regexp: 'https://issuer\\.example\\.com/.*' }, subject: { exact: 'ci@example.com' }, trustedRoot: { path: 'roots/own.json', json: trustedRoot } },
      ],
    });
  });

  it('reads a policy with no rules as one that covers nothing', async () => {
    await expect(readPolicy(withPolicy('rules: []\n'))).resolves.toEqual({ path: POLICY_FILE, rules: [] });
  });

  const key = (extra = '') => `rules:\n  - name: acme\n    images: ["ghcr.io/acme/**"]\n    key: keys/acme.pub\n${extra}`;
  const keyless = (body: string) => `rules:\n  - name: ci\n    images: ["ghcr.io/**"]\n    keyless:\n${body}`;

  it.each([
    ['broken YAML', 'rules: [\n', /not valid YAML/],
    ['not a mapping', '- a\n- b\n', /expected a mapping with a "rules" list/],
    ['an unknown top-level key', 'rules: []\nextra: 1\n', /unknown key "extra"/],
    ['rules not a list', 'rules: {}\n', /"rules" must be a list/],
    ['a rule that is not a mapping', 'rules: [acme]\n', /rule 1: expected a mapping/],
    ['an unknown rule key', key('    images2: []\n'), /rule "acme": unknown key "images2"/],
    ['a rule without a name', 'rules:\n  - images: ["a/b"]\n    key: keys/acme.pub\n', /rule 1: "name" is missing/],
    ['a rule without images', 'rules:\n  - name: acme\n    key: keys/acme.pub\n', /rule "acme": "images" must be a non-empty list/],
    ['empty images', 'rules:\n  - name: acme\n    images: []\n    key: keys/acme.pub\n', /rule "acme": "images" must be a non-empty list/],
    ['an images pattern with no registry', 'rules:\n  - name: acme\n    images: ["postgres"]\n    key: keys/acme.pub\n', /rule "acme": images pattern "postgres" names no registry/],
    ['both key and keyless', key('    keyless:\n      issuer: a\n      subject: b\n'), /rule "acme": has both "key" and "keyless"/],
    ['neither key nor keyless', 'rules:\n  - name: acme\n    images: ["a/b"]\n', /rule "acme": has neither "key" nor "keyless"/],
    ['two rules of one name', `${key()}  - name: acme\n    images: ["x/y"]\n    key: keys/acme.pub\n`, /rule "acme": another rule has the same name/],
    ['a missing key file', 'rules:\n  - name: acme\n    images: ["a/b"]\n    key: keys/none.pub\n', /rule "acme": key file "keys\/none.pub" does not exist/],
    ['a key file that is no PEM public key', 'rules:\n  - name: acme\n    images: ["a/b"]\n    key: keys/bad.pub\n', /rule "acme": key file "keys\/bad.pub" is not a PEM public key/],
    ['a key path outside the images root', 'rules:\n  - name: acme\n    images: ["a/b"]\n    key: ../acme.pub\n', /rule "acme": "key" "..\/acme.pub" must be a path below the images root/],
    ['an absolute key path', 'rules:\n  - name: acme\n    images: ["a/b"]\n    key: /etc/acme.pub\n', /must be a path below the images root/],
    ['keyless not a mapping', keyless('      - a\n'), /rule "ci": "keyless" must be a mapping/],
    ['an unknown keyless key', keyless('      issuer: a\n      subject: b\n      audience: c\n'), /rule "ci": unknown key "keyless.audience"/],
    ['keyless without an issuer', keyless('      subject: b\n'), /rule "ci": keyless needs "issuer" or "issuerRegExp"/],
    ['keyless without a subject', keyless('      issuer: a\n'), /rule "ci": keyless needs "subject" or "subjectRegExp"/],
    ['both subject and subjectRegExp', keyless('      issuer: a\n      subject: b\n      subjectRegExp: c\n'), /rule "ci": keyless has both "subject" and "subjectRegExp"/],
    ['a regexp that does not compile', keyless('      issuerRegExp: "https://(unclosed"\n      subject: b\n'), /rule "ci": keyless.issuerRegExp is not a valid regular expression/],
    ['a missing trusted root', keyless('      issuer: a\n      subject: b\n      trustedRoot: roots/none.json\n'), /rule "ci": trusted root file "roots\/none.json" does not exist/],
    ['a trusted root that is not one', keyless('      issuer: a\n      subject: b\n      trustedRoot: keys/acme.pub\n'), /rule "ci": trusted root "keys\/acme.pub" is not a Sigstore trusted_root.json/],
  ])('refuses %s, naming the file and rule', async (_case, text, message) => {
    const reason = await failure(withPolicy(text, { 'keys/bad.pub': '-----BEGIN PUBLIC KEY-----\nnonsense\n-----END PUBLIC KEY-----\n' }));
    expect(reason).toContain(`"${POLICY_FILE}"`);
    expect(reason).toMatch(message);
  });

  it('refuses a private key where a public key belongs', async () => {
    const privatePem = generateSigningKey().privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const reason = await failure(withPolicy(key(), { 'keys/acme.pub': privatePem }));
    expect(reason).toMatch(/rule "acme": key file "keys\/acme.pub" is not a PEM public key/);
  });

  it('reads a policy file by another name', async () => {
    const policy = await readPolicy(tree({ 'policies/mirror.yaml': 'rules: []\n' }), 'policies/mirror.yaml');
    expect(policy?.path).toBe('policies/mirror.yaml');
  });
});

describe('ruleFor', () => {
  const rule = (name: string, ...images: string[]) => ({ name, images, by: 'key' as const, key: { path: 'keys/acme.pub', pem } });
  const policy: SignaturePolicy = {
    path: POLICY_FILE,
    rules: [rule('postgres', 'docker.io/library/postgres'), rule('acme', 'ghcr.io/acme/**'), rule('distroless', 'gcr.io/distroless/*'), rule('hub', 'docker.io/**')],
  };
  const applied = (image: string) => ruleFor(policy, parseImageReference(image))?.name;

  it.each([
    ['postgres:16', 'postgres'],
    ['docker.io/library/postgres@sha256:' + 'a'.repeat(64), 'postgres'],
    ['index.docker.io/library/redis:7', 'hub'],
    ['ghcr.io/acme/app:1', 'acme'],
    ['ghcr.io/acme/team/app:1', 'acme'],
    ['ghcr.io/other/app:1', undefined],
    ['gcr.io/distroless/static:nonroot', 'distroless'],
    ['gcr.io/distroless/base/debug:latest', undefined],
    ['quay.io/acme/app:1', undefined],
  ])('%s → %s', (image, name) => {
    expect(applied(image)).toBe(name);
  });

  it('applies the first matching rule', () => {
    const first = { ...policy, rules: [rule('first', 'docker.io/**'), rule('second', 'docker.io/library/*')] };
    expect(ruleFor(first, parseImageReference('nginx'))?.name).toBe('first');
  });

  it('applies no rule without a policy', () => {
    expect(ruleFor(undefined, parseImageReference('nginx'))).toBeUndefined();
  });
});

describe('matchesIdentity', () => {
  it.each([
    [{ exact: 'https://accounts.google.com' }, 'https://accounts.google.com', true],
    [{ exact: 'https://accounts.google.com' }, 'https://accounts.google.com/', false],
    [{ regexp: 'https://github\\.com/acme/.*' }, 'https://github.com/acme/app/.github/workflows/r.yml@refs/heads/main', true],
    [{ regexp: 'acme' }, 'https://github.com/acme/app', false],
    [{ regexp: 'a|b' }, 'ab', false],
  ])('%j against %s is %s', (matcher, text, expected) => {
    expect(matchesIdentity(matcher, text)).toBe(expected);
  });
});

describe('ruleFor on the canonical registry host', () => {
  const rule = (name: string, ...images: string[]) => ({ name, images, by: 'key' as const, key: { path: 'keys/acme.pub', pem } });
  const policy: SignaturePolicy = { path: POLICY_FILE, rules: [rule('acme', 'ghcr.io/acme/**'), rule('official', 'docker.io/library/*')] };

  it.each([
    ['ghcr.io:443/acme/x', 'acme'],
    ['ghcr.io:443/acme/team/x:1', 'acme'],
    ['docker.io:443/library/postgres', 'official'],
    ['registry.hub.docker.com/library/postgres', 'official'],
    ['registry-1.docker.io/library/postgres:16', 'official'],
    ['index.docker.io/library/postgres', 'official'],
    ['ghcr.io:5000/acme/x', undefined],
  ])('%s → %s', (image, name) => {
    expect(ruleFor(policy, parseImageReference(image))?.name).toBe(name);
  });
});

describe('readPolicy: names and files', () => {
  const keyRule = (name: string) => `rules:\n  - name: ${JSON.stringify(name)}\n    images: ["ghcr.io/acme/**"]\n    key: keys/acme.pub\n`;

  it.each(['has space', 'a/b', 'x'.repeat(101), 'émoji', 'ansi\u001b[31m'])('refuses the rule name %j', async (name) => {
    expect(await failure(withPolicy(keyRule(name)))).toContain('"name" may hold only letters, digits, ".", "_" and "-"');
  });

  it('exports the rule name pattern', () => {
    expect(RULE_NAME.test('acme.prod_1-x')).toBe(true);
    expect(RULE_NAME.test('')).toBe(false);
  });

  it('stores a key file with a comment line before BEGIN as a plain SPKI PEM, which verifies', async () => {
    const key = generateSigningKey();
    const policy = await readPolicy(withPolicy(keyRule('acme'), { 'keys/acme.pub': `# acme's release key\n${key.publicPem}` }));
    const stored = policy?.rules[0];
    expect(stored?.by).toBe('key');
    const storedPem = stored?.by === 'key' ? stored.key.pem : '';
    expect(storedPem.startsWith('-----BEGIN PUBLIC KEY-----')).toBe(true);
    const payload = Buffer.from('{"critical":{}}');
    expect(verify('sha256', payload, storedPem, sign('sha256', payload, key.privateKey))).toBe(true);
  });

  it('refuses a key file over MAX_PEM_CHARS and a trusted root over MAX_TRUSTED_ROOT_CHARS', async () => {
    expect(await failure(withPolicy(keyRule('acme'), { 'keys/acme.pub': `${'#'.repeat(MAX_PEM_CHARS)}\n${pem}` }))).toContain(`key file "keys/acme.pub" is larger than ${MAX_PEM_CHARS} characters`);
    const keyless = 'rules:\n  - name: own\n    images: ["registry.example.com/**"]\n    keyless:\n      issuer: https://issuer.example.com\n      subject: ci@example.com\n      trustedRoot: roots/own.json\n';
    expect(await failure(withPolicy(keyless, { 'roots/own.json': `${trustedRoot}${' '.repeat(MAX_TRUSTED_ROOT_CHARS)}` }))).toContain(`trusted root "roots/own.json" is larger than ${MAX_TRUSTED_ROOT_CHARS} characters`);
  });
});

import { generateKeyPairSync } from 'node:crypto';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PolicyFileError } from '../../../shared/errors.ts';
import { POLICY_FILE, readPolicy } from '../../../shared/plan/policy.ts';
import { localPolicyFiles, MAX_POLICY_FILE_BYTES } from '../../../shared/source/policy-files.ts';
import { treesPerTest } from '../../support/hostile-tree.ts';

const tree = treesPerTest('image-mirror-policy-files-');
const PEM = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
const POLICY = 'rules:\n  - name: acme\n    images: ["ghcr.io/acme/**"]\n    key: keys/acme.pub\n';

describe('localPolicyFiles', () => {
  it('reads the policy and the key it names below the images root', async () => {
    const dir = await tree({ [POLICY_FILE]: POLICY, 'keys/acme.pub': PEM });
    const read = localPolicyFiles(dir);

    expect(await read(POLICY_FILE)).toBe(POLICY);
    expect(await read('keys/acme.pub')).toBe(PEM);
  });

  it('answers undefined for a file that does not exist, nor its directory', async () => {
    const read = localPolicyFiles(await tree({ 'keys/other.pub': PEM }));

    expect(await read(POLICY_FILE)).toBeUndefined();
    expect(await read('keys/acme.pub')).toBeUndefined();
    expect(await read('roots/private.json')).toBeUndefined();
  });

  it.each(['../outside.pub', '/etc/passwd', 'keys/../../outside.pub', 'keys//acme.pub', './keys/acme.pub', 'keys/acme.pub\0'])('refuses "%s", which is not a path below the root', async (path) => {
    const read = localPolicyFiles(await tree({ 'keys/acme.pub': PEM }));

    await expect(read(path)).rejects.toThrow(PolicyFileError);
    await expect(read(path)).rejects.toThrow('it is not a path below the images root');
  });

  it('refuses a key file that is a symbolic link out of the tree, without reading what it points to', async () => {
    const outside = await tree({ 'secret.pub': PEM });
    const dir = await tree({ [POLICY_FILE]: POLICY });
    await mkdir(join(dir, 'keys'));
    await symlink(join(outside, 'secret.pub'), join(dir, 'keys/acme.pub'));

    await expect(localPolicyFiles(dir)('keys/acme.pub')).rejects.toThrow('reading "keys/acme.pub" of the signature policy: it is a symbolic link, which is not followed');
  });

  it('refuses a key below a directory that is a symbolic link out of the tree', async () => {
    const outside = await tree({ 'acme.pub': PEM });
    const dir = await tree({ [POLICY_FILE]: POLICY });
    await symlink(outside, join(dir, 'keys'));

    await expect(localPolicyFiles(dir)('keys/acme.pub')).rejects.toThrow('"keys" on its way is a symbolic link, which is not followed');
  });

  it('refuses a policy file at the root that is a symbolic link', async () => {
    const outside = await tree({ 'policy.yaml': POLICY });
    const dir = await tree();
    await symlink(join(outside, 'policy.yaml'), join(dir, POLICY_FILE));

    await expect(localPolicyFiles(dir)(POLICY_FILE)).rejects.toThrow(PolicyFileError);
  });

  it('refuses a file larger than the cap, and reads one at the cap', async () => {
    const dir = await tree();
    await mkdir(join(dir, 'roots'));
    await writeFile(join(dir, 'roots/big.json'), 'x'.repeat(MAX_POLICY_FILE_BYTES + 1));
    await writeFile(join(dir, 'roots/fits.json'), 'x'.repeat(MAX_POLICY_FILE_BYTES));
    const read = localPolicyFiles(dir);

    await expect(read('roots/big.json')).rejects.toThrow(`it is ${MAX_POLICY_FILE_BYTES + 1} bytes, more than the ${MAX_POLICY_FILE_BYTES} allowed`);
    expect((await read('roots/fits.json'))?.length).toBe(MAX_POLICY_FILE_BYTES);
  });

  it('refuses a directory where a file is expected', async () => {
    const dir = await tree({ 'keys/acme.pub/inside': 'x' });

    await expect(localPolicyFiles(dir)('keys/acme.pub')).rejects.toThrow('it is not a regular file');
  });

  it('reads the file --policy names in place of the root\'s, by its name or the default one, and keys still below the root', async () => {
    const elsewhere = await tree({ 'strict.yaml': POLICY });
    const dir = await tree({ [POLICY_FILE]: 'rules: []\n', 'keys/acme.pub': PEM });
    const named = join(elsewhere, 'strict.yaml');
    const read = localPolicyFiles(dir, named);

    expect(await read(named)).toBe(POLICY);
    expect(await read(POLICY_FILE)).toBe(POLICY);
    expect(await read('keys/acme.pub')).toBe(PEM);
  });

  it('lets readPolicy read a whole policy through it, and name the file it refuses', async () => {
    const dir = await tree({ [POLICY_FILE]: POLICY, 'keys/acme.pub': PEM });
    const policy = await readPolicy(localPolicyFiles(dir));

    expect(policy?.rules.map((rule) => [rule.name, rule.by])).toEqual([['acme', 'key']]);

    const outside = await tree({ 'acme.pub': PEM });
    const linked = await tree({ [POLICY_FILE]: POLICY });
    await symlink(outside, join(linked, 'keys'));
    await expect(readPolicy(localPolicyFiles(linked))).rejects.toThrow(PolicyFileError);
  });
});

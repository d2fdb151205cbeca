import { close, constants, fstat, open } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PolicyFileError } from '../errors.ts';
import { POLICY_FILE, type PolicyFileReader } from '../plan/policy.ts';
import { OPEN_FLAGS, readAll, systemError } from './local-dir.ts';
import { leavesRoot, linkedDirectory } from './sign-off-files.ts';

const openAsync = promisify(open);
const fstatAsync = promisify(fstat);
const closeAsync = promisify(close);

/** Largest policy, key or trust-root file read: a trusted_root.json is some tens of kilobytes, anything near this is a mistake. */
export const MAX_POLICY_FILE_BYTES = 1024 * 1024;

/**
 * The files a signature policy names, read below a local images root: the policy itself (or the file `--policy`
 * names in its place, asked for by that name or as `signature-policy.yaml`), its key and trust-root files. A file that does not exist is undefined; anything that could lead
 * out of the tree (an absolute path, `..`, a symbolic link, the file's or a directory's on its way) or is too large is
 * refused with PolicyFileError: a policy half-read must never let an image through unverified.
 */
export function localPolicyFiles(root: string, policyFile?: string): PolicyFileReader {
  return async (path) => {
    // The file the user named is theirs to place: it is read wherever it is, as given.
    if (policyFile !== undefined && (path === policyFile || path === POLICY_FILE)) return readCapped(policyFile, policyFile, { follow: true });
    // Backslashes count as separators too: a key path written for Windows must not climb out either.
    if (leavesRoot(path, /[/\\]/)) throw new PolicyFileError(`reading "${path}" of the signature policy: it is not a path below the images root`);
    const linked = await linkedDirectory(root, path).catch(() => undefined);
    if (linked !== undefined) throw new PolicyFileError(`reading "${path}" of the signature policy: "${linked}" on its way is a symbolic link, which is not followed`);
    return readCapped(join(root, path), path, { follow: false });
  };
}

/** A file's text, checked on the open file itself (what is checked is what is read); undefined when it does not exist. */
async function readCapped(file: string, shown: string, how: { follow: boolean }): Promise<string | undefined> {
  const refuse = (why: string) => new PolicyFileError(`reading "${shown}" of the signature policy: ${why}`);
  let fd: number;
  try {
    fd = await openAsync(file, how.follow ? OPEN_FLAGS & ~constants.O_NOFOLLOW : OPEN_FLAGS);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    // O_NOFOLLOW fails a link with ELOOP.
    throw refuse(code === 'ELOOP' ? 'it is a symbolic link, which is not followed' : systemError(error));
  }
  try {
    const info = await fstatAsync(fd);
    if (!info.isFile()) throw refuse('it is not a regular file');
    if (info.size > MAX_POLICY_FILE_BYTES) throw refuse(`it is ${info.size} bytes, more than the ${MAX_POLICY_FILE_BYTES} allowed`);
    return await readAll(fd, info.size);
  } finally {
    await closeAsync(fd);
  }
}

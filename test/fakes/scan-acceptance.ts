import { signOffPathFor } from '../../shared/plan/sign-off-path.ts';
import type { DockerfileEntry, DockerfileSource, Finding, ScanFindingsReader, SignOffReader, SignOffText } from '../../shared/ports.ts';

// In-memory stand-ins for the ports the findings function judges a scan through: an images tree, its sign-off files,
// and a registry's scan findings. Each records its calls, and fails when told to.

/** An images tree held in memory: Dockerfiles and sign-off files by path below the images root. */
export class FakeImagesTree implements DockerfileSource, SignOffReader {
  readonly calls: string[] = [];
  /** Thrown by list(), when set. */
  failList?: Error;
  /** Sign-off files whose read throws this, by path. */
  readonly failRead = new Map<string, Error>();

  constructor(readonly files: Record<string, string>) {}

  async list(): Promise<DockerfileEntry[]> {
    this.calls.push('list');
    if (this.failList) throw this.failList;
    return Object.entries(this.files)
      .filter(([path]) => path === 'Dockerfile' || path.endsWith('/Dockerfile'))
      .map(([path, text]) => ({ path, text }));
  }

  async read(dockerfilePath: string): Promise<SignOffText | undefined> {
    const path = signOffPathFor(dockerfilePath);
    this.calls.push(`read ${path}`);
    const failure = this.failRead.get(path);
    if (failure) throw failure;
    const text = this.files[path];
    return text === undefined ? undefined : { path, text };
  }
}

/** Scan findings by `repository@digest`; an image without an entry has none. */
export class FakeScanFindings implements ScanFindingsReader {
  readonly calls: string[] = [];
  /** Thrown by every call, when set. */
  fail?: Error;

  constructor(readonly byImage: Record<string, Finding[]> = {}) {}

  async findings(repository: string, digest: string): Promise<Finding[]> {
    this.calls.push(`${repository}@${digest}`);
    if (this.fail) throw this.fail;
    return this.byImage[`${repository}@${digest}`] ?? [];
  }
}

/** A finding as ECR basic scanning reports one: no fixed version. */
export function ecrFinding(id: string, severity: Finding['severity'], pkgName = 'openssl'): Finding {
  return { id, severity, pkgName, installedVersion: '3.0.11-1', fixedVersion: '', url: `https://security-tracker.debian.org/tracker/${id}` };
}

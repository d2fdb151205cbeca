import { createHash } from 'node:crypto';
import { CreateRepositoryCommand, ECRClient, PutImageCommand, StartImageScanCommand } from '@aws-sdk/client-ecr';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { METRIC } from '../../shared/observability/names.ts';
import type { ScanEventOutcome } from '../../shared/ports.ts';
import { mirroredScanEvent } from '../fixtures/ecr-image-scan-event.ts';
import { type FakeGitHub, startFakeGitHub } from '../support/fake-github.ts';
import { captureJsonLines, emfMetrics, lambdaContext } from '../support/lambda.ts';
import { motoEnv, stack, uniqueName } from '../support/stack.ts';

// The real findings handler judging ECR's findings against the sign-off file in the images repository: moto's ECR
// (an image pushed and scanned, its findings set through moto's API: POST /moto-api/static/ecr/scan-finding-results,
// ecr/models.py describe_image_scan_findings), moto's Secrets Manager for the GitHub token, and the fake GitHub
// holding the images tree and its .trivyignore.yaml.

type Handler = (event: unknown, context: unknown) => Promise<ScanEventOutcome>;

const SIGN_OFF_FILE = 'images/docker.io/library/postgres/.trivyignore.yaml';

/** The images repository's sign-off file, in Trivy's ignore-file format: two that count, one past its expired_at. */
const SIGN_OFFS = `# Reviewed by the platform team.
vulnerabilities:
  - id: CVE-2024-1001
    statement: only reachable through TLS renegotiation, which no client of ours uses
    expired_at: 2099-12-31
  - id: CVE-2024-1002
    statement: the vulnerable extension is not loaded by this image
  - id: CVE-2023-0900
    statement: accepted until the next minor release
    expired_at: 2024-01-31
`;

describe('findings handler judging scans against sign-offs (moto ECR + Secrets Manager, fake GitHub)', () => {
  const s = stack();
  const ns = uniqueName('findings');
  const prefix = `scan-${ns}`;
  const repository = `${prefix}/docker.io/library/postgres`;
  const token = `ghp_${ns.replace(/-/g, '')}SECRET`;
  const aws = { region: 'us-east-1', endpoint: s.awsEndpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } };
  const ecr = new ECRClient(aws);
  const saved = { ...process.env };
  let github: FakeGitHub;
  let handler: Handler;
  let images = 0;

  beforeAll(async () => {
    github = await startFakeGitHub({
      owner: 'octo',
      repo: 'images',
      token,
      files: {
        'images/docker.io/library/postgres/Dockerfile': 'FROM postgres:14\n',
        [SIGN_OFF_FILE]: SIGN_OFFS,
        'images/docker.io/library/redis/Dockerfile': 'FROM redis:7\n',
      },
    });
    await new SecretsManagerClient(aws).send(new CreateSecretCommand({ Name: `github/${ns}`, SecretString: JSON.stringify({ token }) }));
    await ecr.send(new CreateRepositoryCommand({ repositoryName: repository, imageScanningConfiguration: { scanOnPush: true } }));
    handler = await loadHandler();
  });

  afterAll(async () => {
    process.env = saved;
    await github?.close();
  });

  /** The handler as a new container loads it: nothing cached yet. */
  async function loadHandler(): Promise<Handler> {
    vi.resetModules();
    process.env = {
      ...saved,
      ...motoEnv(s),
      TARGET_PREFIX: prefix,
      GITHUB_REPOSITORY: 'octo/images',
      GITHUB_API_URL: github.url,
      GITHUB_TOKEN_SECRET_ID: `github/${ns}`,
    };
    return (await import('../../functions/findings/handler.ts')).handler as unknown as Handler;
  }

  /**
   * Pushes a new image to moto's ECR, scans it, and sets the findings its scan reports; returns its digest. Every image
   * is new (moto scans an image once a day, and keys the findings by digest).
   */
  async function scannedImage(findings: { id: string; severity: string; pkg: string }[]): Promise<string> {
    images += 1;
    const layer = `sha256:${createHash('sha256').update(`${ns}-${images}`).digest('hex')}`;
    const manifest = {
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', size: 2, digest: `sha256:${'c'.repeat(64)}` },
      layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', size: 1, digest: layer }],
    };
    const put = await ecr.send(new PutImageCommand({ repositoryName: repository, imageManifest: JSON.stringify(manifest), imageTag: `14-${images}` }));
    const digest = put.image?.imageId?.imageDigest ?? '';
    await ecr.send(new StartImageScanCommand({ repositoryName: repository, imageId: { imageDigest: digest } }));
    const counts: Record<string, number> = {};
    for (const finding of findings) counts[finding.severity] = (counts[finding.severity] ?? 0) + 1;
    // The answer moto gives DescribeImageScanFindings for this digest: basic scanning's shape, as the API reference documents it.
    const result = {
      registryId: '123456789012',
      repositoryName: repository,
      imageId: { imageDigest: digest },
      imageScanStatus: { status: 'COMPLETE', description: 'The scan was completed successfully.' },
      imageScanFindings: {
        findingSeverityCounts: counts,
        findings: findings.map(({ id, severity, pkg }) => ({
          name: id,
          uri: `https://security-tracker.debian.org/tracker/${id}`,
          severity,
          attributes: [{ key: 'package_version', value: '1.0-1' }, { key: 'package_name', value: pkg }],
        })),
      },
    };
    const set = await fetch(`${s.awsEndpoint.replace(/\/+$/, '')}/moto-api/static/ecr/scan-finding-results`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ results: [result], region: 'us-east-1' }),
    });
    expect(set.status).toBe(201);
    return digest;
  }

  /** ECR's "Image Scan" event for the image, with the counts the scan found. */
  const eventFor = (digest: string, counts: Record<string, number>) => mirroredScanEvent(prefix, { 'image-digest': digest, 'image-tags': ['14'], 'finding-severity-counts': counts });

  async function handle(digest: string, counts: Record<string, number>, container: Handler = handler) {
    const { value, error, lines, raw } = await captureJsonLines(() => container(eventFor(digest, counts), lambdaContext('findings')));
    expect(error).toBeUndefined();
    expect(raw).not.toContain(token);
    const scanned = lines.filter((line) => line.message === 'image scanned');
    expect(scanned).toHaveLength(1);
    const emf = emfMetrics(lines);
    expect(emf).toHaveLength(1);
    return { value, line: scanned[0]!, metrics: emf[0]! };
  }

  it('pages for nothing when every critical finding is signed off, still counting the raw findings', async () => {
    const digest = await scannedImage([
      { id: 'CVE-2024-1001', severity: 'CRITICAL', pkg: 'openssl' },
      { id: 'CVE-2024-1002', severity: 'CRITICAL', pkg: 'postgresql-14' },
      { id: 'CVE-2024-1004', severity: 'HIGH', pkg: 'zlib1g' },
      { id: 'CVE-2024-1010', severity: 'MEDIUM', pkg: 'tar' },
    ]);
    const { line, metrics } = await handle(digest, { CRITICAL: 2, HIGH: 1, MEDIUM: 1 });
    expect(line).toMatchObject({
      level: 'INFO',
      repository,
      digest,
      findings: { critical: 2, high: 1, medium: 1 },
      acceptance: {
        unacceptedCritical: 0,
        unacceptedHigh: 1,
        unaccepted: ['CVE-2024-1004 HIGH zlib1g not signed off'],
        signedOff: 2,
        expired: 0,
        signOffFiles: [SIGN_OFF_FILE],
        dockerfiles: ['docker.io/library/postgres/Dockerfile'],
        problems: [],
      },
    });
    expect(line.acceptance).not.toHaveProperty('error');
    expect(metrics).toMatchObject({ [METRIC.scanCritical]: 2, [METRIC.scanHigh]: 1, [METRIC.unacceptedCritical]: 0, [METRIC.unacceptedHigh]: 1, [METRIC.imagesScanned]: 1 });
  });

  it('warns about a critical finding nobody signed off, naming the CVE and the file to sign it off in', async () => {
    const digest = await scannedImage([
      { id: 'CVE-2024-1001', severity: 'CRITICAL', pkg: 'openssl' },
      { id: 'CVE-2024-1005', severity: 'CRITICAL', pkg: 'libxml2' },
    ]);
    const { value, line, metrics } = await handle(digest, { CRITICAL: 2 });
    expect(line).toMatchObject({
      level: 'WARN',
      acceptance: { unacceptedCritical: 1, unaccepted: ['CVE-2024-1005 CRITICAL libxml2 not signed off'], signedOff: 1, signOffFiles: [SIGN_OFF_FILE] },
    });
    expect(metrics).toMatchObject({ [METRIC.scanCritical]: 2, [METRIC.unacceptedCritical]: 1, [METRIC.unacceptedHigh]: 0 });
    expect(value).toMatchObject({ kind: 'scanned', acceptance: { unacceptedCritical: 1, unaccepted: [{ id: 'CVE-2024-1005', severity: 'CRITICAL', pkgName: 'libxml2', status: 'not-signed-off' }] } });
  });

  it('counts a finding whose sign-off is past its expired_at as unaccepted again', async () => {
    const digest = await scannedImage([{ id: 'CVE-2023-0900', severity: 'CRITICAL', pkg: 'perl-base' }]);
    const { line, metrics } = await handle(digest, { CRITICAL: 1 });
    expect(line).toMatchObject({
      level: 'WARN',
      acceptance: { unacceptedCritical: 1, unaccepted: ['CVE-2023-0900 CRITICAL perl-base sign-off expired'], signedOff: 0, expired: 1, signOffFiles: [SIGN_OFF_FILE] },
    });
    expect(metrics).toMatchObject({ [METRIC.unacceptedCritical]: 1 });
  });

  it('lists the images tree once for a burst of scan events: with a warm cache, a repository\'s next image costs GitHub no call', async () => {
    const container = await loadHandler();
    const findings = [{ id: 'CVE-2024-1005', severity: 'CRITICAL', pkg: 'libxml2' }];
    const before = github.requests.length;
    await handle(await scannedImage(findings), { CRITICAL: 1 }, container);
    const cold = github.requests.slice(before).map((request) => request.endpoint);
    // The default branch, the tree, the Dockerfiles (one query) and the sign-off file (one query).
    expect(cold).toEqual(expect.arrayContaining(['repo', 'tree', 'graphql']));
    const warm = github.requests.length;
    const { line } = await handle(await scannedImage(findings), { CRITICAL: 1 }, container);
    expect(line).toMatchObject({ acceptance: { unacceptedCritical: 1, signedOff: 0, signOffFiles: [SIGN_OFF_FILE] } });
    expect(github.requests.slice(warm)).toEqual([]);
  });

  it('fails closed when GitHub is down: every finding counts, signed off or not, and the line says why', async () => {
    const digest = await scannedImage([{ id: 'CVE-2024-1001', severity: 'CRITICAL', pkg: 'openssl' }, { id: 'CVE-2024-1002', severity: 'HIGH', pkg: 'postgresql-14' }]);
    github.setFault('tree', { status: 503, times: 1 });
    // A new container: a warm one would judge by the tree it listed before GitHub went down.
    const { line, metrics } = await handle(digest, { CRITICAL: 1, HIGH: 1 }, await loadHandler());
    expect(line).toMatchObject({
      level: 'WARN',
      acceptance: {
        unacceptedCritical: 1,
        unacceptedHigh: 1,
        signedOff: 0,
        unaccepted: ['CVE-2024-1001 CRITICAL openssl not signed off', 'CVE-2024-1002 HIGH postgresql-14 not signed off'],
      },
    });
    expect((line.acceptance as { error?: string }).error).toMatch(/listing the tree of octo\/images@main: GitHub answered 503/);
    expect(metrics).toMatchObject({ [METRIC.scanCritical]: 1, [METRIC.unacceptedCritical]: 1, [METRIC.unacceptedHigh]: 1 });
  });

  it('fails closed when ECR has no scan of the image, naming it', async () => {
    const digest = `sha256:${'d'.repeat(64)}`;
    const { line } = await handle(digest, { CRITICAL: 3 });
    expect(line).toMatchObject({ level: 'WARN', acceptance: { unacceptedCritical: 3, signOffFiles: [SIGN_OFF_FILE] } });
    expect((line.acceptance as { error?: string }).error).toContain(`reading the scan findings of ${repository}@${digest}: ImageNotFoundException`);
  });
});

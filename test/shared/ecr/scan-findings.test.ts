import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ECRClient } from '@aws-sdk/client-ecr';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { EcrScanFindingsReader } from '../../../shared/ecr/scan-findings.ts';
import { MirrorError } from '../../../shared/errors.ts';

// The real SDK client against a loopback endpoint that answers ECR's JSON protocol (awsJson1_1, as the API reference's
// examples show): what moto cannot do, pages with nextToken and Inspector's enhanced findings, and faults.
// test/e2e/findings.stack.test.ts reads basic findings from moto.

const TARGET = 'AmazonEC2ContainerRegistry_V20150921.DescribeImageScanFindings';
const repository = 'mirror/docker.io/library/postgres';
const digest = `sha256:${'2'.repeat(64)}`;

interface Answer {
  readonly status?: number;
  readonly body: Record<string, unknown>;
}

describe('EcrScanFindingsReader (ECR JSON protocol on loopback)', () => {
  let server: Server;
  let endpoint: string;
  /** Requests as received, and the answers to give, in order (the last one repeats). */
  let requests: Record<string, unknown>[];
  let answers: Answer[];

  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const target = req.headers['x-amz-target'];
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
        requests.push({ target, ...body });
        const answer = answers.length > 1 ? answers.shift()! : answers[0]!;
        res.writeHead(answer.status ?? 200, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': `req-${requests.length}` });
        res.end(JSON.stringify(answer.body));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  beforeEach(() => {
    requests = [];
    answers = [];
  });

  const reader = (registryId?: string) =>
    new EcrScanFindingsReader(
      new ECRClient({ region: 'us-east-1', endpoint, maxAttempts: 1, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } }),
      registryId === undefined ? {} : { registryId },
    );

  const basic = (name: string, severity: string, pkg: string, version: string) => ({
    name,
    uri: `https://security-tracker.debian.org/tracker/${name}`,
    severity,
    attributes: [
      { key: 'package_version', value: version },
      { key: 'package_name', value: pkg },
      { key: 'CVSS3_SCORE', value: '9.8' },
    ],
  });
  const page = (findings: unknown[], nextToken?: string, extra: Record<string, unknown> = {}) => ({
    body: {
      registryId: '123456789012',
      repositoryName: repository,
      imageId: { imageDigest: digest },
      imageScanStatus: { status: 'COMPLETE', description: 'The scan was completed successfully.' },
      imageScanFindings: { imageScanCompletedAt: 1_767_225_600, findings, ...extra },
      ...(nextToken === undefined ? {} : { nextToken }),
    },
  });

  it('reads every page of basic findings by digest, 1000 at a time, mapping severities onto Trivy\'s', async () => {
    answers = [
      page([basic('CVE-2024-0001', 'CRITICAL', 'openssl', '3.0.11-1'), basic('CVE-2024-0002', 'INFORMATIONAL', 'zlib', '1.2.13')], 'token-2'),
      page([basic('CVE-2024-0003', 'UNDEFINED', 'glibc', '2.36-9'), basic('CVE-2024-0004', 'HIGH', 'curl', '7.88.1')]),
    ];
    expect(await reader().findings(repository, digest)).toEqual([
      { id: 'CVE-2024-0001', severity: 'CRITICAL', pkgName: 'openssl', installedVersion: '3.0.11-1', fixedVersion: '', url: 'https://security-tracker.debian.org/tracker/CVE-2024-0001' },
      { id: 'CVE-2024-0002', severity: 'LOW', pkgName: 'zlib', installedVersion: '1.2.13', fixedVersion: '', url: 'https://security-tracker.debian.org/tracker/CVE-2024-0002' },
      { id: 'CVE-2024-0003', severity: 'UNKNOWN', pkgName: 'glibc', installedVersion: '2.36-9', fixedVersion: '', url: 'https://security-tracker.debian.org/tracker/CVE-2024-0003' },
      { id: 'CVE-2024-0004', severity: 'HIGH', pkgName: 'curl', installedVersion: '7.88.1', fixedVersion: '', url: 'https://security-tracker.debian.org/tracker/CVE-2024-0004' },
    ]);
    expect(requests).toEqual([
      { target: TARGET, repositoryName: repository, imageId: { imageDigest: digest }, maxResults: 1000 },
      { target: TARGET, repositoryName: repository, imageId: { imageDigest: digest }, maxResults: 1000, nextToken: 'token-2' },
    ]);
  });

  it('asks the given registry', async () => {
    answers = [page([])];
    expect(await reader('210987654321').findings(repository, digest)).toEqual([]);
    expect(requests[0]).toMatchObject({ registryId: '210987654321' });
  });

  it('reads enhanced (Inspector) findings, one per vulnerable package, with the fixed version (none for NotAvailable) and file path', async () => {
    const enhanced = {
      findingArn: 'arn:aws:inspector2:us-east-1:123456789012:finding/0123',
      title: 'CVE-2024-1111 - openssl, libssl3',
      severity: 'CRITICAL',
      status: 'ACTIVE',
      type: 'PACKAGE_VULNERABILITY',
      packageVulnerabilityDetails: {
        vulnerabilityId: 'CVE-2024-1111',
        source: 'DEBIAN_CVE',
        sourceUrl: 'https://security-tracker.debian.org/tracker/CVE-2024-1111',
        vulnerablePackages: [
          { name: 'openssl', version: '3.0.11', release: '1~deb12u2', epoch: 0, fixedInVersion: '0:3.0.13-1~deb12u1', packageManager: 'OS' },
          { name: 'libssl3', version: '3.0.11', release: '1~deb12u2', epoch: 1, fixedInVersion: 'NotAvailable', packageManager: 'OS' },
        ],
      },
    };
    const untriaged = {
      title: 'GHSA-xxxx - jackson-databind',
      severity: 'UNTRIAGED',
      packageVulnerabilityDetails: { vulnerabilityId: 'GHSA-xxxx-yyyy-zzzz', vulnerablePackages: [{ name: 'jackson-databind', version: '2.13.0', filePath: 'app/lib/jackson-databind-2.13.0.jar', packageManager: 'JAR' }] },
    };
    answers = [page([], 'next', { enhancedFindings: [enhanced] }), page([], undefined, { enhancedFindings: [untriaged] })];
    expect(await reader().findings(repository, digest)).toEqual([
      { id: 'CVE-2024-1111', severity: 'CRITICAL', title: enhanced.title, url: 'https://security-tracker.debian.org/tracker/CVE-2024-1111', pkgName: 'openssl', installedVersion: '3.0.11-1~deb12u2', fixedVersion: '0:3.0.13-1~deb12u1' },
      { id: 'CVE-2024-1111', severity: 'CRITICAL', title: enhanced.title, url: 'https://security-tracker.debian.org/tracker/CVE-2024-1111', pkgName: 'libssl3', installedVersion: '1:3.0.11-1~deb12u2', fixedVersion: '' },
      { id: 'GHSA-xxxx-yyyy-zzzz', severity: 'UNKNOWN', title: untriaged.title, pkgName: 'jackson-databind', installedVersion: '2.13.0', fixedVersion: '', pkgPath: 'app/lib/jackson-databind-2.13.0.jar' },
    ]);
  });

  it('refuses a scan that is not complete rather than reading it as no findings', async () => {
    answers = [{ body: { ...page([]).body, imageScanStatus: { status: 'IN_PROGRESS', description: 'Scan in progress' } } }];
    await expect(reader().findings(repository, digest)).rejects.toThrow(`reading the scan findings of ${repository}@${digest}: the scan is IN_PROGRESS (Scan in progress), not COMPLETE`);
  });

  it.each([
    [400, 'ScanNotFoundException', 'Image scan does not exist for the image', false],
    [400, 'RepositoryNotFoundException', 'The repository does not exist', false],
    [400, 'ThrottlingException', 'Rate exceeded', true],
    [500, 'ServerException', 'Internal error', true],
  ])('names the repository and digest when ECR answers %i %s (retryable: %s)', async (status, type, message, retryable) => {
    answers = [{ status, body: { __type: type, message } }];
    const error = await reader().findings(repository, digest).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(MirrorError);
    expect((error as Error).message).toBe(`reading the scan findings of ${repository}@${digest}: ${type}: ${message}`);
    expect((error as MirrorError).retryable).toBe(retryable);
  });
});

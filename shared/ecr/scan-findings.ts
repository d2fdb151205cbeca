import {
  DescribeImageScanFindingsCommand,
  type DescribeImageScanFindingsResponse,
  type ECRClient,
  type EnhancedImageScanFinding,
  type ImageScanFinding,
  type VulnerablePackage,
} from '@aws-sdk/client-ecr';
import { describeError, MirrorError } from '../errors.ts';
import type { Finding, ScanFindingsReader, Severity } from '../ports.ts';
import { safeText } from '../safe-text.ts';

// DescribeImageScanFindings (https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_DescribeImageScanFindings.html)
// answers basic scanning with `imageScanFindings.findings` (a CVE name, its uri, a severity, and `package_name` /
// `package_version` among the attributes; no fixed version) and enhanced scanning (Amazon Inspector) with
// `imageScanFindings.enhancedFindings` (`packageVulnerabilityDetails` with the vulnerability id and the vulnerable
// packages, each with its `fixedInVersion` when there is one). Both are read, so that either kind of scanning works.
// Reading enhanced findings takes `inspector2:ListFindings` besides (image-scanning-enhanced-iam.html in the ECR user
// guide); the findings function's role does not grant it, since only basic scanning sends the events it handles.

export interface EcrScanFindingsOptions {
  /** The registry (account) id; the caller's own when absent. */
  readonly registryId?: string;
}

/** Findings per page: the most the API allows. Enhanced findings come 100 a page whatever is asked (nextToken is followed). */
const MAX_RESULTS = 1000;

/** Pages read at most: 1,000 pages of 100 enhanced findings is far more than any image has; a token that never ends stops here. */
const MAX_PAGES = 1000;

/** ECR's severities in Trivy's words: basic scanning's INFORMATIONAL and UNDEFINED, Inspector's UNTRIAGED. */
const SEVERITY_OF: Readonly<Record<string, Severity>> = {
  CRITICAL: 'CRITICAL',
  HIGH: 'HIGH',
  MEDIUM: 'MEDIUM',
  LOW: 'LOW',
  INFORMATIONAL: 'LOW',
  UNDEFINED: 'UNKNOWN',
  UNTRIAGED: 'UNKNOWN',
};

/** The findings of an image's last completed ECR scan, every page of them, basic and enhanced. */
export class EcrScanFindingsReader implements ScanFindingsReader {
  constructor(
    private readonly client: ECRClient,
    private readonly options: EcrScanFindingsOptions = {},
  ) {}

  async findings(repository: string, digest: string): Promise<Finding[]> {
    const doing = `reading the scan findings of ${safeText(repository)}@${safeText(digest)}`;
    const found: Finding[] = [];
    let nextToken: string | undefined;
    for (let page = 0; page < MAX_PAGES; page += 1) {
      const answer = await this.page(repository, digest, nextToken, doing);
      const status = answer.imageScanStatus?.status;
      // A scan still running or failed has no findings to judge: saying "none" would accept what it will find.
      if (status !== undefined && status !== 'COMPLETE' && status !== 'ACTIVE') {
        throw new MirrorError(`${doing}: the scan is ${status}${answer.imageScanStatus?.description ? ` (${safeText(answer.imageScanStatus.description)})` : ''}, not COMPLETE`);
      }
      found.push(...(answer.imageScanFindings?.findings ?? []).map(basicFinding));
      found.push(...(answer.imageScanFindings?.enhancedFindings ?? []).flatMap(enhancedFindings));
      nextToken = answer.nextToken;
      if (nextToken === undefined || nextToken === '') return found;
    }
    throw new MirrorError(`${doing}: ECR still had more pages after ${MAX_PAGES}`);
  }

  private async page(repository: string, digest: string, nextToken: string | undefined, doing: string): Promise<DescribeImageScanFindingsResponse> {
    try {
      return await this.client.send(
        new DescribeImageScanFindingsCommand({
          repositoryName: repository,
          imageId: { imageDigest: digest },
          maxResults: MAX_RESULTS,
          ...(nextToken === undefined ? {} : { nextToken }),
          ...(this.options.registryId === undefined ? {} : { registryId: this.options.registryId }),
        }),
      );
    } catch (error) {
      throw new MirrorError(`${doing}: ${errorName(error)}${safeText(describeError(error))}`, { cause: error, retryable: isTransient(error) });
    }
  }
}

/** A basic scanning finding: the CVE is its name, the package in its attributes. */
function basicFinding(finding: ImageScanFinding): Finding {
  const attribute = (key: string) => finding.attributes?.find((item) => item.key === key)?.value ?? '';
  return {
    id: finding.name ?? '',
    severity: severityOf(finding.severity),
    pkgName: attribute('package_name'),
    installedVersion: attribute('package_version'),
    // Basic scanning names no fixed version.
    fixedVersion: '',
    ...(finding.uri ? { url: finding.uri } : {}),
  };
}

/** An Inspector finding: one Finding per vulnerable package it names (one without packages still counts, package unknown). */
function enhancedFindings(finding: EnhancedImageScanFinding): Finding[] {
  const details = finding.packageVulnerabilityDetails;
  const id = details?.vulnerabilityId ?? finding.title ?? '';
  const common = {
    id,
    severity: severityOf(finding.severity),
    ...(finding.title ? { title: finding.title } : {}),
    ...(details?.sourceUrl ? { url: details.sourceUrl } : {}),
  };
  const packages = details?.vulnerablePackages ?? [];
  if (packages.length === 0) return [{ ...common, pkgName: '', installedVersion: '', fixedVersion: '' }];
  return packages.map((pkg) => ({
    ...common,
    pkgName: pkg.name ?? '',
    installedVersion: versionOf(pkg),
    // Inspector writes "NotAvailable" where there is no fix yet; a Finding says that with ''.
    fixedVersion: pkg.fixedInVersion === undefined || pkg.fixedInVersion === 'NotAvailable' ? '' : pkg.fixedInVersion,
    ...(pkg.filePath ? { pkgPath: pkg.filePath } : {}),
  }));
}

/** `epoch:version-release` as the package manager writes it (Trivy's InstalledVersion), from Inspector's three fields. */
function versionOf(pkg: VulnerablePackage): string {
  const version = pkg.version ?? '';
  const withRelease = pkg.release ? `${version}-${pkg.release}` : version;
  return pkg.epoch ? `${pkg.epoch}:${withRelease}` : withRelease;
}

// An unknown severity is kept as UNKNOWN rather than dropped: dropping it could hide a finding.
function severityOf(severity: string | undefined): Severity {
  return SEVERITY_OF[severity ?? ''] ?? 'UNKNOWN';
}

/** `ScanNotFoundException: ` and the like, where the SDK's message does not say it. */
function errorName(error: unknown): string {
  return error instanceof Error && error.name !== 'Error' && !error.message.includes(error.name) ? `${error.name}: ` : '';
}

/** Throttling and server faults may clear; a missing repository, image or scan will not. */
function isTransient(error: unknown): boolean {
  const meta = error as { $retryable?: unknown; $fault?: unknown; name?: unknown };
  return meta.$retryable !== undefined || meta.$fault === 'server' || meta.name === 'ThrottlingException';
}

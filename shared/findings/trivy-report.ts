import { ReportError } from '../errors.ts';
import { formatReference, type ImageReference, parseImageReference, withDigest } from '../image-ref/reference.ts';
import { isRecord } from '../json.ts';
import { type Finding, SEVERITIES, type Severity } from '../ports.ts';
import { describeValue, safeText } from '../safe-text.ts';

// The fields read are those of Trivy's JSON report (https://trivy.dev/latest/docs/configuration/reporting/#json), as
// pkg/types/report.go and pkg/types/vulnerability.go write them: Go's `omitempty` leaves out empty strings and lists, and
// a clean image's report may have no Results at all, so an absent field is no fault; a field of another type is.

/** A Trivy JSON report of one image (`trivy image --format json`, SchemaVersion 2), reduced to what the gate needs. */
export interface TrivyReport {
  /** Where it was read from, as given: every message about it names it. */
  readonly file: string;
  /** ArtifactName as Trivy wrote it: what was asked to be scanned (`postgres:14@sha256:…`). */
  readonly artifactName: string;
  /** ArtifactName parsed and normalised (`docker.io/library/postgres:14@sha256:…`); undefined when it is no image reference. */
  readonly reference?: ImageReference;
  /** Repositories and digests the report says it scanned: the ArtifactName's, then Metadata.RepoDigests', normalised, deduplicated. */
  readonly digests: readonly ImageReference[];
  /** Metadata.RepoTags, normalised. */
  readonly tags: readonly ImageReference[];
  /** Every vulnerability of every result, in report order. */
  readonly findings: readonly Finding[];
}

/**
 * Reads one Trivy JSON report. Throws a ReportError (a UsageError: exit 2) naming the file and what is wrong for text
 * that is no JSON, a SchemaVersion other than 2, an ArtifactType other than container_image, or a field of the wrong type.
 */
export function parseTrivyReport(text: string, file: string): TrivyReport {
  const fail = (problem: string): never => {
    throw new ReportError(`reading the Trivy report "${safeText(file)}": ${problem}`);
  };
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch (error) {
    return fail(`not JSON (${safeText(error instanceof Error ? error.message : String(error), 120)}); give the output of \`trivy image --format json\``);
  }
  if (!isRecord(root)) return fail(`expected a JSON object, got ${describeValue(root)}`);
  if (root.SchemaVersion !== 2) return fail(`SchemaVersion is ${describeValue(root.SchemaVersion)}, not 2: give the output of \`trivy image --format json\` of a Trivy that writes SchemaVersion 2`);
  if (root.ArtifactType !== undefined && root.ArtifactType !== 'container_image') {
    return fail(`ArtifactType is ${describeValue(root.ArtifactType)}, not "container_image": the gate reads reports of \`trivy image\` only`);
  }
  const artifactName = root.ArtifactName;
  if (typeof artifactName !== 'string' || artifactName === '') return fail(`ArtifactName must be the image scanned, got ${describeValue(artifactName)}`);

  const metadata = root.Metadata ?? {};
  if (!isRecord(metadata)) return fail(`Metadata must be an object, got ${describeValue(metadata)}`);
  const repoDigests = stringList(metadata.RepoDigests, 'Metadata.RepoDigests', fail);
  const repoTags = stringList(metadata.RepoTags, 'Metadata.RepoTags', fail);

  const reference = tryReference(artifactName);
  const digests = unique([...(reference?.digest === undefined ? [] : [withDigest(reference, reference.digest)]), ...references(repoDigests, (ref) => ref.digest !== undefined)]);
  const tags = unique(references(repoTags, (ref) => ref.digest === undefined));

  const results = root.Results ?? [];
  if (!Array.isArray(results)) return fail(`Results must be a list, got ${describeValue(results)}`);
  const findings: Finding[] = [];
  results.forEach((result: unknown, r) => {
    const where = `Results[${r}]`;
    if (!isRecord(result)) return fail(`${where} must be an object, got ${describeValue(result)}`);
    const target = optionalString(result, 'Target', where, fail);
    const vulnerabilities = result.Vulnerabilities ?? [];
    if (!Array.isArray(vulnerabilities)) return fail(`${where}.Vulnerabilities must be a list, got ${describeValue(vulnerabilities)}`);
    vulnerabilities.forEach((vulnerability: unknown, v) => findings.push(readFinding(vulnerability, `${where}.Vulnerabilities[${v}]`, target, fail)));
  });

  return { file, artifactName, ...(reference === undefined ? {} : { reference }), digests, tags, findings };
}

type Fail = (problem: string) => never;

function readFinding(value: unknown, where: string, target: string | undefined, fail: Fail): Finding {
  if (!isRecord(value)) return fail(`${where} must be an object, got ${describeValue(value)}`);
  const id = value.VulnerabilityID;
  if (typeof id !== 'string' || id === '') return fail(`${where}.VulnerabilityID must be a non-empty string, got ${describeValue(id)}`);
  const severity = value.Severity;
  // An unknown severity is refused rather than dropped or guessed: either could let a critical through.
  if (!isSeverity(severity)) return fail(`${where} (${safeText(id, 80)}): Severity ${describeValue(severity)} is no Trivy severity (known: ${SEVERITIES.join(', ')})`);
  const field = (key: string) => optionalString(value, key, `${where} (${safeText(id, 80)})`, fail);
  const identifier = value.PkgIdentifier ?? {};
  if (!isRecord(identifier)) return fail(`${where} (${safeText(id, 80)}): PkgIdentifier must be an object, got ${describeValue(identifier)}`);
  const purl = optionalString(identifier, 'PURL', `${where} (${safeText(id, 80)}).PkgIdentifier`, fail);
  const optional = { title: field('Title'), url: field('PrimaryURL'), pkgPath: field('PkgPath'), purl, target };
  return {
    id,
    severity,
    pkgName: field('PkgName') ?? '',
    installedVersion: field('InstalledVersion') ?? '',
    fixedVersion: field('FixedVersion') ?? '',
    ...definedOnly(optional),
  };
}

function isSeverity(value: unknown): value is Severity {
  return SEVERITIES.some((severity) => severity === value);
}

function optionalString(record: Record<string, unknown>, key: string, where: string, fail: Fail): string | undefined {
  const value = record[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') return fail(`${where}.${key} must be a string, got ${describeValue(value)}`);
  return value;
}

function stringList(value: unknown, where: string, fail: Fail): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || !value.every((item): item is string => typeof item === 'string')) return fail(`${where} must be a list of strings, got ${describeValue(value)}`);
  return value;
}

// RepoTags and RepoDigests name the image as the local Docker daemon or the registry knows it; one the gate cannot read
// (a `<none>` tag, an unsupported digest algorithm) says nothing it needs, so it is skipped rather than refusing the report.
function references(texts: readonly string[], keep: (ref: ImageReference) => boolean): ImageReference[] {
  return texts.map(tryReference).filter((ref): ref is ImageReference => ref !== undefined && keep(ref));
}

function tryReference(text: string): ImageReference | undefined {
  try {
    return parseImageReference(text);
  } catch {
    return undefined;
  }
}

function unique(refs: readonly ImageReference[]): ImageReference[] {
  const seen = new Map<string, ImageReference>();
  for (const ref of refs) if (!seen.has(formatReference(ref))) seen.set(formatReference(ref), ref);
  return [...seen.values()];
}

function definedOnly<T extends Record<string, string | undefined>>(record: T): { [K in keyof T]?: string } {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined)) as { [K in keyof T]?: string };
}

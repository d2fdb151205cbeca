// The engine's ports, in one place: the use cases (shared/sync/, shared/findings/, shared/signatures/,
// shared/bots/configure.ts) work through these interfaces, the adapters (source/, registry/, ecr/, secrets/, lambda/,
// observability/, bots/repo-files.ts) implement them, and shared/wiring/ plugs one into the other. Nothing here does
// I/O. The records the use cases hand to their recorders live here too, so that a port never imports the use case
// that calls it.
import type { ImageReference } from './image-ref/reference.ts';
import type { ManifestDescriptor, ManifestJson } from './oci/manifest.ts';
import type { Verified, VerifyRule } from './plan/policy.ts';

/**
 * A Dockerfile as read from a source: its path below the images directory and its text, or why it could not be read.
 * An entry with `warning` is no file at all but something the reader passed over that the user should hear of (a
 * symbolic link to a directory, which is not followed); it blocks nothing.
 */
export interface DockerfileEntry {
  readonly path: string;
  readonly text?: string;
  readonly readError?: string;
  readonly warning?: string;
}

/** Where Dockerfiles come from: a local directory, a git ref, a GitHub repository. */
export interface DockerfileSource {
  /** Every file named `Dockerfile` below the images root, with its path relative to that root. */
  list(): Promise<DockerfileEntry[]>;
}

/**
 * A source registry's pull budget as its headers tell it, on every manifest answer, HEAD (free) included: Docker Hub's
 * `ratelimit-limit: 100;w=21600`, `ratelimit-remaining: 76;w=21600` and `docker-ratelimit-source: 192.0.2.1`
 * (https://docs.docker.com/docker-hub/usage/pulls/#view-pull-rate-and-limit). A registry that sends none has no budget.
 */
export interface PullBudgetSeen {
  readonly limit: number;
  readonly remaining: number;
  /** The window the limit is counted over, in seconds (`w=21600`: 6 hours). */
  readonly windowSeconds: number;
  /** What the pulls are counted against: an IP address or an account (`docker-ratelimit-source`). */
  readonly source?: string;
}

/** What a manifest lookup tells: the digest, and the source's pull budget when it says so. */
export interface ManifestHead {
  readonly digest: string;
  readonly mediaType?: string;
  readonly budget?: PullBudgetSeen;
  /** Manifest GETs the lookup had to spend, counted pulls on Docker Hub: 1 when the registry answered no HEAD; absent for none. */
  readonly pullsSpent?: number;
}

/** A manifest as fetched: its text, parsed JSON, media type and digest. */
export interface Manifest {
  readonly digest: string;
  readonly mediaType: string;
  readonly body: string;
  /** The bytes as received, which `digest` is of: what a copy must write, since decoding may change them (a BOM). */
  readonly bytes?: Uint8Array;
  readonly json: ManifestJson;
}

/** Manifest access on a registry. HEAD costs nothing on Docker Hub; a GET is a counted pull there. */
export interface ManifestRegistry {
  /** The manifest's digest by HEAD (by GET where the registry answers no HEAD), or undefined when it has no such manifest. */
  headManifest(ref: ImageReference): Promise<ManifestHead | undefined>;
  /** The manifest itself, or undefined when absent. */
  getManifest(ref: ImageReference): Promise<Manifest | undefined>;
  /** Stores a manifest (its text, or bytes to be written as they are) under the reference's tag and returns its digest. */
  putManifest(ref: ImageReference, body: string | Uint8Array, mediaType: string): Promise<string>;
  /**
   * The manifests that name `ref`'s digest as their `subject`, by the OCI 1.1 referrers API
   * (`GET /v2/<name>/referrers/<digest>`); undefined when the registry does not serve that API (a 404 for the path),
   * so that the caller falls back to the referrers tag scheme (`<repo>:sha256-<hex>`). Not a manifest GET: no pull.
   */
  listReferrers(ref: ImageReference): Promise<ReferrerDescriptor[] | undefined>;
  /** A blob of `ref`'s repository by digest, checked against the digest, refused beyond `maxBytes`. Not a pull on Docker Hub. */
  getBlob(ref: ImageReference, digest: string, maxBytes: number): Promise<Uint8Array>;
}

/** A referrer as a referrers list (the API's answer, or a referrers tag's index) names it: a manifest with its artifact type. */
export interface ReferrerDescriptor extends ManifestDescriptor {
  /** `application/vnd.dev.sigstore.bundle.v0.3+json` for a Sigstore bundle, an SPDX or in-toto type for an SBOM or attestation. */
  readonly artifactType?: string;
}

/**
 * Which artifacts travel with an image: `none`; `signatures` (cosign's `.sig` tag and referrers that are signatures:
 * Sigstore bundles, Notary signatures); `all` (also `.att` and `.sbom` tags and every other referrer).
 */
export const ARTIFACT_MODES = ['none', 'signatures', 'all'] as const;
export type ArtifactMode = (typeof ARTIFACT_MODES)[number];
export const DEFAULT_ARTIFACT_MODE: ArtifactMode = 'signatures';

/** What reading an image's signatures needs of a registry: HEADs and GETs of manifests, referrers lists, blobs. */
export type ArtifactReader = Pick<ManifestRegistry, 'headManifest' | 'getManifest' | 'listReferrers' | 'getBlob'>;

/** Checks an image's signatures against the rule that covers it. */
export interface ImageVerifier {
  /**
   * Verifies that the image `image` (its repository, with the digest to be mirrored) carries a signature `rule`
   * accepts, read through `reader` (cosign's `.sig` tag, then Sigstore bundles among its referrers). Throws
   * UnverifiedError saying why none does, naming the image.
   */
  verify(rule: VerifyRule, image: ImageReference, reader: ArtifactReader): Promise<Verified>;
}

/** What a job did about the artifacts of its image (signatures, attestations, SBOMs), when there were any. */
export interface ArtifactsNote {
  /** Artifacts copied this run: `sha256-<hex>.sig` tags, referrers by digest. */
  readonly copied: number;
  /** Artifacts the target already held. */
  readonly present: number;
}

/** A user name and password (or token) for one registry. */
export interface RegistryCredential {
  readonly username: string;
  readonly password: string;
}

/** Supplies credentials per registry host (`docker.io`, `quay.io`, `localhost:5000`). */
export interface CredentialProvider {
  credentialsFor(registry: string): Promise<RegistryCredential | undefined>;
  /** Forgets cached credentials for a registry that refused them, so the next call fetches fresh ones. */
  invalidate?(registry: string): void;
}

/** A copy of one image, source and target as parsed references, with the credentials of the registries involved. */
export interface CopyRequest {
  readonly source: ImageReference;
  readonly target: ImageReference;
  readonly credentials: ReadonlyMap<string, RegistryCredential>;
  /** A shorter time limit than the copier's own, e.g. what is left before a Lambda deadline. */
  readonly timeoutMs?: number;
  /** Aborted when the run is interrupted: the copy stops at once and throws InterruptedError. */
  readonly signal?: AbortSignal;
}

/** Copies images between registries. */
export interface ImageCopier {
  copy(request: CopyRequest): Promise<void>;
}

/**
 * What a repository store did to one repository: created it, put back managed settings that had drifted (in words:
 * "scan on push", "lifecycle policy", "tag managed-by", "tag source"), and what it found wrong and cannot change or
 * could not check or put back (ECR refusing a read or a repair of an existing repository fails nothing).
 */
export interface RepositoryReport {
  readonly created: boolean;
  readonly repaired: readonly string[];
  readonly warnings: readonly string[];
}

/** A repository the mirror manages (tagged managed-by=image-mirror), with the source its `source` tag names. */
export interface ManagedRepository {
  readonly name: string;
  readonly source?: string;
}

/** The managed repositories under a prefix, and how many repositories the prefix holds in all. */
export interface ManagedListing {
  readonly repositories: readonly ManagedRepository[];
  /** Repositories under the prefix, managed or not, `except` ones included. */
  readonly total: number;
}

/**
 * Target repositories with managed settings, for a registry that does not create them on push (ECR). Jobs of one
 * repository that run at once share one check; only the job that did the work gets its report, the others an empty one.
 */
export interface RepositoryStore {
  /** Checks an existing repository and puts back its managed settings where they drifted; undefined, creating nothing, when it does not exist. */
  check(repository: string, source: string): Promise<RepositoryReport | undefined>;
  /** Creates the repository with its managed settings, or checks it as check() does when it exists. */
  ensure(repository: string, source: string): Promise<RepositoryReport>;
  /** The repositories named `<prefix>/…` (every one for an empty prefix), but those in `except`, that the mirror manages. */
  listManaged(prefix: string, except?: ReadonlySet<string>): Promise<ManagedListing>;
}

/** The payload of one worker invocation. */
export interface WorkerJobPayload {
  readonly source: string;
  readonly target: string;
  readonly files: readonly string[];
  /** The scheduler run that sent it: on every log line of the worker, so that one run's outcome can be found. */
  readonly runId?: string;
  /** The signature policy rule that covers the image, with its key or trust root inline: the worker verifies before copying. */
  readonly verify?: VerifyRule;
}

/** Starts one worker per image, without waiting for it to finish. */
export interface WorkerInvoker {
  invoke(job: WorkerJobPayload): Promise<void>;
}

// The vulnerability gate's vocabulary, shared by Trivy reports (the PR check) and ECR scan findings (AWS).

/** Trivy's severities, most severe first (https://trivy.dev/latest/docs/scanner/vulnerability/#severity-selection). */
export const SEVERITIES = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'UNKNOWN'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** One vulnerability in one package of a scanned image, whoever reported it (a Trivy report, ECR's scan). */
export interface Finding {
  /** `CVE-2024-1234`, `GHSA-…`: Trivy's VulnerabilityID, ECR's finding name. What a sign-off names. */
  readonly id: string;
  readonly severity: Severity;
  /** The package, `''` when the scanner does not say. */
  readonly pkgName: string;
  readonly installedVersion: string;
  /** The first version with the fix; `''` when there is none yet. */
  readonly fixedVersion: string;
  readonly title?: string;
  /** Where to read about it (Trivy's PrimaryURL, ECR's uri). */
  readonly url?: string;
  /** Trivy's PkgPath (language packages), which a sign-off's `paths` match. */
  readonly pkgPath?: string;
  /** Trivy's PkgIdentifier.PURL, which a sign-off's `purls` match. */
  readonly purl?: string;
  /** Trivy's Result.Target: `postgres:14 (debian 12.5)`, `usr/local/bin/gosu`. */
  readonly target?: string;
}

/** A sign-off file as a source read it: its text, or why it could not be read. */
export interface SignOffText {
  /** The file's path below the images root: `docker.io/library/postgres/.trivyignore.yaml`. */
  readonly path: string;
  readonly text?: string;
  readonly readError?: string;
}

/** The sign-off files of an images tree (a local directory, GitHub). */
export interface SignOffReader {
  /** The sign-off file beside the Dockerfile at `dockerfilePath` (below the images root); undefined when there is none. */
  read(dockerfilePath: string): Promise<SignOffText | undefined>;
}

/** The findings of an image's registry scan (ECR basic scanning). */
export interface ScanFindingsReader {
  /** Every finding of the image's last completed scan, all pages; throws naming the repository and digest. */
  findings(repository: string, digest: string): Promise<Finding[]>;
}

/** A repository's files, for the bot configuration commands. */
export interface RepositoryFiles {
  /** The top directory of the repository holding `dir`, or undefined outside one. */
  topLevel(dir: string): Promise<string | undefined>;
  /** A file's text, or undefined when it does not exist. */
  read(path: string): Promise<string | undefined>;
  write(path: string, text: string): Promise<void>;
  /** The Renovate configuration file Renovate would read in `root` (its lookup order), or `renovate.json` when none exists. */
  renovateConfigPath(root: string): Promise<string>;
}

// The records the use cases hand to their recorders, and the recorders (a log line and metrics on AWS).

/** A problem with one Dockerfile: an error when it yields no image, a warning when it blocks nothing. */
export interface FileIssue {
  readonly file: string;
  readonly message: string;
}

/**
 * What happened to one image. `deferred`: not copied, and not a failure, because the source's pull budget would have
 * gone below the reserve (or the source refused with its pull limit); the next run picks it up.
 */
export type MirrorStatus = 'copied' | 'skipped' | 'failed' | 'would-copy' | 'would-skip' | 'interrupted' | 'deferred';

/** One line of a report: a job and what became of it. */
export interface MirrorResult {
  /** The first file naming the image; `files` lists all of them. */
  readonly file: string;
  readonly files: readonly string[];
  readonly source: string;
  readonly target: string | null;
  readonly status: MirrorStatus | 'planned';
  /** The source digest copied or found; kept in a failure when the lookup got that far. */
  readonly digest: string | null;
  /** For `copied`: the digest the target tag held before, when it held another image (it now points elsewhere). */
  readonly replaced?: string;
  readonly error: string | null;
  readonly retryable?: boolean;
  readonly durationMs?: number;
  /** The source's pull budget as last seen while this image was handled, when the source has one. */
  readonly budget?: PullBudgetSeen;
  /** Manifest GETs this image spent on its source (Docker Hub's counted pulls), when any. */
  readonly pulls?: number;
  /** What this job did to its ECR repository, when there is something to say: created, settings put back, warnings. */
  readonly repository?: RepositoryNote;
  /** A digest pin whose tag now names another image upstream (sync only: a plain plan contacts no registry). */
  readonly pinDrift?: PinDrift;
  /** Notices about this image that fail nothing, in words: a pin whose tag moved, a --platform the image does not have. */
  readonly notices?: readonly string[];
  /** Why a failure is what it is, where a machine should tell: `unverified` when a policy rule refused the image. */
  readonly reason?: 'unverified';
  /** The policy rule that covers the image, in a plan: by name, with how it verifies. */
  readonly rule?: { readonly name: string; readonly by: 'key' | 'keyless' };
  /** How the image was verified before it was mirrored (or found unchanged), when a policy rule covers it. */
  readonly verified?: Verified;
  /** Signatures and other artifacts copied with the image, or found already there. */
  readonly artifacts?: ArtifactsNote;
}

/**
 * A digest pin whose tag has moved on upstream: `FROM postgres:14@sha256:abc…` while `postgres:14` now names
 * `sha256:def…`. The pin is still what is mirrored; this only says that upstream has a newer image under the tag.
 */
export interface PinDrift {
  /** The tag written beside the pin, as a reference: `docker.io/library/postgres:14`. */
  readonly tag: string;
  /** The digest the file pins. */
  readonly pinned: string;
  /** The digest the tag names today; null when the tag no longer exists upstream. */
  readonly current: string | null;
}

/** A RepositoryReport as a result line carries it: only what there is to say. */
export interface RepositoryNote {
  readonly created?: true;
  readonly repaired?: readonly string[];
  readonly warnings?: readonly string[];
}

/** Where outcomes go: a log line and metrics on AWS. */
export interface OutcomeRecorder {
  /** The image's final outcome: one per event, with the attempts made at it when there were any. */
  record(result: MirrorResult, attempt?: { readonly number: number; readonly of: number }): void;
  /** An attempt that failed for a reason that may clear, to be tried again after `waitMs`: never a final outcome. */
  retrying(result: MirrorResult, attempt: { readonly number: number; readonly of: number; readonly waitMs: number }): void;
}

/** What a scheduler run did, returned to the caller and logged. */
export interface ScheduleSummary {
  /** Names this run on the scheduler's log line and in every worker event it sent. */
  readonly runId: string;
  readonly dryRun: boolean;
  readonly planned: number;
  readonly invoked: number;
  readonly failedInvokes: number;
  readonly invalid: number;
  readonly jobs: readonly ScheduledJob[];
  readonly errors: readonly FileIssue[];
  readonly warnings: readonly FileIssue[];
  /** `only` entries that matched no image of the plan. */
  readonly unmatched: readonly string[];
  /** The images whose worker could not be invoked (a partial fan-out): not retried by this run, picked up by the next. */
  readonly invokeErrors: readonly { source: string; message: string }[];
  /** Repositories under the target prefix, tagged managed-by=image-mirror, that no Dockerfile names (ECR targets only). */
  readonly orphans?: { readonly repositories: readonly string[]; readonly checked: number } | { readonly error: string };
}

/** A worker payload as the scheduler's summary lists it: its rule by name and kind, without the key or trust root inline. */
export type ScheduledJob = Omit<WorkerJobPayload, 'verify'> & { readonly verify?: Pick<VerifyRule, 'name' | 'by'> };

/** Where a run's outcome goes: a log line and metrics on AWS. */
export interface ScheduleRecorder {
  recordRun(summary: ScheduleSummary): void;
  /** The orphan report, after the run was recorded: a slow listing never costs the run's own line. */
  recordOrphans(runId: string, orphans: NonNullable<ScheduleSummary['orphans']>): void;
  recordFailure(error: unknown, runId: string): void;
}

/** Findings of one scanned image by severity; a severity ECR leaves out counts 0. */
export interface SeverityCounts {
  readonly critical: number;
  readonly high: number;
  readonly medium: number;
  readonly low: number;
  readonly informational: number;
  readonly undefined: number;
}

/** The image a scan event is about, as ECR names it. */
export interface ScannedImage {
  readonly repository: string;
  readonly digest: string;
  /** Tags of the image; empty for an untagged manifest, e.g. one platform of a multi-platform index. */
  readonly tags: readonly string[];
  /** ECR's `scan-status`: `COMPLETE`, `FAILED`, … */
  readonly status: string;
}

/** A finding of a gated severity that no sign-off accepts: none names it, or the one that does is past its `expired_at`. */
export interface UnacceptedFinding {
  readonly id: string;
  readonly severity: Severity;
  readonly pkgName: string;
  readonly status: 'not-signed-off' | 'expired';
}

/**
 * A scanned image's CRITICAL and HIGH findings judged against the sign-offs beside its Dockerfile: what is left
 * unaccepted pages, what is signed off does not. When the findings or the images tree cannot be read, or no sign-offs
 * are configured, the event's raw counts are unaccepted (fail closed) and `error` or `problems` say why.
 */
export interface Acceptance {
  readonly unacceptedCritical: number;
  readonly unacceptedHigh: number;
  readonly unaccepted: readonly UnacceptedFinding[];
  /** Findings of the gated severities a sign-off that counts accepts. */
  readonly signedOff: number;
  /** Findings among `unaccepted` whose sign-off is past its `expired_at`. */
  readonly expired: number;
  /** Where to sign off: the sign-off files' paths in the images repository (`images/docker.io/library/postgres/.trivyignore.yaml`). */
  readonly signOffFiles: readonly string[];
  /** The same files on GitHub's web, when the repository's web address is known. */
  readonly signOffUrls: readonly string[];
  /** The Dockerfiles (below the images root) whose image this is. */
  readonly dockerfiles: readonly string[];
  /** What was wrong with sign-off files or entries (those sign nothing off); never fatal. */
  readonly problems: readonly string[];
  /** Why the findings could not be judged at all: the raw counts are then unaccepted. */
  readonly error?: string;
}

/** What one event amounts to; every kind but `ignored` concerns a mirrored image or a broken event. */
export type ScanEventOutcome =
  | ({ readonly kind: 'scanned'; readonly counts: SeverityCounts; readonly acceptance?: Acceptance } & ScannedImage)
  | ({ readonly kind: 'scan-failed' } & ScannedImage)
  | ({ readonly kind: 'not-scanned' } & ScannedImage)
  | { readonly kind: 'ignored'; readonly reason: string; readonly repository?: string }
  | { readonly kind: 'invalid'; readonly error: string };

/** Where outcomes go: a log line and metrics on AWS. */
export interface ScanRecorder {
  record(outcome: ScanEventOutcome): void;
}

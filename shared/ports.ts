// The engine's ports, in one place: the use cases (shared/sync/) work through these interfaces, the adapters
// (source/, registry/, ecr/, secrets/, lambda/, observability/, findings/) implement them, and shared/wiring/ plugs
// one into the other. Nothing here does I/O. The three recorders (OutcomeRecorder, ScheduleRecorder, ScanRecorder)
// still sit beside the use cases whose results they take, until those result types move out of the use cases.
import type { ImageReference } from './image-ref/reference.ts';
import type { ManifestJson } from './oci/manifest.ts';

/** A Dockerfile as read from a source: its path below the images directory and its text, or why it could not be read. */
export interface DockerfileEntry {
  readonly path: string;
  readonly text?: string;
  readonly readError?: string;
}

/** Where Dockerfiles come from: a local directory, a git ref, a GitHub repository. */
export interface DockerfileSource {
  /** Every file named `Dockerfile` below the images root, with its path relative to that root. */
  list(): Promise<DockerfileEntry[]>;
}

/** What a manifest HEAD tells: the digest, and Docker Hub's remaining pull budget when it says so. */
export interface ManifestHead {
  readonly digest: string;
  readonly mediaType?: string;
  readonly rateLimitRemaining?: string;
}

/** A manifest as fetched: its bytes, parsed JSON, media type and digest. */
export interface Manifest {
  readonly digest: string;
  readonly mediaType: string;
  readonly body: string;
  readonly json: ManifestJson;
}

/** Manifest access on a registry. HEAD costs nothing on Docker Hub; a GET is a counted pull there. */
export interface ManifestRegistry {
  /** The manifest's digest by HEAD, or undefined when the registry has no such manifest. */
  headManifest(ref: ImageReference): Promise<ManifestHead | undefined>;
  /** The manifest itself, or undefined when absent. */
  getManifest(ref: ImageReference): Promise<Manifest | undefined>;
  /** Stores a manifest under the reference's tag and returns its digest. */
  putManifest(ref: ImageReference, body: string, mediaType: string): Promise<string>;
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

/** A copy of one image, source and target as full references, with the credentials of the registries involved. */
export interface CopyRequest {
  readonly source: string;
  readonly target: string;
  readonly credentials: ReadonlyMap<string, RegistryCredential>;
  /** A shorter time limit than the copier's own, e.g. what is left before a Lambda deadline. */
  readonly timeoutMs?: number;
}

/** Copies images between registries. */
export interface ImageCopier {
  copy(request: CopyRequest): Promise<void>;
}

/** Makes sure a target repository exists before anything is pushed to it. */
export interface RepositoryStore {
  /** Returns whether this call created the repository. */
  ensure(repository: string, source: string): Promise<'created' | 'exists'>;
}

/** The payload of one worker invocation. */
export interface WorkerJobPayload {
  readonly source: string;
  readonly target: string;
  readonly files: readonly string[];
}

/** Starts one worker per image, without waiting for it to finish. */
export interface WorkerInvoker {
  invoke(job: WorkerJobPayload): Promise<void>;
}

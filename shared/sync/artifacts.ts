// The artifacts that travel with an image (cosign's `.sig`/`.att`/`.sbom` tags, OCI 1.1 referrers), found by HEADs
// and referrers lists, which cost no pull, and copied by digest: a run over images whose artifacts are all in the
// target spends no manifest GET on the source. Where they live: shared/oci/artifacts.ts.
import pLimit from 'p-limit';
import { CopyFailedError, describeError, mayRetry, RegistryRequestError } from '../errors.ts';
import { formatReference, type ImageReference, withDigest } from '../image-ref/reference.ts';
import { cosignSuffixes, cosignTag, type CosignSuffix, referrersTag, wantsReferrer } from '../oci/artifacts.ts';
import { isDigest, OCI_INDEX } from '../oci/manifest.ts';
import { safeText } from '../safe-text.ts';
import type { ArtifactMode, ArtifactReader, ArtifactsNote, Manifest, ManifestHead, ManifestRegistry, ReferrerDescriptor } from '../ports.ts';

/** On a referrers tag index written with only some of the source's referrers: the source tag index's digest it was made from. */
export const REFERRERS_SOURCE_ANNOTATION = 'io.github.image-mirror.referrers.source.digest';
/** On such an index: the artifact mode that chose its referrers, since another mode would choose others. */
export const REFERRERS_MODE_ANNOTATION = 'io.github.image-mirror.artifacts';

/** What copying artifacts needs of the engine: the registry, a crane copy with its pull granted, a GET's pull granted. */
export interface ArtifactCopying {
  readonly registry: ManifestRegistry;
  /** Copies one artifact manifest by digest with crane, its pull granted from the source's budget first (or DeferredError). */
  copy(from: ImageReference, to: ImageReference): Promise<void>;
  /** Grants and counts one manifest GET on the source before it is sent (or throws DeferredError). */
  pull(what: string): Promise<void>;
  /** A source HEAD's answer: the budget it told, and the pull it spent where the registry answers no HEAD. */
  looked(head: ManifestHead): void;
}

/** Digests whose artifacts are copied at once: one per image of an index. */
const DIGESTS_AT_ONCE = 4;

const NOTHING: ArtifactsNote = { copied: 0, present: 0 };

/**
 * Copies the artifacts `mode` takes of each digest (the image's, and for an index each child copied) from the
 * source repository to the target repository, and says how many were copied and how many the target held already.
 * Throws CopyFailedError naming the artifact and the image, retryable when what failed may clear.
 */
export async function copyArtifacts(source: ImageReference, target: ImageReference, digests: readonly string[], mode: ArtifactMode, ports: ArtifactCopying): Promise<ArtifactsNote> {
  if (mode === 'none') return NOTHING;
  const limit = pLimit(DIGESTS_AT_ONCE);
  const notes = await Promise.all([...new Set(digests)].map((digest) => limit(() => copyArtifactsOf(source, target, digest, mode, ports))));
  return notes.reduce(sum, NOTHING);
}

/**
 * A reader whose requests for `from`'s repository go to `to`'s instead: the target's copy of an image's signatures,
 * read (free) in place of the source's, for an image and signatures found unchanged.
 */
export function readerAt(registry: ArtifactReader, from: ImageReference, to: ImageReference): ArtifactReader {
  const moved = (ref: ImageReference): ImageReference =>
    ref.registry === from.registry && ref.repository === from.repository ? { ...ref, registry: to.registry, repository: to.repository } : ref;
  return {
    headManifest: (ref) => registry.headManifest(moved(ref)),
    getManifest: (ref) => registry.getManifest(moved(ref)),
    listReferrers: (ref) => registry.listReferrers(moved(ref)),
    getBlob: (ref, digest, maxBytes) => registry.getBlob(moved(ref), digest, maxBytes),
  };
}

/** `ref`'s repository under another tag. */
export function withTag(ref: ImageReference, tag: string): ImageReference {
  return { registry: ref.registry, repository: ref.repository, tag };
}

function sum(a: ArtifactsNote, b: ArtifactsNote): ArtifactsNote {
  return { copied: a.copied + b.copied, present: a.present + b.present };
}

async function copyArtifactsOf(source: ImageReference, target: ImageReference, digest: string, mode: ArtifactMode, ports: ArtifactCopying): Promise<ArtifactsNote> {
  // The `.sig` HEADs and the referrers request at once: none waits for another's answer.
  const notes = await Promise.all([...cosignSuffixes(mode).map((suffix) => copyCosignTag(source, target, digest, suffix, ports)), copyReferrers(source, target, digest, mode, ports)]);
  return notes.reduce(sum, NOTHING);
}

const SUFFIX_NAMES: Record<CosignSuffix, string> = { sig: 'signature', att: 'attestation', sbom: 'SBOM' };

/** cosign's `sha256-<hex>.<suffix>` tag: two HEADs; copied by its digest only when the target's tag holds another. */
async function copyCosignTag(source: ImageReference, target: ImageReference, digest: string, suffix: CosignSuffix, ports: ArtifactCopying): Promise<ArtifactsNote> {
  const tag = cosignTag(digest, suffix);
  const from = withTag(source, tag);
  const to = withTag(target, tag);
  const what = `the ${SUFFIX_NAMES[suffix]} "${formatReference(from)}" of "${formatReference(withDigest(source, digest))}" to "${formatReference(to)}"`;
  return failingAs(what, async () => {
    const [up, down] = await Promise.all([head(ports, from, 'source'), head(ports, to, 'target')]);
    if (up === undefined) return NOTHING;
    if (down?.digest === up.digest) return { copied: 0, present: 1 };
    await ports.copy(withDigest(source, up.digest), to);
    await checkLanded(ports, to, up.digest);
    return { copied: 1, present: 0 };
  });
}

/** The source's referrers of a digest: from its referrers API (no pull), else its referrers tag's index (a GET, when it changed). */
interface ListedReferrers {
  readonly referrers: readonly ReferrerDescriptor[];
  /** For a source without the API: its referrers tag index, its digest and bytes, to be written to the target as it is. */
  readonly tagIndex?: { readonly digest: string; readonly bytes: string | Uint8Array };
}

/**
 * The referrers `mode` takes, each copied by digest when the target has no manifest of that digest; then the
 * target's referrers tag kept up to date where it is what lists them: always for a source that lists them by tag (so
 * that the next run tells by HEADs that nothing changed), and on a target that does not serve the referrers API.
 */
async function copyReferrers(source: ImageReference, target: ImageReference, digest: string, mode: ArtifactMode, ports: ArtifactCopying): Promise<ArtifactsNote> {
  const image = formatReference(withDigest(source, digest));
  const targetTag = withTag(target, referrersTag(digest));
  const listed = await failingAs(`the referrers of "${image}"`, () => listSourceReferrers(source, targetTag, digest, mode, ports));
  if (listed === 'unchanged') {
    const index = await failingAs(`the referrers tag "${formatReference(targetTag)}"`, () => readReferrersIndex(ports.registry, targetTag, 'target'));
    return { copied: 0, present: referrersOf(index).filter((referrer) => wantsReferrer(mode, referrer)).length };
  }
  const wanted = listed.referrers.filter((referrer) => wantsReferrer(mode, referrer));
  let note = NOTHING;
  for (const referrer of wanted) {
    const kind = referrer.artifactType === undefined ? '' : ` (${referrer.artifactType})`;
    const to = withDigest(target, referrer.digest);
    note = sum(note, await failingAs(`the referrer ${referrer.digest}${kind} of "${image}" to "${formatReference(to)}"`, async () => {
      if ((await head(ports, to, 'target'))?.digest === referrer.digest) return { copied: 0, present: 1 };
      await ports.copy(withDigest(source, referrer.digest), to);
      await checkLanded(ports, to, referrer.digest);
      return { copied: 1, present: 0 };
    }));
  }
  await failingAs(`the referrers tag "${formatReference(targetTag)}" of "${image}"`, () => writeReferrersTag(target, targetTag, digest, mode, listed, wanted, ports));
  return note;
}

/**
 * The source's referrers: its API's list, free; else its referrers tag, by HEAD, and only when that names another index
 * than the target's tag was made from, a GET of it (a pull). `unchanged` when the target's tag is up to date with it.
 */
async function listSourceReferrers(source: ImageReference, targetTag: ImageReference, digest: string, mode: ArtifactMode, ports: ArtifactCopying): Promise<ListedReferrers | 'unchanged'> {
  const listed = await ports.registry.listReferrers(withDigest(source, digest));
  if (listed !== undefined) return { referrers: listed.filter((referrer) => isDigest(referrer.digest)) };
  const sourceTag = withTag(source, referrersTag(digest));
  const [up, down] = await Promise.all([head(ports, sourceTag, 'source'), head(ports, targetTag, 'target')]);
  if (up === undefined) return { referrers: [] };
  if (down?.digest === up.digest) return 'unchanged';
  if (down !== undefined) {
    const annotations = (await readReferrersIndex(ports.registry, targetTag, 'target'))?.json.annotations;
    if (annotations?.[REFERRERS_SOURCE_ANNOTATION] === up.digest && annotations[REFERRERS_MODE_ANNOTATION] === mode) return 'unchanged';
  }
  const pinned = withDigest(source, up.digest);
  await ports.pull(`reading the referrers tag "${formatReference(sourceTag)}"`);
  const index = await ports.registry.getManifest(pinned);
  if (index === undefined) throw new RegistryRequestError(`reading the referrers tag "${formatReference(sourceTag)}": no such manifest (404)`, { status: 404 });
  assertReferrersIndex(index, sourceTag, 'source');
  return { referrers: referrersOf(index).filter((referrer) => isDigest(referrer.digest)), tagIndex: { digest: up.digest, bytes: index.bytes ?? index.body } };
}

/**
 * Writes the target's referrers tag as the distribution spec has a client keep it (pull the list, add to it, push it):
 * a tag-scheme source's index as it is when every referrer was taken and the target's tag lists nothing else (its
 * digest then matches), else the referrers taken merged into what the target's tag lists, annotated with the source
 * index's digest; for a source serving the API, only on a target that does not serve it, the referrers copied merged
 * in the same way. An entry already listed under another descriptor (crane lists a referrer it copies with its config's
 * media type as artifactType) is written anew as the source describes it.
 * https://github.com/opencontainers/distribution-spec/blob/v1.1.0/spec.md#pushing-manifests-with-subject
 */
async function writeReferrersTag(target: ImageReference, targetTag: ImageReference, digest: string, mode: ArtifactMode, listed: ListedReferrers, wanted: readonly ReferrerDescriptor[], ports: ArtifactCopying): Promise<void> {
  const { registry } = ports;
  if (listed.tagIndex !== undefined) {
    const existing = referrersOf(await readReferrersIndex(registry, targetTag, 'target'));
    const merged = mergeReferrers(existing, wanted);
    if (wanted.length === listed.referrers.length && merged.length === wanted.length) {
      await registry.putManifest(targetTag, listed.tagIndex.bytes, OCI_INDEX);
      return;
    }
    const annotations = { [REFERRERS_SOURCE_ANNOTATION]: listed.tagIndex.digest, [REFERRERS_MODE_ANNOTATION]: mode };
    await registry.putManifest(targetTag, JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: merged, annotations }), OCI_INDEX);
    return;
  }
  if (wanted.length === 0 || (await registry.listReferrers(withDigest(target, digest))) !== undefined) return;
  const index = await readReferrersIndex(registry, targetTag, 'target');
  const existing = referrersOf(index);
  const merged = mergeReferrers(existing, wanted);
  if (merged.length === existing.length && merged.every((entry, at) => sameDescriptor(entry, existing[at] as ReferrerDescriptor))) return;
  const annotations = index?.json.annotations;
  await registry.putManifest(targetTag, JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: merged, ...(annotations === undefined ? {} : { annotations }) }), OCI_INDEX);
}

/** What a referrers tag lists, with `wanted` put in: an entry of the same digest replaced by the source's descriptor, the others added at the end. */
export function mergeReferrers(existing: readonly ReferrerDescriptor[], wanted: readonly ReferrerDescriptor[]): ReferrerDescriptor[] {
  const byDigest = new Map(wanted.map((referrer) => [referrer.digest, referrer]));
  const kept = existing.map((entry) => byDigest.get(entry.digest) ?? entry);
  const listed = new Set(existing.map((entry) => entry.digest));
  return [...kept, ...wanted.filter((referrer) => !listed.has(referrer.digest))];
}

/** True when two descriptors say the same of a referrer: what a client reads of the list (type, size, annotations). */
function sameDescriptor(a: ReferrerDescriptor, b: ReferrerDescriptor): boolean {
  return a.digest === b.digest && a.mediaType === b.mediaType && a.size === b.size && a.artifactType === b.artifactType && canonical(a.annotations) === canonical(b.annotations);
}

function canonical(annotations: Readonly<Record<string, string>> | undefined): string {
  return JSON.stringify(Object.entries(annotations ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** A referrers tag's manifest, or undefined; refused when it is anything but an OCI index, which no client could list. */
async function readReferrersIndex(registry: ManifestRegistry, tag: ImageReference, side: 'source' | 'target'): Promise<Manifest | undefined> {
  const index = await registry.getManifest(tag);
  if (index !== undefined) assertReferrersIndex(index, tag, side);
  return index;
}

function assertReferrersIndex(index: Manifest, tag: ImageReference, side: 'source' | 'target'): void {
  if (index.mediaType === OCI_INDEX && (index.json.mediaType === undefined || index.json.mediaType === OCI_INDEX)) return;
  throw new CopyFailedError(`the ${side}'s referrers tag "${formatReference(tag)}" holds a ${safeText(index.mediaType, 100)}, not an OCI image index: it is not a referrers list, and is left as it is`, { reason: 'permanent' });
}

/** A referrers index's descriptors, with the artifact type each names (which the manifest parser passes through unchecked). */
function referrersOf(index: Manifest | undefined): ReferrerDescriptor[] {
  return (index?.json.manifests ?? []).map((descriptor) => {
    const { artifactType } = descriptor as { artifactType?: unknown };
    return typeof artifactType === 'string' ? { ...descriptor, artifactType } : descriptor;
  });
}

async function head(ports: ArtifactCopying, ref: ImageReference, side: 'source' | 'target'): Promise<ManifestHead | undefined> {
  const found = await ports.registry.headManifest(ref);
  if (found !== undefined && side === 'source') ports.looked(found);
  return found;
}

async function checkLanded(ports: ArtifactCopying, to: ImageReference, digest: string): Promise<void> {
  const landed = await ports.registry.headManifest(to);
  if (landed?.digest !== digest) throw new CopyFailedError(`the target now holds ${landed?.digest ?? 'nothing'} instead of ${digest}`, { reason: 'transient' });
}

/** Runs `work`; a failure becomes a CopyFailedError saying `copying <what>`, as retryable as the failure was. */
async function failingAs<T>(what: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    const retryable = mayRetry(error);
    throw new CopyFailedError(`copying ${what}: ${describeError(error)}`, { cause: error, reason: error instanceof CopyFailedError ? error.reason : retryable ? 'transient' : 'permanent', retryable });
  }
}

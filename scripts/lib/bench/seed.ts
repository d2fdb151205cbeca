import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type ManifestFormat, pushImage, pushIndex, type SeedTarget } from '../oci-seed.ts';

/** One image seeded into the source registry, with what a faithful copy must hold. */
export interface SeededImage {
  readonly repository: string;
  readonly tag: string;
  readonly digest: string;
  readonly format: ManifestFormat;
  /** Child manifest digests, for a multi-platform index. */
  readonly children: readonly string[];
  /** Layers per platform image. */
  readonly layers: number;
  /** Layer bytes in all, every platform counted. */
  readonly bytes: number;
}

export interface SeedPlan {
  readonly count: number;
  readonly minLayerBytes: number;
  readonly maxLayerBytes: number;
  /** Seed of the layout (which images are indexes, layer counts and sizes); the bytes are random each time. */
  readonly seed?: number;
}

const PLATFORMS = ['linux/amd64', 'linux/arm64'];
const PARALLEL_PUSHES = 4;

/** A small deterministic generator, so that two benchmark runs seed the same layout. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Pushes `count` images: every third a two-platform index, Docker and OCI media types alternating, 1–3 layers of random bytes. */
export async function seedImages(target: SeedTarget, plan: SeedPlan): Promise<SeededImage[]> {
  const random = mulberry32(plan.seed ?? 5);
  const specs = Array.from({ length: plan.count }, (_, i) => ({
    repository: `bench/app-${String(i + 1).padStart(3, '0')}`,
    tag: `1.${i}`,
    index: i % 3 === 0,
    format: (i % 2 === 0 ? 'oci' : 'docker') as ManifestFormat,
    layers: 1 + Math.floor(random() * 3),
    layerBytes: Math.round(plan.minLayerBytes + random() * (plan.maxLayerBytes - plan.minLayerBytes)),
  }));
  const images: SeededImage[] = new Array(specs.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < specs.length; i = next++) {
      const spec = specs[i] as (typeof specs)[number];
      const options = { format: spec.format, layers: spec.layers, layerBytes: spec.layerBytes };
      const common = { repository: spec.repository, tag: spec.tag, format: spec.format, layers: spec.layers };
      if (spec.index) {
        const { index, children } = await pushIndex(target, spec.repository, spec.tag, PLATFORMS, options);
        images[i] = { ...common, digest: index.digest, children: children.map((c) => c.digest), bytes: spec.layers * spec.layerBytes * PLATFORMS.length };
      } else {
        const manifest = await pushImage(target, spec.repository, spec.tag, options);
        images[i] = { ...common, digest: manifest.digest, children: [], bytes: spec.layers * spec.layerBytes };
      }
    }
  };
  await Promise.all(Array.from({ length: PARALLEL_PUSHES }, worker));
  return images;
}

/** The directory name an images tree gives a registry host: `host:port` cannot be a repository path component. */
export function hostDirectory(host: string): string {
  return host.replace(':', '-');
}

/**
 * Writes `<root>/images/<host>/<repository>/Dockerfile` with `FROM <host>/<repository>:<tag>` for each
 * image, the layout the seed document's loop and `mirror sync` both read. Returns the images directory.
 */
export async function writeImagesTree(root: string, sourceHost: string, images: readonly SeededImage[]): Promise<string> {
  const dir = join(root, 'images');
  await rm(dir, { recursive: true, force: true });
  for (const image of images) {
    const imageDir = join(dir, hostDirectory(sourceHost), image.repository);
    await mkdir(imageDir, { recursive: true });
    await writeFile(join(imageDir, 'Dockerfile'), `FROM ${sourceHost}/${image.repository}:${image.tag}\n`);
  }
  return dir;
}

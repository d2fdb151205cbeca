import { manifestDigest, type SeedTarget } from '../oci-seed.ts';
import type { RunContext, Tool } from './peers.ts';
import type { SeededImage } from './seed.ts';

/** Checks that the target holds every image exactly: the tag's digest equals the source's, every child of an index is there. */
export async function verifyTarget(tool: Tool, context: RunContext, target: SeedTarget, images: readonly SeededImage[]): Promise<string[]> {
  const failures: string[] = [];
  for (const image of images) {
    const { repository, reference } = tool.targetOf(context, image);
    const where = `${target.registry}/${repository}:${reference}`;
    try {
      const digest = await manifestDigest(target, repository, reference);
      if (digest !== image.digest) failures.push(`${where}: ${digest ?? 'missing'} instead of ${image.digest}`);
      for (const child of image.children) {
        if ((await manifestDigest(target, repository, child)) !== child) failures.push(`${where}: index child ${child} missing`);
      }
    } catch (error) {
      failures.push(`${where}: ${(error as Error).message}`);
    }
  }
  return failures;
}

import { describe, expect, it } from 'vitest';
import { CopyFailedError, RegistryRequestError } from '../../../shared/errors.ts';
import { formatReference, type ImageReference, parseImageReference } from '../../../shared/image-ref/reference.ts';
import { describePinDrift } from '../../../shared/plan/pin-drift.ts';
import type { Plan } from '../../../shared/plan/plan.ts';
import type { ManifestHead } from '../../../shared/ports.ts';
import { StaticCredentialProvider } from '../../../shared/registry/credentials.ts';
import { type ImageFacts, mirrorImage, type SyncOptions, syncAll } from '../../../shared/sync/mirror-image.ts';
import { PullBudgets } from '../../../shared/sync/pull-budget.ts';
import { FakeCopier, FakeManifestRegistry } from '../../fakes/registry.ts';

// The drift check of a digest pin, in the engine: one HEAD on the tag beside the pin, alongside the other look-ups.
// End to end, through the CLI and a real registry: test/e2e/pin-drift.stack.test.ts.

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const TAG = 'quay.io/a/b:1';
const TARGET = 'mirror.example.com/quay.io/a/b:1';
const pinned = { source: parseImageReference(`${TAG}@${D1}`), target: parseImageReference(TARGET), files: ['quay.io/a/b/Dockerfile'] };
const moved = { tag: TAG, pinned: D1, current: D2 };
const plan: Plan = { jobs: [pinned], errors: [], warnings: [] };

/** A registry holding the pin (by digest), and the tag naming `tagNames` (nothing when null). */
function upstream(tagNames: string | null, targetHolds?: string): FakeManifestRegistry {
  const registry = new FakeManifestRegistry();
  registry.digests.set(`${TAG}@${D1}`, D1);
  if (tagNames !== null) registry.digests.set(TAG, tagNames);
  if (targetHolds !== undefined) registry.digests.set(TARGET, targetHolds);
  return registry;
}

/** A copier that makes the target hold what it copied, as crane would. */
const landing = (registry: FakeManifestRegistry) => new FakeCopier((request) => registry.digests.set(formatReference(request.target), request.source.digest ?? ''));

// The pin's tag alone is under test: an image's signature tags (same repository, no digest) would be taken for it.
const IMAGE_ONLY = { artifacts: 'none' } as const;

const deps = (registry: FakeManifestRegistry) => ({ registry, copier: landing(registry), credentials: new StaticCredentialProvider() });

/** True for the HEAD of the tag alone (no digest) on the source registry. */
const isTag = (ref: ImageReference) => ref.registry === 'quay.io' && ref.digest === undefined;

describe('mirrorImage: the tag beside a digest pin (fakes)', () => {
  it.each([
    { status: 'copied', targetHolds: undefined, dryRun: false },
    { status: 'skipped', targetHolds: D1, dryRun: false },
    { status: 'would-copy', targetHolds: undefined, dryRun: true },
    { status: 'would-skip', targetHolds: D1, dryRun: true },
  ])('says that the tag now names another image when the result is $status, and mirrors the pin', async ({ status, targetHolds, dryRun }) => {
    const registry = upstream(D2, targetHolds);
    const outcome = await mirrorImage(pinned, deps(registry), { dryRun, ...IMAGE_ONLY });
    expect(outcome).toMatchObject({ status, digest: D1, pinDrift: moved });
    expect(outcome.notices).toEqual([`tag ${TAG} now names ${D2}, not the pinned ${D1} (the pin is what is mirrored; update the pin to take the new image)`]);
    expect(registry.digests.get(TARGET)).toBe(dryRun ? targetHolds : D1);
    expect(registry.calls.filter((call) => call.startsWith('GET'))).toEqual([]);
  });

  it('says nothing when the tag still names the pin', async () => {
    const registry = upstream(D1, D1);
    const outcome = await mirrorImage(pinned, deps(registry), IMAGE_ONLY);
    expect(outcome).toEqual({ status: 'skipped', digest: D1 });
    expect(registry.calls).toContain(`HEAD ${TAG}`);
  });

  it('says that the tag is gone upstream', async () => {
    const registry = upstream(null, D1);
    const outcome = await mirrorImage(pinned, deps(registry), IMAGE_ONLY);
    expect(outcome).toMatchObject({ status: 'skipped', pinDrift: { tag: TAG, pinned: D1, current: null } });
    expect(outcome.notices).toEqual([describePinDrift({ tag: TAG, pinned: D1, current: null })]);
    expect(outcome.notices?.[0]).toContain(`tag ${TAG} no longer exists upstream`);
  });

  it('fails nothing and says nothing when the tag cannot be looked up', async () => {
    for (const targetHolds of [D1, undefined]) {
      const registry = upstream(D2, targetHolds);
      const head = registry.headManifest.bind(registry);
      registry.headManifest = async (ref) => {
        if (isTag(ref)) throw new RegistryRequestError(`HEAD ${formatReference(ref)}: 503 Service Unavailable`, { status: 503, retryable: true });
        return head(ref);
      };
      const outcome = await mirrorImage(pinned, deps(registry), IMAGE_ONLY);
      expect(outcome).toMatchObject({ status: targetHolds === undefined ? 'copied' : 'skipped', digest: D1 });
      expect(outcome).not.toHaveProperty('pinDrift');
      expect(outcome).not.toHaveProperty('notices');
    }
  });

  it('does not wait for a tag that never answers: the image the target holds is skipped, nothing said', async () => {
    const registry = upstream(D2, D1);
    const head = registry.headManifest.bind(registry);
    // Retries and time limits could keep a real lookup going for a minute; this one never ends at all.
    registry.headManifest = async (ref) => (isTag(ref) ? new Promise<never>(() => undefined) : head(ref));
    const outcome = await mirrorImage(pinned, deps(registry), IMAGE_ONLY);
    expect(outcome).toMatchObject({ status: 'skipped', digest: D1 });
    expect(outcome).not.toHaveProperty('pinDrift');
  });

  it('counts a pull spent on the tag (a registry without HEAD) in the image\'s pulls, and takes in the budget it told', async () => {
    const registry = upstream(D2, D1);
    const head = registry.headManifest.bind(registry);
    const told = { limit: 100, remaining: 40, windowSeconds: 21_600 };
    registry.headManifest = async (ref): Promise<ManifestHead | undefined> => {
      const answer = await head(ref);
      return isTag(ref) && answer !== undefined ? { ...answer, pullsSpent: 1, budget: told } : answer;
    };
    const budgets = new PullBudgets(10);
    const outcome = await mirrorImage(pinned, deps(registry), { budgets, ...IMAGE_ONLY });
    expect(outcome).toMatchObject({ status: 'skipped', pulls: 1, budget: told, pinDrift: moved });
    expect(budgets.current('quay.io')).toEqual(told);

    const report = await syncAll(plan, deps(registry), { budgets: new PullBudgets(10), ...IMAGE_ONLY });
    expect(report.results[0]).toMatchObject({ status: 'skipped', pulls: 1, pinDrift: moved });
    expect(report.summary.pulls).toBe(1);
    expect(report.budgets).toEqual([{ registry: 'quay.io', ...told, reserve: 10 }]);
  });

  it('sends no request about a tag for a reference that is not pinned, nor for a digest without a tag', async () => {
    const registry = upstream(D1, D1);
    const unpinned = await mirrorImage({ ...pinned, source: parseImageReference(TAG) }, deps(registry), IMAGE_ONLY);
    expect(unpinned).toEqual({ status: 'skipped', digest: D1 });
    expect(registry.calls.filter((call) => call.includes(' quay.io/'))).toEqual([`HEAD ${TAG}`]);

    registry.calls.length = 0;
    const digestOnly = await mirrorImage({ ...pinned, source: parseImageReference(`quay.io/a/b@${D1}`) }, deps(registry), IMAGE_ONLY);
    expect(digestOnly).toEqual({ status: 'skipped', digest: D1 });
    expect(registry.calls).toEqual([`HEAD ${TARGET}`]);
  });

  it('looks the tag up while the target is looked up, not after', async () => {
    const registry = upstream(D2, D1);
    const head = registry.headManifest.bind(registry);
    // Each answers only once the other was sent too. Sent one after the other, the first gives up after a few turns of
    // the event loop (no clock), failing its lookup: the tag's is then no drift, the target's no skip.
    const asked = new Set<'tag' | 'target'>();
    const bothAsked = async (who: 'tag' | 'target') => {
      asked.add(who);
      for (let turn = 0; turn < 20 && asked.size < 2; turn += 1) await new Promise((resolve) => setImmediate(resolve));
      if (asked.size < 2) throw new Error('the tag was looked up after the target, or the other way round');
    };
    registry.headManifest = async (ref) => {
      if (isTag(ref)) await bothAsked('tag');
      else if (ref.registry === 'mirror.example.com') await bothAsked('target');
      return head(ref);
    };
    expect(await mirrorImage(pinned, deps(registry), IMAGE_ONLY)).toMatchObject({ status: 'skipped', pinDrift: moved });
  });

  it('keeps the drift in the result of an image whose copy then failed', async () => {
    const registry = upstream(D2);
    const copier = new FakeCopier(() => {
      throw new CopyFailedError('crane copy failed: MANIFEST_UNKNOWN', { reason: 'permanent' });
    });
    const report = await syncAll(plan, { registry, copier, credentials: new StaticCredentialProvider() }, IMAGE_ONLY);
    expect(report.results[0]).toMatchObject({ status: 'failed', pinDrift: moved, notices: [describePinDrift(moved)] });
    expect(report.results[0]?.error).toContain('MANIFEST_UNKNOWN');
  });

  it('keeps a drift an earlier attempt saw when a later attempt cannot look the tag up', async () => {
    const registry = upstream(D2);
    let copies = 0;
    const copier = new FakeCopier((request) => {
      copies += 1;
      if (copies === 1) throw new CopyFailedError('crane copy failed: connection reset', { reason: 'permanent' });
      registry.digests.set(formatReference(request.target), request.source.digest ?? '');
    });
    const facts: ImageFacts = {};
    const options: SyncOptions = { ...IMAGE_ONLY };
    await expect(mirrorImage(pinned, { registry, copier, credentials: new StaticCredentialProvider() }, options, facts)).rejects.toThrow('connection reset');
    expect(facts.pinDrift).toEqual(moved);
    registry.headManifest = ((head) => async (ref: ImageReference) => {
      if (isTag(ref)) throw new RegistryRequestError('HEAD: 503 Service Unavailable', { status: 503, retryable: true });
      return head(ref);
    })(registry.headManifest.bind(registry));
    await expect(mirrorImage(pinned, { registry, copier, credentials: new StaticCredentialProvider() }, options, facts)).resolves.toMatchObject({ status: 'copied', pinDrift: moved });
  });
});

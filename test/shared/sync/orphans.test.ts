import { describe, expect, it } from 'vitest';
import { parseTargetBase } from '../../../shared/image-ref/target.ts';
import { buildPlan } from '../../../shared/plan/plan.ts';
import type { DockerfileEntry } from '../../../shared/ports.ts';
import { findOrphans } from '../../../shared/sync/orphans.ts';
import { FakeRepositoryStore } from '../../fakes/repository-store.ts';

const target = parseTargetBase('123456789012.dkr.ecr.eu-west-1.amazonaws.com/mirror');
const file = (path: string, text: string): DockerfileEntry => ({ path, text });

function storeWith(...managed: { name: string; source?: string }[]) {
  const store = new FakeRepositoryStore();
  store.managed.push(...managed);
  return store;
}

describe('findOrphans', () => {
  it('lists the managed repositories no job mirrors into, and asks the store about those only', async () => {
    const plan = buildPlan([file('docker.io/library/postgres/Dockerfile', 'FROM postgres:16\nFROM postgres:17\n'), file('quay.io/a/Dockerfile', 'FROM quay.io/a:1\n')], { target });
    const store = storeWith(
      { name: 'mirror/docker.io/library/postgres', source: 'docker.io/library/postgres' },
      { name: 'mirror/quay.io/a', source: 'quay.io/a' },
      { name: 'mirror/quay.io/gone', source: 'quay.io/gone' },
      { name: 'mirror/ghcr.io/old' },
    );
    store.unmanaged = 2;
    const report = await findOrphans(plan, store, { target });
    expect(report).toEqual({ orphans: [{ name: 'mirror/quay.io/gone', source: 'quay.io/gone' }], checked: 6, spared: [], invalid: 0, foreign: 0, unattributed: [{ name: 'mirror/ghcr.io/old' }], notAllowed: [] });
    expect([...store.excepted[0]!].sort()).toEqual(['mirror/docker.io/library/postgres', 'mirror/quay.io/a']);
  });

  it('names no orphan when every managed repository is mirrored into', async () => {
    const plan = buildPlan([file('quay.io/a/Dockerfile', 'FROM quay.io/a:1\n')], { target });
    expect(await findOrphans(plan, storeWith({ name: 'mirror/quay.io/a', source: 'quay.io/a' }), { target })).toEqual({ orphans: [], checked: 1, spared: [], invalid: 0, foreign: 0, unattributed: [], notAllowed: [] });
  });

  it.each([
    ['an invalid file in its source directory', 'quay.io/broken/Dockerfile', 'quay.io/broken'],
    ['a file of a registry with a port spelt with "-"', 'localhost-5000/team/app/Dockerfile', 'localhost:5000/team/app'],
    ['a file of a registry with a port spelt as it is', 'localhost:5000/team/app/Dockerfile', 'localhost:5000/team/app'],
    ['a Docker Hub official image without library/', 'docker.io/postgres/Dockerfile', 'docker.io/library/postgres'],
  ])('spares a repository whose source directory holds %s', async (_, path, source) => {
    const plan = buildPlan([file(path, 'FROM ${UNDEFINED_ARG}\n'), file('quay.io/a/Dockerfile', 'FROM quay.io/a:1\n')], { target });
    expect(plan.errors).toHaveLength(1);
    const repository = { name: `mirror/${source.replace(':', '-')}`, source };
    expect(await findOrphans(plan, storeWith(repository), { target })).toEqual({ orphans: [], checked: 1, spared: [repository], invalid: 1, foreign: 0, unattributed: [], notAllowed: [] });
  });

  it('spares every repository whose source lies below a directory that could not be read', async () => {
    const plan = buildPlan([{ path: 'quay.io/team/', readError: 'EACCES' }], { target });
    const below = { name: 'mirror/quay.io/team/app', source: 'quay.io/team/app' };
    const beside = { name: 'mirror/quay.io/teams/app', source: 'quay.io/teams/app' };
    expect(await findOrphans(plan, storeWith(below, beside), { target })).toEqual({ orphans: [beside], checked: 2, spared: [below], invalid: 1, foreign: 0, unattributed: [], notAllowed: [] });
  });

  it('still lists a repository whose invalid file lies elsewhere, and counts the invalid files', async () => {
    const plan = buildPlan([file('misc/app-1/Dockerfile', 'FROM Quay.io/A:1\n')], { target });
    const repository = { name: 'mirror/quay.io/a', source: 'quay.io/a' };
    expect(await findOrphans(plan, storeWith(repository), { target })).toEqual({ orphans: [repository], checked: 1, spared: [], invalid: 1, foreign: 0, unattributed: [], notAllowed: [] });
  });

  describe('calls a repository an orphan only when this configuration would have given its source that name', () => {
    const plan = buildPlan([file('quay.io/a/Dockerfile', 'FROM quay.io/a:1\n')], { target });

    it('leaves out the repositories of a stack whose prefix lies below this one (mirror/team/...)', async () => {
      const theirs = [
        { name: 'mirror/team/quay.io/gone', source: 'quay.io/gone' },
        { name: 'mirror/team/docker.io/library/redis', source: 'docker.io/library/redis' },
        // Even the one that stack keeps for a source this tree names.
        { name: 'mirror/team/quay.io/a', source: 'quay.io/a' },
      ];
      const ours = { name: 'mirror/quay.io/gone', source: 'quay.io/gone' };
      const report = await findOrphans(plan, storeWith(...theirs, ours), { target });
      expect(report).toEqual({ orphans: [ours], checked: 4, spared: [], invalid: 0, foreign: 3, unattributed: [], notAllowed: [] });
    });

    it('leaves out the repositories another name template made under the same prefix', async () => {
      const flat = { name: 'mirror/gone', source: 'quay.io/gone' };
      const nested = { name: 'mirror/quay.io/gone', source: 'quay.io/gone' };
      expect(await findOrphans(plan, storeWith(flat, nested), { target })).toMatchObject({ orphans: [nested], foreign: 1 });
      // The same repositories seen by the configuration with the flat template: the other one is foreign.
      const flatPlan = buildPlan([file('quay.io/a/Dockerfile', 'FROM quay.io/a:1\n')], { target, nameTemplate: '{repository}' });
      expect(await findOrphans(flatPlan, storeWith(flat, nested), { target, nameTemplate: '{repository}' })).toMatchObject({ orphans: [flat], foreign: 1 });
    });

    it('reads the source tag as the sync writes it: the registry port spelt "-" in the name, Docker Hub with library/', async () => {
      const repositories = [
        { name: 'mirror/localhost-5000/team/app', source: 'localhost:5000/team/app' },
        { name: 'mirror/docker.io/library/postgres', source: 'docker.io/library/postgres' },
      ];
      expect(await findOrphans(plan, storeWith(...repositories), { target })).toMatchObject({ orphans: repositories, foreign: 0 });
    });

    it('reports no repository without a source tag, or with one that names no image, and lists them apart', async () => {
      const untagged = { name: 'mirror/quay.io/untagged' };
      const unreadable = { name: 'mirror/quay.io/unreadable', source: 'Not An Image!' };
      expect(await findOrphans(plan, storeWith(untagged, unreadable), { target })).toEqual({ orphans: [], checked: 2, spared: [], invalid: 0, foreign: 0, unattributed: [untagged, unreadable], notAllowed: [] });
    });

    it('takes a source this configuration could not name at all for another configuration\'s', async () => {
      const long = { name: 'mirror/x', source: `quay.io/${'a'.repeat(247)}` };
      expect(await findOrphans(plan, storeWith(long), { target })).toMatchObject({ orphans: [], foreign: 1 });
    });

    it('with no prefix, leaves out the repositories of every prefixed deployment', async () => {
      const bare = parseTargetBase('123456789012.dkr.ecr.eu-west-1.amazonaws.com');
      const barePlan = buildPlan([file('quay.io/a/Dockerfile', 'FROM quay.io/a:1\n')], { target: bare });
      const prefixed = { name: 'mirror/quay.io/gone', source: 'quay.io/gone' };
      const ours = { name: 'quay.io/gone', source: 'quay.io/gone' };
      expect(await findOrphans(barePlan, storeWith(prefixed, ours), { target: bare })).toMatchObject({ orphans: [ours], foreign: 1 });
    });
  });

  describe('leaves out the repositories of registries the allow-list leaves out: the plan left their files out', () => {
    const allowQuay = { target, allowRegistries: ['quay.io'] };
    // The Dockerfile of postgres is still there; the allow-list alone keeps it out of the plan.
    const plan = buildPlan([file('docker.io/library/postgres/Dockerfile', 'FROM postgres:16\n'), file('quay.io/a/Dockerfile', 'FROM quay.io/a:1\n')], allowQuay);
    const postgres = { name: 'mirror/docker.io/library/postgres', source: 'docker.io/library/postgres' };
    const redis = { name: 'mirror/docker.io/library/redis', source: 'docker.io/library/redis' };
    const ghcr = { name: 'mirror/ghcr.io/b/c', source: 'ghcr.io/b/c' };
    const gone = { name: 'mirror/quay.io/gone', source: 'quay.io/gone' };

    it('counts them by registry, never as orphans, while an allowed one no file names still is', async () => {
      expect(plan.notMirrored).toEqual(['docker.io/library/postgres/Dockerfile']);
      const report = await findOrphans(plan, storeWith(postgres, redis, ghcr, gone, { name: 'mirror/quay.io/a', source: 'quay.io/a' }), allowQuay);
      expect(report).toEqual({ orphans: [gone], checked: 5, spared: [], invalid: 0, foreign: 0, unattributed: [], notAllowed: [{ registry: 'docker.io', repositories: 2 }, { registry: 'ghcr.io', repositories: 1 }] });
    });

    it('lists them as orphans when the scope has no allow-list, as a plan of every registry would', async () => {
      const everything = buildPlan([file('quay.io/a/Dockerfile', 'FROM quay.io/a:1\n')], { target });
      expect(await findOrphans(everything, storeWith(redis, gone), { target, allowRegistries: [] })).toMatchObject({ orphans: [redis, gone], notAllowed: [] });
    });

    it('still counts another configuration’s repository as foreign, whatever its registry', async () => {
      const theirs = { name: 'mirror/team/docker.io/library/redis', source: 'docker.io/library/redis' };
      expect(await findOrphans(plan, storeWith(theirs), allowQuay)).toMatchObject({ orphans: [], foreign: 1, notAllowed: [] });
    });
  });
});

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
    const report = await findOrphans(plan, store, 'mirror');
    expect(report).toEqual({ orphans: [{ name: 'mirror/quay.io/gone', source: 'quay.io/gone' }, { name: 'mirror/ghcr.io/old' }], checked: 6, spared: [], invalid: 0 });
    expect([...store.excepted[0]!].sort()).toEqual(['mirror/docker.io/library/postgres', 'mirror/quay.io/a']);
  });

  it('names no orphan when every managed repository is mirrored into', async () => {
    const plan = buildPlan([file('quay.io/a/Dockerfile', 'FROM quay.io/a:1\n')], { target });
    expect(await findOrphans(plan, storeWith({ name: 'mirror/quay.io/a', source: 'quay.io/a' }), 'mirror')).toEqual({ orphans: [], checked: 1, spared: [], invalid: 0 });
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
    expect(await findOrphans(plan, storeWith(repository), 'mirror')).toEqual({ orphans: [], checked: 1, spared: [repository], invalid: 1 });
  });

  it('spares every repository whose source lies below a directory that could not be read', async () => {
    const plan = buildPlan([{ path: 'quay.io/team/', readError: 'EACCES' }], { target });
    const below = { name: 'mirror/quay.io/team/app', source: 'quay.io/team/app' };
    const beside = { name: 'mirror/quay.io/teams/app', source: 'quay.io/teams/app' };
    expect(await findOrphans(plan, storeWith(below, beside), 'mirror')).toEqual({ orphans: [beside], checked: 2, spared: [below], invalid: 1 });
  });

  it('still lists a repository whose invalid file lies elsewhere, and counts the invalid files', async () => {
    const plan = buildPlan([file('misc/app-1/Dockerfile', 'FROM Quay.io/A:1\n')], { target });
    const repository = { name: 'mirror/quay.io/a', source: 'quay.io/a' };
    expect(await findOrphans(plan, storeWith(repository), 'mirror')).toEqual({ orphans: [repository], checked: 1, spared: [], invalid: 1 });
  });
});

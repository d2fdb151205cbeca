import { describe, expect, it } from 'vitest';
import { formatReference } from '../../../shared/image-ref/reference.ts';
import { parseTargetBase } from '../../../shared/image-ref/target.ts';
import { type PlanDiff, diffPlans } from '../../../shared/plan/diff.ts';
import { buildPlan } from '../../../shared/plan/plan.ts';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;

const plan = (files: Record<string, string>, target?: string) =>
  buildPlan(
    Object.entries(files).map(([path, text]) => ({ path, text })),
    target === undefined ? {} : { target: parseTargetBase(target) },
  );

// One readable line per change: "[files] previous -> source (elsewhere)".
const lines = (diff: PlanDiff) => ({
  added: diff.added.map((c) => `[${c.files.join(', ')}] ${formatReference(c.source)}${c.namedElsewhere ? ' (elsewhere)' : ''}`),
  changed: diff.changed.map((c) => `[${c.files.join(', ')}] ${c.previous ? formatReference(c.previous) : '?'} -> ${formatReference(c.source)}${c.namedElsewhere ? ' (elsewhere)' : ''}`),
  removed: diff.removed.map((c) => `[${c.files.join(', ')}] ${formatReference(c.source)}${c.namedElsewhere ? ' (elsewhere)' : ''}`),
  invalid: diff.invalid.map((i) => i.file),
  alreadyBroken: diff.alreadyBroken.map((i) => i.file),
  unchanged: diff.unchanged,
});

const none = { added: [], changed: [], removed: [], invalid: [], alreadyBroken: [], unchanged: 0 };

describe('diffPlans', () => {
  it.each<[string, Record<string, string>, Record<string, string>, Partial<ReturnType<typeof lines>>]>([
    ['reports nothing for equal trees', { 'a/Dockerfile': 'FROM postgres:14' }, { 'a/Dockerfile': 'FROM postgres:14' }, { unchanged: 1 }],
    ['finds a new file as added', {}, { 'a/Dockerfile': 'FROM postgres:14' }, { added: ['[a/Dockerfile] docker.io/library/postgres:14'] }],
    ['finds a deleted file as removed', { 'a/Dockerfile': 'FROM postgres:14' }, {}, { removed: ['[a/Dockerfile] docker.io/library/postgres:14'] }],
    [
      'finds a tag bump in the same file as changed',
      { 'a/Dockerfile': 'FROM postgres:14' },
      { 'a/Dockerfile': 'FROM postgres:14.13' },
      { changed: ['[a/Dockerfile] docker.io/library/postgres:14 -> docker.io/library/postgres:14.13'] },
    ],
    [
      'finds a digest bump under the same tag as changed',
      { 'a/Dockerfile': `FROM postgres:14@${D1}` },
      { 'a/Dockerfile': `FROM postgres:14@${D2}` },
      { changed: [`[a/Dockerfile] docker.io/library/postgres:14@${D1} -> docker.io/library/postgres:14@${D2}`] },
    ],
    [
      'sees another repository in the same file as one removed and one added',
      { 'a/Dockerfile': 'FROM postgres:14' },
      { 'a/Dockerfile': 'FROM mysql:8' },
      { added: ['[a/Dockerfile] docker.io/library/mysql:8'], removed: ['[a/Dockerfile] docker.io/library/postgres:14'] },
    ],
    [
      'sees a moved file as added and removed, both named elsewhere',
      { 'old/Dockerfile': 'FROM redis:7' },
      { 'new/Dockerfile': 'FROM redis:7' },
      { added: ['[new/Dockerfile] docker.io/library/redis:7 (elsewhere)'], removed: ['[old/Dockerfile] docker.io/library/redis:7 (elsewhere)'] },
    ],
    [
      'groups the files that make the same change',
      { 'a/Dockerfile': 'FROM redis:7', 'b/Dockerfile': 'FROM redis:7' },
      { 'a/Dockerfile': 'FROM redis:7.2', 'b/Dockerfile': 'FROM redis:7.2' },
      { changed: ['[a/Dockerfile, b/Dockerfile] docker.io/library/redis:7 -> docker.io/library/redis:7.2'] },
    ],
    [
      'marks a bump to a tag another file of the base names',
      { 'a/Dockerfile': 'FROM redis:7', 'b/Dockerfile': 'FROM redis:7.2' },
      { 'a/Dockerfile': 'FROM redis:7.2', 'b/Dockerfile': 'FROM redis:7.2' },
      { changed: ['[a/Dockerfile] docker.io/library/redis:7 -> docker.io/library/redis:7.2 (elsewhere)'], unchanged: 1 },
    ],
    [
      'pairs the stages of a multi-stage file naming one repository twice',
      { 'a/Dockerfile': 'FROM golang:1.22 AS build\nFROM golang:1.22-alpine' },
      { 'a/Dockerfile': 'FROM golang:1.23 AS build\nFROM golang:1.22-alpine' },
      { changed: ['[a/Dockerfile] docker.io/library/golang:1.22 -> docker.io/library/golang:1.23'], unchanged: 1 },
    ],
    ['lists the new tree’s invalid files, not the base’s', { 'old/Dockerfile': 'FROM Bad' }, { 'new/Dockerfile': 'FROM Worse' }, { invalid: ['new/Dockerfile'] }],
    ['puts a file broken the same way on the base apart from what the change introduces', { 'old/Dockerfile': 'FROM Bad' }, { 'old/Dockerfile': 'FROM Bad', 'new/Dockerfile': 'FROM Worse' }, { invalid: ['new/Dockerfile'], alreadyBroken: ['old/Dockerfile'] }],
    ['keeps a broken file the change edits but leaves broken the same way as the base’s, on another line', { 'a/Dockerfile': 'FROM Bad' }, { 'a/Dockerfile': '# still\nFROM Bad' }, { alreadyBroken: ['a/Dockerfile'] }],
    ['counts a file the change leaves broken in another way as introduced', { 'a/Dockerfile': 'FROM Bad' }, { 'a/Dockerfile': 'FROM Bad:1' }, { invalid: ['a/Dockerfile'] }],
    ['counts a broken file the change moves as introduced', { 'old/Dockerfile': 'FROM Bad' }, { 'new/Dockerfile': 'FROM Bad' }, { invalid: ['new/Dockerfile'] }],
    [
      'keeps a collision the base has already as the base’s',
      { 'a/Dockerfile': 'FROM postgres:14', 'b/Dockerfile': `FROM postgres:14@${D1}` },
      { 'a/Dockerfile': 'FROM postgres:14', 'b/Dockerfile': `FROM postgres:14@${D1}`, 'c/Dockerfile': 'FROM redis:7' },
      { added: ['[c/Dockerfile] docker.io/library/redis:7'], alreadyBroken: ['a/Dockerfile', 'b/Dockerfile'] },
    ],
    [
      'counts a collision the change widens as introduced, in every file it names',
      { 'a/Dockerfile': 'FROM postgres:14', 'b/Dockerfile': `FROM postgres:14@${D1}` },
      { 'a/Dockerfile': 'FROM postgres:14', 'b/Dockerfile': `FROM postgres:14@${D1}`, 'c/Dockerfile': `FROM postgres:14@${D2}` },
      { invalid: ['a/Dockerfile', 'b/Dockerfile', 'c/Dockerfile'] },
    ],
    [
      'counts a collision the change makes as introduced, with no target given',
      { 'a/Dockerfile': 'FROM postgres:14' },
      { 'a/Dockerfile': 'FROM postgres:14', 'b/Dockerfile': `FROM postgres:14@${D1}` },
      { removed: ['[a/Dockerfile] docker.io/library/postgres:14'], invalid: ['a/Dockerfile', 'b/Dockerfile'] },
    ],
    [
      'treats a file that became invalid as removed and invalid',
      { 'a/Dockerfile': 'FROM postgres:14' },
      { 'a/Dockerfile': 'FROM postgres:${V}' },
      { removed: ['[a/Dockerfile] docker.io/library/postgres:14'], invalid: ['a/Dockerfile'] },
    ],
  ])('%s', (_, base, next, expected) => {
    expect(lines(diffPlans(plan(base), plan(next)))).toEqual({ ...none, ...expected });
  });

  it('carries the targets of the new plan', () => {
    const diff = diffPlans(plan({ 'a/Dockerfile': 'FROM postgres:14' }, 'r.example.com/m'), plan({ 'a/Dockerfile': 'FROM postgres:15' }, 'r.example.com/m'));
    expect(diff.changed.map((c) => c.target && formatReference(c.target))).toEqual(['r.example.com/m/docker.io/library/postgres:15']);
  });

  it('keeps the files the allow-list leaves out of the new plan', () => {
    const allowQuay = (files: Record<string, string>) => buildPlan(Object.entries(files).map(([path, text]) => ({ path, text })), { allowRegistries: ['quay.io'] });
    const diff = diffPlans(allowQuay({}), allowQuay({ 'a/Dockerfile': 'FROM postgres:14', 'b/Dockerfile': 'FROM quay.io/a/b:1' }));
    expect([diff.notMirrored, diff.invalid, diff.added.map((c) => formatReference(c.source))]).toEqual([['a/Dockerfile'], [], ['quay.io/a/b:1']]);
  });

  it('keeps the warnings of the new plan', () => {
    const diff = diffPlans(plan({}), plan({ 'docker.io/library/postgres/Dockerfile': 'FROM mysql:8' }));
    expect(diff.warnings.map((w) => w.file)).toEqual(['docker.io/library/postgres/Dockerfile']);
  });
});

import { describe, expect, it } from 'vitest';
import { formatReference } from '../../../shared/image-ref/reference.ts';
import { parseTargetBase } from '../../../shared/image-ref/target.ts';
import { type PlanDiff, diffPlans, editedFiles } from '../../../shared/plan/diff.ts';
import { buildPlan } from '../../../shared/plan/plan.ts';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;

const entries = (files: Record<string, string>) => Object.entries(files).map(([path, text]) => ({ path, text }));
const plan = (files: Record<string, string>, target?: string) => buildPlan(entries(files), target === undefined ? {} : { target: parseTargetBase(target) });
// The two trees compared as `plan --base` compares them: the files whose text the change edits are told apart.
const diffTrees = (base: Record<string, string>, next: Record<string, string>, target?: string) => diffPlans(plan(base, target), plan(next, target), editedFiles(entries(base), entries(next)));

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
    ['counts a broken file the change edits as introduced, even broken the same way', { 'a/Dockerfile': 'FROM Bad' }, { 'a/Dockerfile': '# still\nFROM Bad' }, { invalid: ['a/Dockerfile'] }],
    [
      'counts a broken file whose image the change bumps as introduced: the bump is not mirrored',
      { 'pg/Dockerfile': 'FROM postgres:14\nFROM ${NOPE}' },
      { 'pg/Dockerfile': 'FROM postgres:16\nFROM ${NOPE}' },
      { invalid: ['pg/Dockerfile'] },
    ],
    [
      'keeps an untouched broken file the base’s beside one the change edits',
      { 'old/Dockerfile': 'FROM Bad', 'pg/Dockerfile': 'FROM postgres:14\nFROM ${NOPE}' },
      { 'old/Dockerfile': 'FROM Bad', 'pg/Dockerfile': 'FROM postgres:16\nFROM ${NOPE}' },
      { invalid: ['pg/Dockerfile'], alreadyBroken: ['old/Dockerfile'] },
    ],
    ['keeps a broken file whose line endings alone differ the base’s', { 'a/Dockerfile': '# x\nFROM Bad\n' }, { 'a/Dockerfile': '# x\r\nFROM Bad\r\n' }, { alreadyBroken: ['a/Dockerfile'] }],
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
    expect(lines(diffTrees(base, next))).toEqual({ ...none, ...expected });
  });

  it('carries the targets of the new plan', () => {
    const diff = diffTrees({ 'a/Dockerfile': 'FROM postgres:14' }, { 'a/Dockerfile': 'FROM postgres:15' }, 'r.example.com/m');
    expect(diff.changed.map((c) => c.target && formatReference(c.target))).toEqual(['r.example.com/m/docker.io/library/postgres:15']);
  });

  it('keeps the files the allow-list leaves out of the new plan', () => {
    const allowQuay = (files: Record<string, string>) => buildPlan(Object.entries(files).map(([path, text]) => ({ path, text })), { allowRegistries: ['quay.io'] });
    const diff = diffPlans(allowQuay({}), allowQuay({ 'a/Dockerfile': 'FROM postgres:14', 'b/Dockerfile': 'FROM quay.io/a/b:1' }), new Set(['a/Dockerfile', 'b/Dockerfile']));
    expect([diff.notMirrored, diff.invalid, diff.added.map((c) => formatReference(c.source))]).toEqual([['a/Dockerfile'], [], ['quay.io/a/b:1']]);
  });

  it('keeps the warnings of the new plan', () => {
    const diff = diffTrees({}, { 'docker.io/library/postgres/Dockerfile': 'FROM mysql:8' });
    expect(diff.warnings.map((w) => w.file)).toEqual(['docker.io/library/postgres/Dockerfile']);
  });

  it('tells which files the change edits: new ones and changed ones, not those only checked out with CRLF', () => {
    const base = [{ path: 'same/Dockerfile', text: 'FROM a:1\n' }, { path: 'crlf/Dockerfile', text: 'FROM b:1\n' }, { path: 'bump/Dockerfile', text: 'FROM c:1' }, { path: 'unread/Dockerfile', readError: 'EACCES' }, { path: 'gone/Dockerfile', text: 'FROM d:1' }];
    const next = [{ path: 'same/Dockerfile', text: 'FROM a:1\n' }, { path: 'crlf/Dockerfile', text: 'FROM b:1\r\n' }, { path: 'bump/Dockerfile', text: 'FROM c:2' }, { path: 'unread/Dockerfile', readError: 'EACCES' }, { path: 'new/Dockerfile', text: 'FROM e:1' }];
    expect([...editedFiles(base, next)].sort()).toEqual(['bump/Dockerfile', 'new/Dockerfile']);
  });
});

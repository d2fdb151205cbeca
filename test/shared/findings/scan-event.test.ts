import { describe, expect, it } from 'vitest';
import { parseScanEvent, recordScanEvent } from '../../../shared/findings/scan-event.ts';
import type { ScanEventOutcome } from '../../../shared/ports.ts';
import { documentedScanEvent, mirroredScanEvent } from '../../fixtures/ecr-image-scan-event.ts';
import { InvalidScanEventError } from '../../../shared/errors.ts';

const settings = { targetPrefix: 'mirror' };
const repository = 'mirror/docker.io/library/postgres';
const digest = documentedScanEvent.detail['image-digest'];
const zero = { critical: 0, high: 0, medium: 0, low: 0, informational: 0, undefined: 0 };

describe('parseScanEvent', () => {
  it('reads the documented event of a mirrored repository: image, tags and counts, missing severities as 0', () => {
    expect(parseScanEvent(mirroredScanEvent('mirror'), settings)).toEqual({
      kind: 'scanned',
      repository,
      digest,
      tags: ['14'],
      status: 'COMPLETE',
      counts: { ...zero, critical: 10, medium: 9 },
    });
  });

  it.each([
    ['every severity', { CRITICAL: 1, HIGH: 2, MEDIUM: 3, LOW: 4, INFORMATIONAL: 5, UNDEFINED: 6 }, { critical: 1, high: 2, medium: 3, low: 4, informational: 5, undefined: 6 }],
    ['only HIGH', { HIGH: 7 }, { ...zero, high: 7 }],
    ['an empty map (no findings)', {}, zero],
    ['no map at all', undefined, zero],
    ['a null map', null, zero],
    ['explicit zeros', { CRITICAL: 0, HIGH: 0 }, zero],
  ])('counts %s', (_, counts, expected) => {
    const event = mirroredScanEvent('mirror', { 'finding-severity-counts': counts });
    expect(parseScanEvent(event, settings)).toMatchObject({ kind: 'scanned', counts: expected });
  });

  it('takes missing image-tags as an untagged image (one platform of an index)', () => {
    const event = mirroredScanEvent('mirror');
    delete (event.detail as Record<string, unknown>)['image-tags'];
    expect(parseScanEvent(event, settings)).toMatchObject({ kind: 'scanned', tags: [] });
  });

  it.each([
    ['FAILED', 'scan-failed'],
    ['UNSUPPORTED_IMAGE', 'not-scanned'],
    ['FINDINGS_UNAVAILABLE', 'not-scanned'],
  ])('reports scan-status %s as %s, without counts', (status, kind) => {
    const outcome = parseScanEvent(mirroredScanEvent('mirror', { 'scan-status': status }), settings);
    expect(outcome).toEqual({ kind, repository, digest, tags: ['14'], status });
  });

  it.each([
    ['the documented event itself (repository "my-repository-name")', documentedScanEvent, 'repository "my-repository-name" is not under the mirror prefix "mirror/"'],
    ['a repository that only starts like the prefix', mirroredScanEvent('mirrors'), 'is not under the mirror prefix "mirror/"'],
    ['the prefix repository itself', mirroredScanEvent('mirror', { 'repository-name': 'mirror' }), 'is not under the mirror prefix'],
    ['a push event', { ...documentedScanEvent, 'detail-type': 'ECR Image Action' }, 'not an ECR Image Scan event (source "aws.ecr", detail-type "ECR Image Action")'],
    ['an Inspector (enhanced scanning) event', { ...documentedScanEvent, source: 'aws.inspector2', 'detail-type': 'Inspector2 Scan' }, 'source "aws.inspector2"'],
    ['an empty invoke', {}, 'source nothing, detail-type nothing'],
  ])('ignores %s, saying why', (_, event, reason) => {
    const outcome = parseScanEvent(event, settings);
    expect(outcome.kind).toBe('ignored');
    expect(outcome).toMatchObject({ reason: expect.stringContaining(reason) });
  });

  it('ignores other repositories even when the rest of their event is unreadable', () => {
    expect(parseScanEvent({ ...documentedScanEvent, detail: { 'repository-name': 'team/app' } }, settings)).toMatchObject({ kind: 'ignored', repository: 'team/app' });
  });

  it.each([
    ['no object', 'ECR Image Scan', 'expected an EventBridge event object, got "ECR Image Scan"'],
    ['an array', [], 'expected an EventBridge event object, got []'],
    ['no detail', { ...documentedScanEvent, detail: undefined }, '"detail" must be an object, got nothing'],
    ['no repository', mirroredScanEvent('mirror', { 'repository-name': undefined }), '"detail.repository-name" must be a non-empty string, got nothing'],
    ['a numeric repository', mirroredScanEvent('mirror', { 'repository-name': 42 }), '"detail.repository-name" must be a non-empty string, got 42'],
    ['no digest', mirroredScanEvent('mirror', { 'image-digest': undefined }), `of "${repository}": "detail.image-digest" must be a digest like "sha256:…", got nothing`],
    ['a tag for a digest', mirroredScanEvent('mirror', { 'image-digest': 'latest' }), '"detail.image-digest" must be a digest like "sha256:…", got "latest"'],
    ['tags that are not a list', mirroredScanEvent('mirror', { 'image-tags': '14' }), '"detail.image-tags" must be a list of strings, got "14"'],
    ['a numeric tag', mirroredScanEvent('mirror', { 'image-tags': [14] }), '"detail.image-tags" must be a list of strings, got [14]'],
    ['no scan-status', mirroredScanEvent('mirror', { 'scan-status': undefined }), '"detail.scan-status" must be a non-empty string, got nothing'],
    ['counts that are a list', mirroredScanEvent('mirror', { 'finding-severity-counts': [1, 2] }), '"detail.finding-severity-counts" must be an object, got [1,2]'],
    ['a count given as text', mirroredScanEvent('mirror', { 'finding-severity-counts': { CRITICAL: '3' } }), 'the CRITICAL count must be a whole number ≥ 0, got "3"'],
    ['a negative count', mirroredScanEvent('mirror', { 'finding-severity-counts': { HIGH: -1 } }), 'the HIGH count must be a whole number ≥ 0, got -1'],
    ['a fractional count', mirroredScanEvent('mirror', { 'finding-severity-counts': { LOW: 1.5 } }), 'the LOW count must be a whole number ≥ 0, got 1.5'],
    ['an unknown severity', mirroredScanEvent('mirror', { 'finding-severity-counts': { UNTRIAGED: 2 } }), 'unknown severity "UNTRIAGED"'],
    ['a lowercase severity', mirroredScanEvent('mirror', { 'finding-severity-counts': { critical: 2 } }), 'unknown severity "critical"'],
  ])('refuses an event with %s', (_, event, message) => {
    expect(() => parseScanEvent(event, settings)).toThrow(InvalidScanEventError);
    expect(() => parseScanEvent(event, settings)).toThrow(message);
  });

  it('honours another prefix', () => {
    expect(parseScanEvent(mirroredScanEvent('team/mirror'), { targetPrefix: 'team/mirror' })).toMatchObject({ kind: 'scanned', repository: 'team/mirror/docker.io/library/postgres' });
    expect(parseScanEvent(mirroredScanEvent('mirror'), { targetPrefix: 'team/mirror' })).toMatchObject({ kind: 'ignored' });
  });
});

describe('recordScanEvent', () => {
  const recorded = async (event: unknown) => {
    const outcomes: ScanEventOutcome[] = [];
    const returned = await recordScanEvent(event, { recorder: { record: (outcome) => outcomes.push(outcome) } }, settings);
    return { returned, outcomes };
  };

  it('records and returns the outcome of a scan', async () => {
    const { returned, outcomes } = await recorded(mirroredScanEvent('mirror'));
    expect(outcomes).toEqual([returned]);
    expect(returned).toMatchObject({ kind: 'scanned', counts: { critical: 10 } });
  });

  it('records an ignored event too, with its reason', async () => {
    expect((await recorded(documentedScanEvent)).outcomes).toEqual([expect.objectContaining({ kind: 'ignored', repository: 'my-repository-name' })]);
  });

  it('gives up judging at the deadline, failing closed with a line that says so, when GitHub never answers', async () => {
    const never = new Promise<never>(() => undefined);
    const outcomes: ScanEventOutcome[] = [];
    const acceptance = { findings: { findings: async () => [] }, source: { list: () => never }, signOffs: { read: () => never } };
    const event = mirroredScanEvent('mirror', { 'finding-severity-counts': { CRITICAL: 2, HIGH: 1 } });
    const outcome = await recordScanEvent(event, { recorder: { record: (o) => outcomes.push(o) }, acceptance }, { ...settings, github: { imagesPath: 'images' }, judgeDeadlineMs: 20 });
    expect(outcomes).toEqual([outcome]);
    expect(outcome).toMatchObject({
      kind: 'scanned',
      acceptance: { unacceptedCritical: 2, unacceptedHigh: 1, unaccepted: [], signedOff: 0, error: `judging the findings of ${repository}@${digest}: gave up after 0.02 s (GitHub or ECR too slow); every critical and high finding counts` },
    });
  });

  it('records an unreadable event as invalid instead of throwing: a retry would read it no better', async () => {
    const { returned, outcomes } = await recorded(mirroredScanEvent('mirror', { 'image-digest': 7 }));
    expect(returned).toEqual({ kind: 'invalid', error: `reading the ECR Image Scan event of "${repository}": "detail.image-digest" must be a digest like "sha256:…", got 7` });
    expect(outcomes).toEqual([returned]);
  });
});

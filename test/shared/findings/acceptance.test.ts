import { describe, expect, it } from 'vitest';
import { judgeScan, rawAcceptance } from '../../../shared/findings/acceptance.ts';
import { recordScanEvent } from '../../../shared/findings/scan-event.ts';
import { DEFAULT_NAME_TEMPLATE } from '../../../shared/image-ref/target.ts';
import type { Finding, ScanEventOutcome, SeverityCounts } from '../../../shared/ports.ts';
import { mirroredScanEvent } from '../../fixtures/ecr-image-scan-event.ts';
import { ecrFinding, FakeImagesTree, FakeScanFindings } from '../../fakes/scan-acceptance.ts';

const repository = 'mirror/docker.io/library/postgres';
const digest = `sha256:${'1'.repeat(64)}`;
const now = new Date('2026-03-01T00:00:00Z');
const settings = { targetPrefix: 'mirror', nameTemplate: DEFAULT_NAME_TEMPLATE, imagesPath: 'images', webUrl: 'https://github.com/octo/images/blob/main' };
const zero: SeverityCounts = { critical: 0, high: 0, medium: 0, low: 0, informational: 0, undefined: 0 };
const SIGN_OFF_PATH = 'docker.io/library/postgres/.trivyignore.yaml';

/** A sign-off file of these entries, in Trivy's ignore-file format. */
function signOffFile(entries: { id: string; statement?: string; expiredAt?: string }[]): string {
  const lines = entries.map(({ id, statement, expiredAt }) =>
    [`  - id: ${id}`, ...(statement === undefined ? [] : [`    statement: ${statement}`]), ...(expiredAt === undefined ? [] : [`    expired_at: ${expiredAt}`])].join('\n'),
  );
  return `vulnerabilities:\n${lines.join('\n')}\n`;
}

function setup(findings: Finding[], signOffs?: string) {
  const images = new FakeImagesTree({
    'docker.io/library/postgres/Dockerfile': 'FROM postgres:14\n',
    ...(signOffs === undefined ? {} : { [SIGN_OFF_PATH]: signOffs }),
  });
  const scan = new FakeScanFindings({ [`${repository}@${digest}`]: findings });
  const counts = { ...zero, critical: findings.filter((f) => f.severity === 'CRITICAL').length, high: findings.filter((f) => f.severity === 'HIGH').length };
  const image = { repository, digest, tags: ['14'], status: 'COMPLETE', counts };
  const judge = () => judgeScan(image, { findings: scan, source: images, signOffs: images, now: () => now }, settings);
  return { images, scan, image, judge };
}

const where = {
  dockerfiles: ['docker.io/library/postgres/Dockerfile'],
  signOffFiles: ['images/docker.io/library/postgres/.trivyignore.yaml'],
  signOffUrls: ['https://github.com/octo/images/blob/main/images/docker.io/library/postgres/.trivyignore.yaml'],
};

describe('judgeScan', () => {
  it('reads nothing for an image without critical or high findings: nothing is unaccepted', async () => {
    const { images, scan, image } = setup([]);
    const acceptance = await judgeScan({ ...image, counts: { ...zero, medium: 4, low: 2 } }, { findings: scan, source: images, signOffs: images }, settings);
    expect(acceptance).toEqual(rawAcceptance(zero));
    expect(acceptance).toMatchObject({ unacceptedCritical: 0, unacceptedHigh: 0, unaccepted: [], problems: [] });
    expect(images.calls).toEqual([]);
    expect(scan.calls).toEqual([]);
  });

  it('accepts findings whose sign-offs count, naming the file to edit in the images repository and on GitHub', async () => {
    const { judge } = setup(
      [ecrFinding('CVE-2024-0001', 'CRITICAL'), ecrFinding('CVE-2024-0002', 'HIGH', 'zlib'), ecrFinding('CVE-2024-0003', 'MEDIUM')],
      signOffFile([{ id: 'CVE-2024-0001', statement: 'TLS is not used by this image', expiredAt: '2026-06-30' }, { id: 'CVE-2024-0002', statement: 'zlib is not reachable' }]),
    );
    expect(await judge()).toEqual({ unacceptedCritical: 0, unacceptedHigh: 0, unaccepted: [], signedOff: 2, expired: 0, ...where, problems: [] });
  });

  it('lists what no sign-off accepts, and counts it by severity', async () => {
    const { judge } = setup(
      [ecrFinding('CVE-2024-0001', 'CRITICAL'), ecrFinding('CVE-2024-0009', 'CRITICAL', 'glibc'), ecrFinding('CVE-2024-0002', 'HIGH', 'zlib')],
      signOffFile([{ id: 'CVE-2024-0001', statement: 'TLS is not used by this image' }]),
    );
    expect(await judge()).toMatchObject({
      unacceptedCritical: 1,
      unacceptedHigh: 1,
      unaccepted: [
        { id: 'CVE-2024-0009', severity: 'CRITICAL', pkgName: 'glibc', status: 'not-signed-off' },
        { id: 'CVE-2024-0002', severity: 'HIGH', pkgName: 'zlib', status: 'not-signed-off' },
      ],
      signedOff: 1,
      expired: 0,
      ...where,
    });
  });

  it('counts a sign-off past its expired_at as unaccepted again', async () => {
    const { judge } = setup([ecrFinding('CVE-2024-0001', 'CRITICAL')], signOffFile([{ id: 'CVE-2024-0001', statement: 'TLS is not used by this image', expiredAt: '2026-02-28' }]));
    expect(await judge()).toMatchObject({ unacceptedCritical: 1, unaccepted: [{ id: 'CVE-2024-0001', status: 'expired' }], signedOff: 0, expired: 1 });
  });

  it('counts no sign-off without a statement, and says why', async () => {
    const { judge } = setup([ecrFinding('CVE-2024-0001', 'CRITICAL')], signOffFile([{ id: 'CVE-2024-0001' }]));
    const acceptance = await judge();
    expect(acceptance).toMatchObject({ unacceptedCritical: 1, signedOff: 0 });
    expect(acceptance.problems).toEqual([expect.stringMatching(/^images\/docker\.io\/library\/postgres\/\.trivyignore\.yaml: .*CVE-2024-0001.*no statement/)]);
  });

  it('leaves everything unaccepted when no sign-off file exists yet, naming the file to create', async () => {
    const { judge } = setup([ecrFinding('CVE-2024-0001', 'CRITICAL')]);
    expect(await judge()).toMatchObject({ unacceptedCritical: 1, unaccepted: [{ id: 'CVE-2024-0001', status: 'not-signed-off' }], ...where, problems: [] });
  });

  it('lets a sign-off file that is no YAML sign nothing off, naming it', async () => {
    const { judge } = setup([ecrFinding('CVE-2024-0001', 'CRITICAL')], 'vulnerabilities: [\n');
    const acceptance = await judge();
    expect(acceptance).toMatchObject({ unacceptedCritical: 1, signedOff: 0 });
    expect(acceptance.problems).toEqual([expect.stringContaining(SIGN_OFF_PATH)]);
    expect(acceptance.error).toBeUndefined();
  });

  it('lets a sign-off file that could not be read sign nothing off, naming it and why', async () => {
    const { images, judge } = setup([ecrFinding('CVE-2024-0001', 'CRITICAL')], signOffFile([{ id: 'CVE-2024-0001', statement: 'fine' }]));
    images.failRead.set(SIGN_OFF_PATH, new Error('GitHub answered 502 Bad Gateway'));
    const acceptance = await judge();
    expect(acceptance).toMatchObject({ unacceptedCritical: 1, signedOff: 0, ...where });
    expect(acceptance.problems).toEqual([`reading the sign-off file "images/${SIGN_OFF_PATH}": GitHub answered 502 Bad Gateway; its sign-offs do not count`]);
  });

  it('fails closed when the findings cannot be read: the raw counts are unaccepted, and it says why and where to sign off', async () => {
    const { scan, judge } = setup([ecrFinding('CVE-2024-0001', 'CRITICAL'), ecrFinding('CVE-2024-0002', 'HIGH')], signOffFile([{ id: 'CVE-2024-0001', statement: 'fine' }]));
    scan.fail = new Error(`reading the scan findings of ${repository}@${digest}: ScanNotFoundException`);
    expect(await judge()).toEqual({
      unacceptedCritical: 1,
      unacceptedHigh: 1,
      unaccepted: [],
      signedOff: 0,
      expired: 0,
      ...where,
      problems: [],
      error: `reading the scan findings of ${repository}@${digest}: ScanNotFoundException`,
    });
  });

  it('fails closed when the images tree cannot be listed, naming the findings it could read', async () => {
    const { images, judge } = setup([ecrFinding('CVE-2024-0001', 'CRITICAL'), ecrFinding('CVE-2024-0003', 'MEDIUM')], signOffFile([{ id: 'CVE-2024-0001', statement: 'fine' }]));
    images.failList = new Error('listing the tree of octo/images@main: could not reach GitHub: connect ECONNREFUSED');
    expect(await judge()).toEqual({
      unacceptedCritical: 1,
      unacceptedHigh: 0,
      unaccepted: [{ id: 'CVE-2024-0001', severity: 'CRITICAL', pkgName: 'openssl', status: 'not-signed-off' }],
      signedOff: 0,
      expired: 0,
      signOffFiles: [],
      signOffUrls: [],
      dockerfiles: [],
      problems: [],
      error: 'listing the tree of octo/images@main: could not reach GitHub: connect ECONNREFUSED',
    });
  });

  it('fails closed naming both failures when neither the findings nor the tree can be read', async () => {
    const { images, scan, judge } = setup([ecrFinding('CVE-2024-0001', 'CRITICAL')]);
    scan.fail = new Error('reading the scan findings: ThrottlingException: Rate exceeded');
    images.failList = new Error('listing the tree: GitHub answered 502 Bad Gateway');
    expect(await judge()).toMatchObject({ unacceptedCritical: 1, unaccepted: [], error: 'reading the scan findings: ThrottlingException: Rate exceeded; listing the tree: GitHub answered 502 Bad Gateway' });
  });

  it('fails closed when ECR lists none of the critical or high findings the event counted', async () => {
    const { image, images, scan } = setup([ecrFinding('CVE-2024-0003', 'MEDIUM')]);
    const acceptance = await judgeScan({ ...image, counts: { ...zero, critical: 2 } }, { findings: scan, source: images, signOffs: images }, settings);
    expect(acceptance).toMatchObject({ unacceptedCritical: 2, error: expect.stringContaining('the scan event counted 2 critical') });
  });

  it('counts the critical and high findings ECR did not list as unaccepted, judging those it did (a later scan replaced it, or the list came back short)', async () => {
    const { image, images, scan } = setup([ecrFinding('CVE-2024-0001', 'CRITICAL'), ecrFinding('CVE-2024-0002', 'HIGH', 'zlib')], signOffFile([{ id: 'CVE-2024-0001', statement: 'fine' }, { id: 'CVE-2024-0002', statement: 'fine' }]));
    const acceptance = await judgeScan({ ...image, counts: { ...zero, critical: 3, high: 1 } }, { findings: scan, source: images, signOffs: images, now: () => now }, settings);
    expect(acceptance).toMatchObject({ unacceptedCritical: 2, unacceptedHigh: 0, unaccepted: [], signedOff: 2, ...where });
    expect(acceptance.error).toBeUndefined();
    expect(acceptance.problems).toEqual([
      `reading the scan findings of ${repository}@${digest}: ECR listed 1 critical and 1 high findings although the scan event counted 3 critical and 1 high; the 2 critical and 0 high it did not list count as unaccepted`,
    ]);
  });

  it('adds nothing when ECR lists more findings than the event counted: each listed one is judged', async () => {
    const { image, images, scan } = setup([ecrFinding('CVE-2024-0001', 'CRITICAL'), ecrFinding('CVE-2024-0009', 'CRITICAL', 'glibc')], signOffFile([{ id: 'CVE-2024-0001', statement: 'fine' }]));
    const acceptance = await judgeScan({ ...image, counts: { ...zero, critical: 1 } }, { findings: scan, source: images, signOffs: images, now: () => now }, settings);
    expect(acceptance).toMatchObject({ unacceptedCritical: 1, signedOff: 1, problems: [] });
  });

  it('asks the injected clock, not the machine\'s, when the images tree cannot be listed', async () => {
    const { images, scan, image } = setup([ecrFinding('CVE-2024-0001', 'CRITICAL')]);
    images.failList = new Error('listing the tree: GitHub answered 502 Bad Gateway');
    let asked = 0;
    const acceptance = await judgeScan(image, { findings: scan, source: images, signOffs: images, now: () => { asked += 1; return now; } }, settings);
    expect(acceptance).toMatchObject({ unacceptedCritical: 1, error: 'listing the tree: GitHub answered 502 Bad Gateway' });
    expect(asked).toBeGreaterThan(0);
  });

  describe('an untagged manifest (one platform of an index), which may be of any image of the repository', () => {
    const untagged = (files: Record<string, string>, findings: Finding[]) => {
      const images = new FakeImagesTree({ 'docker.io/library/postgres/14/Dockerfile': 'FROM postgres:14\n', 'docker.io/library/postgres/16/Dockerfile': 'FROM postgres:16\n', ...files });
      const scan = new FakeScanFindings({ [`${repository}@${digest}`]: findings });
      const counts = { ...zero, critical: findings.filter((f) => f.severity === 'CRITICAL').length, high: findings.filter((f) => f.severity === 'HIGH').length };
      return judgeScan({ repository, digest, tags: [], status: 'COMPLETE', counts }, { findings: scan, source: images, signOffs: images, now: () => now }, settings);
    };
    const fine = signOffFile([{ id: 'CVE-2024-0001', statement: 'TLS is not used by this image' }]);

    it('does not let a sign-off beside postgres:14 accept the same CVE in postgres:16', async () => {
      const acceptance = await untagged({ 'docker.io/library/postgres/14/.trivyignore.yaml': fine }, [ecrFinding('CVE-2024-0001', 'CRITICAL')]);
      expect(acceptance).toMatchObject({ unacceptedCritical: 1, signedOff: 0, unaccepted: [{ id: 'CVE-2024-0001', status: 'not-signed-off' }] });
      expect(acceptance.dockerfiles).toEqual(['docker.io/library/postgres/14/Dockerfile', 'docker.io/library/postgres/16/Dockerfile']);
    });

    it('accepts a finding every candidate image signs off', async () => {
      const acceptance = await untagged({ 'docker.io/library/postgres/14/.trivyignore.yaml': fine, 'docker.io/library/postgres/16/.trivyignore.yaml': fine }, [ecrFinding('CVE-2024-0001', 'CRITICAL')]);
      expect(acceptance).toMatchObject({ unacceptedCritical: 0, signedOff: 1, unaccepted: [] });
    });

    it('keeps the worst verdict: expired for one image and signed off for the other is expired', async () => {
      const expired = signOffFile([{ id: 'CVE-2024-0001', statement: 'TLS is not used by this image', expiredAt: '2026-01-31' }]);
      const acceptance = await untagged({ 'docker.io/library/postgres/14/.trivyignore.yaml': expired, 'docker.io/library/postgres/16/.trivyignore.yaml': fine }, [ecrFinding('CVE-2024-0001', 'CRITICAL'), ecrFinding('CVE-2024-0002', 'HIGH', 'zlib')]);
      expect(acceptance).toMatchObject({ unacceptedCritical: 1, unacceptedHigh: 1, expired: 1, signedOff: 0 });
      expect(acceptance.unaccepted).toEqual([
        { id: 'CVE-2024-0001', severity: 'CRITICAL', pkgName: 'openssl', status: 'expired' },
        { id: 'CVE-2024-0002', severity: 'HIGH', pkgName: 'zlib', status: 'not-signed-off' },
      ]);
    });
  });

  it('says so when no Dockerfile names the repository, and accepts nothing', async () => {
    const { scan, images } = setup([]);
    scan.byImage[`mirror/docker.io/library/mysql@${digest}`] = [ecrFinding('CVE-2024-0001', 'HIGH')];
    const acceptance = await judgeScan(
      { repository: 'mirror/docker.io/library/mysql', digest, tags: ['8'], status: 'COMPLETE', counts: { ...zero, high: 1 } },
      { findings: scan, source: images, signOffs: images },
      settings,
    );
    expect(acceptance).toMatchObject({ unacceptedHigh: 1, dockerfiles: [], signOffFiles: [] });
    expect(acceptance.problems).toEqual(['no Dockerfile of the images tree names mirror/docker.io/library/mysql with tag 8, so no sign-off applies']);
  });

  it('gives no web links when the web address is unknown, and paths from the repository root for an empty images path', async () => {
    const { image, images, scan } = setup([ecrFinding('CVE-2024-0001', 'CRITICAL')]);
    const acceptance = await judgeScan(image, { findings: scan, source: images, signOffs: images }, { targetPrefix: 'mirror', nameTemplate: DEFAULT_NAME_TEMPLATE, imagesPath: '' });
    expect(acceptance).toMatchObject({ signOffFiles: [SIGN_OFF_PATH], signOffUrls: [] });
  });
});

describe('recordScanEvent with sign-offs', () => {
  const event = mirroredScanEvent('mirror', { 'image-digest': digest, 'finding-severity-counts': { CRITICAL: 1, HIGH: 1 } });

  it('records the image judged against its sign-offs', async () => {
    const { images, scan } = setup([ecrFinding('CVE-2024-0001', 'CRITICAL'), ecrFinding('CVE-2024-0002', 'HIGH')], signOffFile([{ id: 'CVE-2024-0001', statement: 'fine' }]));
    const outcomes: ScanEventOutcome[] = [];
    const outcome = await recordScanEvent(event, { recorder: { record: (o) => outcomes.push(o) }, acceptance: { findings: scan, source: images, signOffs: images, now: () => now } }, { targetPrefix: 'mirror', github: { imagesPath: 'images' } });
    expect(outcomes).toEqual([outcome]);
    expect(outcome).toMatchObject({ kind: 'scanned', counts: { critical: 1, high: 1 }, acceptance: { unacceptedCritical: 0, unacceptedHigh: 1, signedOff: 1, signOffUrls: [] } });
  });

  it('takes the raw counts as unaccepted, saying why, where no images repository is configured', async () => {
    const outcome = await recordScanEvent(event, { recorder: { record: () => undefined } }, { targetPrefix: 'mirror' });
    expect(outcome).toMatchObject({ kind: 'scanned', acceptance: { unacceptedCritical: 1, unacceptedHigh: 1, problems: [expect.stringContaining('sign-offs are not configured')] } });
  });

  it('records a line, failing closed, when judging throws what it did not foresee', async () => {
    const { images, scan } = setup([ecrFinding('CVE-2024-0001', 'CRITICAL')]);
    const outcomes: ScanEventOutcome[] = [];
    const deps = { recorder: { record: (o: ScanEventOutcome) => outcomes.push(o) }, acceptance: { findings: scan, source: images, signOffs: images, now: () => { throw new Error('clock broke'); } } };
    await recordScanEvent(event, deps, { targetPrefix: 'mirror', github: { imagesPath: 'images' } });
    expect(outcomes).toEqual([expect.objectContaining({ kind: 'scanned', acceptance: expect.objectContaining({ unacceptedCritical: 1, unacceptedHigh: 1, error: expect.stringContaining('clock broke') }) })]);
  });
});

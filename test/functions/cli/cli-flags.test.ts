import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Report } from '../../../shared/plan/report.ts';
import { runCli, writeImagesTree } from '../../support/cli.ts';

const ECR = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/mirror';

describe('mirror --version', () => {
  it("prints package.json's version and exits 0", async () => {
    const { version } = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(await runCli(['--version'])).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
  });
});

describe('--help', () => {
  it('offers no --quiet on plan, which prints no progress, and still takes it from older scripts', async () => {
    const help = await runCli(['plan', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--only <image>');
    expect(help.stdout).not.toContain('--quiet');
    const images = await writeImagesTree({ 'docker.io/library/redis/Dockerfile': 'FROM redis:7\n' });
    expect((await runCli(['plan', '--images', images, '--quiet'])).code).toBe(0);
  });

  it('offers --quiet and --verbose on sync', async () => {
    const help = await runCli(['sync', '--help']);
    expect(help.stdout).toMatch(/-q, --quiet\s+no progress lines on stderr/);
    expect(help.stdout).toContain('--verbose');
  });

  it.each(['plan', 'sync', 'orphans'])('shows at most one default per option of %s, never commander\'s "[]"', async (command) => {
    const help = await runCli([command, '--help']);
    const options = help.stdout.split('\n\n').find((block) => block.startsWith('Options:')) ?? '';
    const entries = options.split(/\n(?=  -)/).slice(1);
    expect(entries.length).toBeGreaterThan(5);
    for (const entry of entries) expect(entry.match(/default/g)?.length ?? 0, entry).toBeLessThanOrEqual(1);
    expect(help.stdout).not.toContain('(default: [])');
  });

  it('tells the default of --platform once, in its own words', async () => {
    const help = await runCli(['sync', '--help']);
    expect(help.stdout).toMatch(/--platform <os\/arch>\s+copy only these platforms out of multi-platform\s+indexes \(repeatable\) \(default: the whole index,\s+digest kept\)/);
  });

  it('tells the exit codes of sync and the environment it reads', async () => {
    const help = await runCli(['sync', '--help']);
    expect(help.stdout).toContain('\nExit codes:\n  0    every image is in the target');
    for (const line of ['1    an image failed or was interrupted', '2    usage or setup error', '3    nothing failed, but images were deferred', '130  stopped by SIGINT (Ctrl-C); 143 by SIGTERM']) {
      expect(help.stdout).toContain(`\n  ${line}`);
    }
    const environment = help.stdout.slice(help.stdout.indexOf('\nEnvironment:\n'));
    for (const name of ['CRANE', 'AWS_REGION', 'AWS_PROFILE', 'HTTPS_PROXY', 'HTTP_PROXY', 'NO_PROXY', 'SSL_CERT_FILE', 'SSL_CERT_DIR', 'NODE_EXTRA_CA_CERTS', 'COLUMNS', 'DOCKER_CONFIG']) {
      expect(environment).toMatch(new RegExp(`\\n  (\\S+, )*${name}\\b`));
    }
    expect(environment).toContain("Docker's config.json ($DOCKER_CONFIG or ~/.docker) logins are used");
  });

  it.each(['plan', 'sync', 'orphans', 'dependabot', 'renovate'])('gives %s examples, exit codes and its environment', async (command) => {
    const help = await runCli([command, '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(new RegExp(`Examples?:\\n  mirror ${command} `));
    expect(help.stdout).toMatch(/Exit codes:/);
    expect(help.stdout).toMatch(/Environment:\n  \S/);
  });

  it('gives the top-level help examples', async () => {
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('-V, --version');
    expect(help.stdout).toMatch(/Examples:\n  mirror plan --images images\//);
  });
});

describe('--only', () => {
  let images = '';
  beforeAll(async () => {
    images = await writeImagesTree({
      'docker.io/library/postgres/Dockerfile': 'FROM postgres:14 AS old\nFROM postgres:16\n',
      'docker.io/library/redis/Dockerfile': 'FROM redis:7\n',
      'quay.io/prometheus/node-exporter/Dockerfile': 'FROM quay.io/prometheus/node-exporter:v1.8.2\n',
    });
  });
  const plan = async (...only: string[]) => runCli(['plan', '--images', images, '--json', ...only.flatMap((entry) => ['--only', entry])]);

  it.each([
    [['postgres'], ['docker.io/library/postgres:14', 'docker.io/library/postgres:16']],
    [['docker.io/library/postgres:16'], ['docker.io/library/postgres:16']],
    [['redis', 'quay.io/prometheus/node-exporter:v1.8.2'], ['docker.io/library/redis:7', 'quay.io/prometheus/node-exporter:v1.8.2']],
    [[], ['docker.io/library/postgres:14', 'docker.io/library/postgres:16', 'docker.io/library/redis:7', 'quay.io/prometheus/node-exporter:v1.8.2']],
  ])('%j selects %j, in the plan\'s order', async (only, sources) => {
    const run = await plan(...only);
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as Report;
    expect(report.results.map((r) => r.source)).toEqual(sources);
    expect(report.summary.planned).toBe(sources.length);
    expect(run.stderr).toBe('');
  });

  it('warns of an entry that matches nothing, and goes on with the others', async () => {
    const run = await plan('redis', 'ghcr.io/nothing/here');
    expect(run.code).toBe(0);
    expect((JSON.parse(run.stdout) as Report).results.map((r) => r.source)).toEqual(['docker.io/library/redis:7']);
    expect(run.stderr).toBe('mirror: warning: --only "ghcr.io/nothing/here" matches no image of the tree; the others go on\n');
  });

  it('is a usage error when no entry matches any image: a typo must not pass for a green run', async () => {
    const run = await plan('postgres:15', 'ghcr.io/nothing/here');
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('--only: no image of the tree matches "postgres:15", "ghcr.io/nothing/here"; nothing to do');
  });

  it('selects nothing on sync either before contacting anything', async () => {
    const run = await runCli(['sync', '--images', images, '--target', 'r.example.com/m', '--only', 'ghcr.io/nothing/here', '--crane', '/nonexistent/crane']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--only: no image of the tree matches "ghcr.io/nothing/here"');
    expect(run.stderr).not.toContain('crane');
  });

  it.each([
    [['plan', '--only', 'Bad:Ref'], '--only: invalid image reference "Bad:Ref"'],
    [['plan', '--only', 'redis', '--base', '.'], '--only does not apply with --base'],
  ])('%j is a usage error', async (args, message) => {
    const run = await runCli([...args, '--images', images]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
    expect(run.stdout).toBe('');
  });
});

describe('--kms-key', () => {
  let images = '';
  beforeAll(async () => {
    images = await writeImagesTree({ 'docker.io/library/redis/Dockerfile': 'FROM redis:7\n' });
  });
  // An --only that matches nothing stops the sync before any AWS call: an exit 2 that is not about the key means the key was taken.
  const sync = (target: string, key: string, ...extra: string[]) => runCli(['sync', '--images', images, '--target', target, '--kms-key', key, '--only', 'ghcr.io/none/here', ...extra]);

  it('is a usage error on a target that is not ECR', async () => {
    const run = await sync('registry.example.com/mirror', 'alias/mirror');
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--kms-key applies to ECR only, and "registry.example.com/mirror" is not an ECR registry');
    expect(run.stdout).toBe('');
  });

  it('is taken on any registry given --ecr', async () => {
    const run = await sync('registry.example.com/mirror', 'alias/mirror', '--ecr');
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--only: no image of the tree matches');
  });

  it.each([
    'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
    'arn:aws:kms:eu-west-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab',
    'arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
    'arn:aws:kms:eu-west-1:123456789012:alias/team/mirror',
    '1234abcd-12ab-34cd-56ef-1234567890ab',
    'alias/mirror_images-1',
    'alias/aws/ecr',
  ])('takes %s, a form ECR accepts', async (key) => {
    const run = await sync(ECR, key);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--only: no image of the tree matches');
    expect(run.stderr).not.toContain('--kms-key');
  });

  it.each([
    'mirror-key',
    'alias/',
    'alias/with space',
    'arn:aws:kms:eu-west-1:1234:key/1234abcd-12ab-34cd-56ef-1234567890ab',
    'arn:aws:kms:eu-west-1:123456789012:key/not-a-key-id',
    'arn:aws:s3:::bucket',
    'key/1234abcd-12ab-34cd-56ef-1234567890ab',
  ])('refuses %j, naming the forms it takes', async (key) => {
    const run = await sync(ECR, key);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('is not a KMS key; give its ARN (arn:aws:kms:<region>:<account>:key/<key id>), its id');
    expect(run.stderr).toContain('an alias (alias/<name>) or an alias ARN');
    expect(run.stdout).toBe('');
  });
});

describe('--format markdown and --summary-file', () => {
  let images = '';
  beforeAll(async () => {
    images = await writeImagesTree({
      'docker.io/library/redis/Dockerfile': 'FROM redis:7\n',
      'docker.io/library/broken/Dockerfile': 'FROM redis:${TAG}\n',
    });
  });

  it('prints a plain plan as markdown', async () => {
    const run = await runCli(['plan', '--images', images, '--target', ECR, '--format', 'markdown']);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^### Mirror plan\n\n1 image planned; 1 invalid file\.\n/);
    expect(run.stdout).toContain(`| planned | \`docker.io/library/redis:7\` | \`${ECR}/docker.io/library/redis:7\` | \`docker.io/library/redis/Dockerfile\` |`);
    expect(run.stdout).toContain('| `docker.io/library/broken/Dockerfile` | line 1: ARG TAG is not declared before the first FROM |');
  });

  it('appends the report in markdown to the file, keeping what it held, and still prints the table on stdout', async () => {
    const file = join(images, '..', `summary-${Date.now()}.md`);
    await writeFile(file, '## An earlier step\n');
    const first = await runCli(['plan', '--images', images, '--summary-file', file]);
    // An invalid file fails the plan; the summary is written all the same.
    expect(first.code).toBe(1);
    expect(first.stdout).toMatch(/^STATUS\s+SOURCE/);
    await runCli(['plan', '--images', images, '--only', 'redis', '--summary-file', file]);
    const text = await readFile(file, 'utf8');
    expect(text.startsWith('## An earlier step\n\n### Mirror plan\n')).toBe(true);
    expect(text.match(/^### Mirror plan$/gm)).toHaveLength(2);
    expect(text).toContain('#### Invalid files (nothing mirrored from them): 1');
  });

  it('writes the diff markdown of plan --base to the summary file', async () => {
    const file = join(images, '..', `summary-base-${Date.now()}.md`);
    const base = await writeImagesTree({ 'docker.io/library/redis/Dockerfile': 'FROM redis:6\n' });
    const run = await runCli(['plan', '--images', images, '--base', base, '--no-cost', '--json', '--summary-file', file]);
    expect(() => JSON.parse(run.stdout) as unknown).not.toThrow();
    const text = await readFile(file, 'utf8');
    expect(text).toContain('### Images to mirror');
    expect(text).toContain('`docker.io/library/redis:7`');
  });

  it('is a usage error, before any work, when the summary file cannot be appended to', async () => {
    const run = await runCli(['plan', '--images', images, '--summary-file', join(images, 'no-such-dir', 'summary.md')]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--summary-file: cannot append to');
    expect(run.stderr).toContain('ENOENT');
    expect(run.stdout).toBe('');
  });

  it('escapes what the files hold: no markup, no mention, no broken table', async () => {
    const hostile = await writeImagesTree({ 'docker.io/x/Dockerfile': 'FROM <img/src=x/onerror=alert(1)>|@octocat\n' });
    const run = await runCli(['plan', '--images', hostile, '--format', 'markdown']);
    expect(run.code).toBe(1);
    expect(run.stdout).not.toMatch(/<img|@octocat/);
    expect(run.stdout).toContain('&lt;img/src=x/onerror=alert(1)&gt;\\|@\u200boctocat');
  });

  it.each([
    [['sync', '--target', 'r.example.com', '--json', '--format', 'markdown'], '--json and --format markdown exclude each other'],
    [['sync', '--target', 'r.example.com', '--format', 'yaml'], "argument 'yaml' is invalid. Allowed choices are text, markdown, json."],
  ])('%j is a usage error', async (args, message) => {
    const run = await runCli([...args, '--images', images]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
  });
});

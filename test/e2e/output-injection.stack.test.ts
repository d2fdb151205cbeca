import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushImage, pushIndex } from '../../scripts/lib/oci-seed.ts';
import type { Report } from '../../shared/plan/report.ts';
import { runCli, writeImagesTree } from '../support/cli.ts';
import { type HostileRegistry, startHostileRegistry } from '../support/hostile-registry.ts';
import { stack, uniqueName } from '../support/stack.ts';

// A line is a GitHub Actions workflow command when, after its leading spaces, it starts with `::`
// (https://docs.github.com/en/actions/reference/workflow-commands-for-github-actions; the runner trims the line's
// start before it looks: ActionCommand.TryParseV2 in actions/runner). `##[` is the older form.
const COMMAND_LINE = /^\s*(::|##\[)/;
// Every control character but the newlines we print ourselves: ESC starts terminal escapes, BEL rings.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

describe('text from outside cannot forge a line of output or leak a credential', () => {
  const s = stack();
  const ns = uniqueName('inject');
  const login = { username: 'mirror-bot', password: `pw-${ns}-secret` };
  const basic = Buffer.from(`${login.username}:${login.password}`).toString('base64');
  let commanding: HostileRegistry;
  let echoing: HostileRegistry;
  let images: string;
  let credentials: string;

  beforeAll(async () => {
    for (const name of ['a', 'b']) await pushImage({ registry: s.sourceRegistry }, `${ns}/${name}`, '1');
    // A registry whose 403 carries a workflow command, a terminal escape and a bell; one that echoes the login it got.
    commanding = await startHostileRegistry({ upstream: s.sourceRegistry, ...login, message: () => 'access denied\n::error file=README.md::owned\u001b[2J\u0007' });
    echoing = await startHostileRegistry({ upstream: s.sourceRegistry, ...login, message: (req) => `you sent Authorization: ${req.headers.authorization}` });
    images = await writeImagesTree({
      [`${s.sourceRegistry}/${ns}/a/Dockerfile`]: `FROM ${s.sourceRegistry}/${ns}/a:1\n`,
      // A valid image under a file name that holds a newline and a workflow command.
      [`${s.sourceRegistry}/${ns}/b\n::warning file=x::owned/Dockerfile`]: `FROM ${s.sourceRegistry}/${ns}/b:1\n`,
      // An invalid file whose name holds terminal escapes and whose text holds a bidirectional override.
      [`docker.io/bad/\u001b[31mred\u0007/Dockerfile`]: 'FROM alpine:3\u202e20\n',
      [`${commanding.host}/${ns}/a/Dockerfile`]: `FROM ${commanding.host}/${ns}/a:1\n`,
      [`${echoing.host}/${ns}/a/Dockerfile`]: `FROM ${echoing.host}/${ns}/a:1\n`,
    });
    const dir = await mkdtemp(join(tmpdir(), 'image-mirror-inject-'));
    credentials = join(dir, 'credentials.json');
    await writeFile(
      credentials,
      JSON.stringify({ [s.targetRegistry]: { username: s.targetUsername, password: s.targetPassword }, [commanding.host]: login, [echoing.host]: login }),
      { mode: 0o600 },
    );
  });

  afterAll(async () => {
    await commanding.close();
    await echoing.close();
  });

  const expectSafe = (printed: string) => {
    for (const line of printed.split('\n')) expect(line, 'a workflow command').not.toMatch(COMMAND_LINE);
    expect(printed).not.toMatch(CONTROL);
    expect(printed).not.toContain(login.password);
    expect(printed).not.toContain(basic);
    expect(printed).not.toContain(s.targetPassword);
  };

  it('mirror sync: file names, a registry error body and crane\'s stderr are printed escaped, the valid images still land', async () => {
    const run = await runCli(['sync', '--images', images, '--target', `${s.targetRegistry}/${ns}`, '--credentials', credentials]);
    expect(run.code, run.stderr).toBe(1);
    expectSafe(run.stdout + run.stderr);
    // What the registries said is there, escaped, and the echoed login is hidden.
    expect(run.stdout).toContain('DENIED: access denied\\n::error file=README.md::owned\\u001b[2J\\u0007');
    expect(run.stdout).toContain('you sent Authorization: Basic ***');
    expect(run.stdout).toContain('docker.io/bad/\\u001b[31mred\\u0007/Dockerfile');

    const json = await runCli(['sync', '--images', images, '--target', `${s.targetRegistry}/${ns}`, '--credentials', credentials, '--json']);
    expectSafe(json.stdout + json.stderr);
    const report = JSON.parse(json.stdout) as Report;
    const statusOf = (host: string, name: string) => report.results.find((r) => r.source === `${host}/${ns}/${name}:1`)?.status;
    expect([statusOf(commanding.host, 'a'), statusOf(echoing.host, 'a'), statusOf(s.sourceRegistry, 'a'), statusOf(s.sourceRegistry, 'b')]).toEqual(['failed', 'failed', 'skipped', 'skipped']);
    // Escaped, the newline no longer starts a line: the `::` after it is harmless text.
    expect(report.results.find((r) => r.source === `${s.sourceRegistry}/${ns}/b:1`)?.files).toEqual([`${s.sourceRegistry}/${ns}/b\\n::warning file=x::owned/Dockerfile`]);
    expect(report.errors.map((e) => e.file)).toEqual(['docker.io/bad/\\u001b[31mred\\u0007/Dockerfile']);
    expect(report.errors[0]?.message).toContain('\\u202e');
  });

  it('mirror plan --base --format markdown: a lookup\'s error body is escaped in the pull-request comment', async () => {
    const empty = await writeImagesTree({});
    // Indexes: their cost needs a GET (a single image's HEAD is enough), which these registries refuse with their words.
    await pushIndex({ registry: s.sourceRegistry }, `${ns}/idx`, '1', ['linux/amd64', 'linux/arm64']);
    const indexes = await writeImagesTree({
      [`${commanding.host}/${ns}/idx/Dockerfile`]: `FROM ${commanding.host}/${ns}/idx:1\n`,
      [`${echoing.host}/${ns}/idx/Dockerfile`]: `FROM ${echoing.host}/${ns}/idx:1\n`,
    });
    const run = await runCli(['plan', '--images', indexes, '--base', empty, '--format', 'markdown', '--credentials', credentials]);
    // A cost that could not be looked up is reported on its image; it fails nothing by itself.
    expect(run.code, run.stderr).toBe(0);
    expectSafe(run.stdout + run.stderr);
    // Markdown escapes the backslashes and asterisks of the safe text once more.
    expect(run.stdout).toContain('DENIED: access denied\\\\n::error file=README.md::owned');
    expect(run.stdout).toContain('you sent Authorization: Basic \\*\\*\\*');
  });
});

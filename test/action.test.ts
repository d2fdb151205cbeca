import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { type ActionRun, parseCommandFile, runAction, type StepRun } from './support/actions-runner.ts';
import { stubbedAction } from './support/mirror-action-stub.ts';

const root = resolve(import.meta.dirname, '..');

interface ActionYaml {
  inputs: Record<string, { description: string; default?: string }>;
  outputs: Record<string, { description: string; value: string }>;
  runs: { using: string; steps: { id?: string; run: string; shell: string; env?: Record<string, string> }[] };
}

const action = async () => parse(await readFile(join(root, 'action.yml'), 'utf8'), { uniqueKeys: true }) as ActionYaml;

/** A composite action of the given steps in a new directory, and a workspace beside it. */
async function tinyAction(yaml: string): Promise<{ actionDir: string; workspace: string }> {
  const actionDir = await mkdtemp(join(tmpdir(), 'image-mirror-tiny-action-'));
  await writeFile(join(actionDir, 'action.yml'), yaml);
  const workspace = join(actionDir, 'workspace');
  await mkdir(workspace);
  return { actionDir, workspace };
}

describe('action.yml', () => {
  it('is a composite action whose run scripts hold no ${{ }} expression: inputs reach them through env only', async () => {
    const { runs } = await action();
    expect(runs.using).toBe('composite');
    for (const step of runs.steps) {
      expect(step.shell).toBe('bash');
      expect(step.run, step.id).not.toContain('${{');
      expect(step.run, step.id).toMatch(/^bash "\$ACTION_PATH\/action\/[\w-]+\.sh"$/);
    }
  });

  it('uses only inputs it declares, and describes every input and output', async () => {
    const { inputs, outputs, runs } = await action();
    const text = await readFile(join(root, 'action.yml'), 'utf8');
    for (const [, name] of text.matchAll(/inputs\.([\w-]+)/g)) expect(inputs, `inputs.${name}`).toHaveProperty(name as string);
    for (const [name, input] of Object.entries(inputs)) expect(input.description, name).toMatch(/\S/);
    for (const [name, output] of Object.entries(outputs)) expect(output.value, name).toBe(`\${{ steps.mirror.outputs.${name} }}`);
    expect(runs.steps.map((step) => step.id)).toEqual(['build', 'crane', 'mirror']);
  });

  it('lists every input and output in the README', async () => {
    const { inputs, outputs } = await action();
    const readme = await readFile(join(root, 'README.md'), 'utf8');
    const start = readme.indexOf('\n## GitHub Action\n');
    expect(start).toBeGreaterThan(-1);
    const end = readme.indexOf('\n## ', start + 1);
    const section = readme.slice(start, end === -1 ? undefined : end);
    for (const name of [...Object.keys(inputs), ...Object.keys(outputs)]) expect(section, name).toContain(`\`${name}\``);
  });

  it('reads no INPUT_ variable in its scripts: GitHub sets them for JavaScript and Docker actions, not composite ones', async () => {
    const dir = join(root, 'action');
    const scripts = (await readdir(dir)).filter((name) => name.endsWith('.sh'));
    expect(scripts).toContain('run.sh');
    for (const name of scripts) expect(await readFile(join(dir, name), 'utf8'), name).not.toMatch(/INPUT_/);
  });

  it('pins the same crane release and Linux checksums as the Lambda layer build', async () => {
    const install = await readFile(join(root, 'action', 'install-crane.sh'), 'utf8');
    const layer = await readFile(join(root, 'scripts', 'build-crane-layer.sh'), 'utf8');
    const version = (text: string) => /^PINNED_CRANE_VERSION=(v[\d.]+)$/m.exec(text)?.[1];
    expect(version(install)).toBeDefined();
    expect(version(install)).toBe(version(layer));
    for (const arch of ['x86_64', 'arm64']) {
      const ours = new RegExp(`Linux_${arch}\\) echo ([0-9a-f]{64})`).exec(install)?.[1];
      const theirs = new RegExp(`\\[${arch}\\]=([0-9a-f]{64})`).exec(layer)?.[1];
      expect(ours, arch).toBeDefined();
      expect(ours, arch).toBe(theirs);
    }
    const { inputs } = await action();
    expect(inputs.crane?.description).toContain(version(install));
  });
});

describe('the test runner for actions (test/support/actions-runner.ts)', () => {
  it('reads GITHUB_OUTPUT as the runner does: name=value and name<<DELIMITER blocks', () => {
    expect(parseCommandFile('a=1\nb<<EOF\nline 1\n\nline=3\nEOF\nc=x=y\n', 'test')).toEqual({ a: '1', b: 'line 1\n\nline=3', c: 'x=y' });
    expect(parseCommandFile('empty<<END\nEND\n', 'test')).toEqual({ empty: '' });
    expect(() => parseCommandFile('b<<EOF\nno end\n', 'test')).toThrow('matching delimiter not found "EOF"');
    expect(() => parseCommandFile('just text\n', 'test')).toThrow('neither name=value nor name<<DELIMITER');
  });

  it('evaluates inputs with defaults, if:, env: and step outputs, and sets INPUT_ variables', async () => {
    const { actionDir, workspace } = await tinyAction(`
name: tiny
inputs:
  greeting: { description: d, default: hello }
  who: { description: d }
runs:
  using: composite
  steps:
    - id: first
      shell: bash
      env: { GREETING: '\${{ inputs.greeting }}', WHO: '\${{ inputs.who || ''nobody'' }}' }
      run: |
        echo "text=$GREETING, $WHO ($INPUT_GREETING)" >> "$GITHUB_OUTPUT"
        echo "FROM_FIRST=yes" >> "$GITHUB_ENV"
    - id: skipped
      if: inputs.who == 'NOBODY'
      shell: bash
      run: echo "ran=yes" >> "$GITHUB_OUTPUT"
    - id: second
      if: inputs.who != 'nobody' && steps.first.outputs.text != ''
      shell: bash
      env: { TEXT: '\${{ steps.first.outputs.text }}' }
      run: |
        echo "text=$TEXT; $FROM_FIRST" >> "$GITHUB_OUTPUT"
        echo "# $TEXT" >> "$GITHUB_STEP_SUMMARY"
outputs:
  text: { description: d, value: '\${{ steps.second.outputs.text }}' }
`);
    const result = await runAction({ actionDir, workspace, inputs: { who: 'world' } });
    expect(result.steps.map((step) => step.outcome)).toEqual(['success', 'skipped', 'success']);
    expect(result.outputs.text).toBe('hello, world (hello); yes');
    expect(result.summary).toBe('# hello, world (hello)\n');
    // String comparison ignores case, as GitHub's does: 'nobody' == 'NOBODY'.
    const nobody = await runAction({ actionDir, workspace, inputs: { who: 'nobody' } });
    expect(nobody.steps.map((step) => step.outcome)).toEqual(['success', 'success', 'skipped']);
  });

  it('skips the steps after a failure, and the action fails', async () => {
    const { actionDir, workspace } = await tinyAction(`
name: tiny
runs:
  using: composite
  steps:
    - { id: a, shell: bash, run: 'false; echo "never"' }
    - { id: b, shell: bash, run: 'echo b' }
    - { id: c, if: always(), shell: bash, run: 'echo c' }
`);
    const result = await runAction({ actionDir, workspace });
    expect(result.outcome).toBe('failure');
    // bash -e: the script stops at the first failing command, as on the runner.
    expect(result.steps.map((step) => [step.outcome, step.stdout])).toEqual([
      ['failure', ''],
      ['skipped', ''],
      ['success', 'c\n'],
    ]);
  });

  it.each([
    ['an unknown context', "${{ secrets.TOKEN }}", 'context "secrets" is not known'],
    ['an unknown function', "${{ format('{0}', inputs.x) }}", 'function format() is not one this runner knows'],
    ['an undeclared input', '${{ inputs.nope }}', 'inputs.nope is not known'],
    ['an unknown step', '${{ steps.nope.outputs.x }}', 'no step has id "nope"'],
    ['index syntax', "${{ inputs['x'] }}", 'unexpected "["'],
  ])('fails loudly on %s', async (_, expression, message) => {
    const { actionDir, workspace } = await tinyAction(`
name: tiny
inputs:
  x: { description: d, default: '' }
runs:
  using: composite
  steps:
    - { shell: bash, env: { V: "${expression}" }, run: 'echo "$V"' }
`);
    await expect(runAction({ actionDir, workspace })).rejects.toThrow(message);
  });

  it('refuses an input the action does not declare, as a typo in with: would go unseen', async () => {
    const { actionDir, workspace } = await tinyAction('name: tiny\ninputs:\n  x: { description: d }\nruns:\n  using: composite\n  steps:\n    - { shell: bash, run: "true" }\n');
    await expect(runAction({ actionDir, workspace, inputs: { y: '1' } })).rejects.toThrow('unexpected input(s) "y"');
  });
});

/** The step of a run with this id. */
function stepOf(result: ActionRun, id: string): StepRun {
  const found = result.steps.find((s) => s.id === id);
  if (found === undefined) throw new Error(`no step ${id} in ${result.steps.map((s) => s.id).join(', ')}`);
  return found;
}

const NO_OUTPUTS = { 'exit-code': '', json: '', markdown: '', 'json-file': '', 'markdown-file': '' };

describe('action/run.sh, with a stand-in mirror that records how it was called', () => {
  const secret = 'stand-in-password-never-inherited';
  const credentials = JSON.stringify({ 'docker.io': { username: 'someone', password: secret } });

  async function runStubbed(inputs: Record<string, string>) {
    const stub = await stubbedAction();
    const workspace = await mkdtemp(join(tmpdir(), 'image-mirror-workspace-'));
    const result = await runAction({ actionDir: stub.actionDir, workspace, inputs });
    return { stub, result, calls: await stub.calls() };
  }

  it.each([
    ['plan with a base', { command: 'plan', base: 'origin/main' }],
    ['sync', { command: 'sync', target: 'registry.example.com/mirror' }],
  ])('passes the credentials of %s as a file, and leaves them out of the environment mirror inherits', async (_, inputs) => {
    const { stub, result, calls } = await runStubbed({ ...inputs, credentials });
    expect(stepOf(result, 'mirror').outcome, stepOf(result, 'mirror').stderr).toBe('success');
    expect(calls).toHaveLength(1);
    const [{ argv, env } = { argv: [], env: {} }] = calls;
    expect(argv).toContain('--credentials');
    expect(env).not.toHaveProperty('MIRROR_CREDENTIALS');
    // INPUT_CREDENTIALS holds it only here: the test runner sets INPUT_ variables, GitHub's does not for a composite action.
    for (const [name, value] of Object.entries(env)) if (!name.startsWith('INPUT_')) expect(value, name).not.toContain(secret);
    if (inputs.command === 'sync') expect(argv.slice(argv.indexOf('--crane'), argv.indexOf('--crane') + 2)).toEqual(['--crane', stub.cranePath]);
  });

  it('passes no --target when the target input is empty', async () => {
    const { result, calls } = await runStubbed({ command: 'plan', target: '' });
    expect(result.outcome).toBe('success');
    expect(calls.map((call) => call.argv[0])).toEqual(['plan']);
    expect(calls[0]?.argv).not.toContain('--target');
  });

  it.each(['dependabot', 'renovate'])('refuses a target given to %s (usage error, exit 2), and runs nothing', async (command) => {
    const { result, calls } = await runStubbed({ command, target: 'registry.example.com/mirror' });
    expect(result.outcome).toBe('failure');
    expect(stepOf(result, 'mirror').exitCode).toBe(2);
    expect(stepOf(result, 'mirror').stdout).toContain(`::error title=image-mirror::target applies to plan, sync and orphans only, not to ${command}`);
    expect(calls).toEqual([]);
  });

  it('runs a bot command with only --images and args', async () => {
    const { result, calls } = await runStubbed({ command: 'dependabot', args: '--check' });
    expect(result.outcome).toBe('success');
    expect(calls.map((call) => call.argv)).toEqual([['dependabot', '--images', 'images', '--check']]);
  });

  // What the README's GitHub Action section says of the outputs, case by case.
  it('sets every output once mirror ran, whatever its exit code', async () => {
    const { result } = await runStubbed({ command: 'plan' });
    expect(result.outputs['exit-code']).toBe('0');
    expect(result.outputs.json).toBe('{}');
    expect(result.outputs.markdown).toContain('`mirror plan` exited 0');
    expect(await readFile(result.outputs['json-file'] ?? '', 'utf8')).toBe('{}\n');
    expect(await readFile(result.outputs['markdown-file'] ?? '', 'utf8')).toBe(`${result.outputs.markdown}\n`);
  });

  it('sets only exit-code (2) on an input error', async () => {
    const { result, calls } = await runStubbed({ command: 'plan', ecr: 'yes' });
    expect(result.outcome).toBe('failure');
    expect(result.outputs).toEqual({ ...NO_OUTPUTS, 'exit-code': '2' });
    expect(calls).toEqual([]);
  });

  it('runs the gate with --base, --severity and one --trivy per path given, and its report outputs', async () => {
    const { result, calls } = await runStubbed({ command: 'gate', base: 'origin/main', severity: 'CRITICAL', trivy: 'reports/\n  one.json two.json\n' });
    expect(result.outcome, stepOf(result, 'mirror').stderr).toBe('success');
    const argv = calls[0]?.argv ?? [];
    expect(argv.slice(0, argv.indexOf('--json'))).toEqual(['gate', '--images', 'images', '--base', 'origin/main', '--severity', 'CRITICAL', '--trivy', 'reports/', '--trivy', 'one.json', '--trivy', 'two.json']);
    expect(argv.slice(argv.indexOf('--json'), -1)).toEqual(['--json', '--summary-file']);
    // The gate's JSON grows with its findings past what an output holds: in json-file only.
    expect(result.outputs).toMatchObject({ 'exit-code': '0', json: '' });
    expect(await readFile(result.outputs['json-file'] ?? '', 'utf8')).toBe('{}\n');
    expect(result.outputs.markdown).toContain('`mirror gate` exited 0');
  });

  it('passes the trivy input as data: nothing in it is expanded, and a path starting with - stays a value', async () => {
    const stub = await stubbedAction();
    const workspace = await mkdtemp(join(tmpdir(), 'image-mirror-workspace-'));
    await writeFile(join(workspace, 'a.json'), '{}');
    const result = await runAction({ actionDir: stub.actionDir, workspace, inputs: { command: 'gate', trivy: '*.json $(touch injected) -x.json' } });
    expect(result.outcome).toBe('success');
    const argv = (await stub.calls())[0]?.argv ?? [];
    expect(argv.slice(argv.indexOf('--trivy'), argv.indexOf('--json'))).toEqual(['--trivy', '*.json', '--trivy', '$(touch', '--trivy', 'injected)', '--trivy', './-x.json']);
    expect(await readdir(workspace)).toEqual(['a.json']);
  });

  it.each([
    ['a target', { target: 'registry.example.com/mirror' }, 'target applies to plan, sync and orphans only, not to gate'],
    ['credentials', { credentials }, 'credentials apply to plan and sync, not to gate'],
    ['ecr', { ecr: 'true' }, 'ecr applies to sync and orphans only, not to gate'],
  ])('refuses %s given to gate (usage error, exit 2), and runs nothing', async (_, inputs, message) => {
    const { result, calls } = await runStubbed({ command: 'gate', trivy: 'reports/', ...inputs });
    expect(result.outcome).toBe('failure');
    expect(result.outputs).toEqual({ ...NO_OUTPUTS, 'exit-code': '2' });
    expect(stepOf(result, 'mirror').stdout).toContain(`::error title=image-mirror::${message}`);
    expect(stepOf(result, 'mirror').stdout).not.toContain(secret);
    expect(calls).toEqual([]);
  });

  it.each([
    ['trivy', 'plan', { trivy: 'reports/' }],
    ['severity', 'sync', { severity: 'CRITICAL' }],
    ['base', 'sync', { base: 'origin/main' }],
  ])('refuses %s given to %s (usage error, exit 2)', async (input, command, inputs) => {
    const { result, calls } = await runStubbed({ command, ...inputs });
    expect(result.outputs['exit-code']).toBe('2');
    expect(stepOf(result, 'mirror').stdout).toContain(`::error title=image-mirror::${input} applies to`);
    expect(calls).toEqual([]);
  });

  it.each([
    ['gate', 'mirror gate exited 1: findings not signed off, or an image not scanned (see the summary)'],
    ['plan', 'mirror plan exited 1: an image failed or a file is invalid (see the summary)'],
  ])('says what exit 1 of %s means, with every output set', async (command, message) => {
    const stub = await stubbedAction({ exitCode: 1 });
    const workspace = await mkdtemp(join(tmpdir(), 'image-mirror-workspace-'));
    const result = await runAction({ actionDir: stub.actionDir, workspace, inputs: { command } });
    expect(result.outcome).toBe('failure');
    expect(stepOf(result, 'mirror').exitCode).toBe(1);
    expect(stepOf(result, 'mirror').stdout).toContain(`::error title=image-mirror::${message}`);
    // The gate's report is in json-file only (it grows with the findings past what an output holds).
    expect(result.outputs).toMatchObject({ 'exit-code': '1', json: command === 'gate' ? '' : '{}' });
    expect(await readFile(result.outputs['json-file'] ?? '', 'utf8')).toBe('{}\n');
  });

  it('sets no output when the CLI cannot be built', async () => {
    const stub = await stubbedAction();
    // No bundle and no package.json: npm ci fails at once.
    await rm(join(stub.actionDir, 'dist'), { recursive: true });
    const workspace = await mkdtemp(join(tmpdir(), 'image-mirror-workspace-'));
    const result = await runAction({ actionDir: stub.actionDir, workspace, inputs: { command: 'plan' }, env: { npm_config_offline: 'true' } });
    expect(stepOf(result, 'build').outcome).toBe('failure');
    expect(stepOf(result, 'build').stdout).toContain('::error title=image-mirror: building the CLI::npm ci in');
    expect(stepOf(result, 'mirror').outcome).toBe('skipped');
    expect(result.outputs).toEqual(NO_OUTPUTS);
  });
});

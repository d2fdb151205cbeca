import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseCommandFile, runAction } from './support/actions-runner.ts';

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

import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { parse } from 'yaml';

/**
 * Runs a composite GitHub Action (action.yml) the way GitHub's runner does, as far as image-mirror's action needs:
 * inputs with their defaults, each step's `if:` and `env:` evaluated, `run:` in the step's shell with the runner's
 * command line, fresh GITHUB_OUTPUT / GITHUB_ENV / GITHUB_PATH / GITHUB_STEP_SUMMARY files per step, read back as the
 * runner reads them (`name=value` and `name<<DELIMITER`), and the action's outputs.
 * Every expression, context, function or key it does not know fails the run loudly, so that a test never passes on
 * something the real runner would read otherwise.
 *
 * One difference, kept on purpose: it also sets each input as an INPUT_<NAME> variable, which GitHub's runner does for
 * JavaScript and Docker actions only, never for composite ones (actions/runner#665). A composite action's script must
 * read its inputs from the step's `env:`; test/action.test.ts checks that action/*.sh never read INPUT_.
 */

/** What a test hands the runner. */
export interface RunActionOptions {
  /** The directory holding action.yml: `github.action_path`. */
  readonly actionDir: string;
  /** The `with:` of the step using the action; every name must be an input of action.yml. */
  readonly inputs?: Readonly<Record<string, string>>;
  /** `github.workspace`, where the steps run. */
  readonly workspace: string;
  /** Environment of the job (workflow and job `env:`), added to this process's. */
  readonly env?: Readonly<Record<string, string>>;
  /** `runner.os` and `runner.arch`; by default this machine's. */
  readonly os?: string;
  readonly arch?: string;
  /** A step running longer is killed and fails (a guard against a hung test, not an assertion). */
  readonly stepTimeoutMs?: number;
}

/** One step as it ran, or was skipped. */
export interface StepRun {
  readonly id: string | undefined;
  readonly name: string;
  readonly outcome: 'success' | 'failure' | 'skipped';
  readonly exitCode: number | undefined;
  readonly stdout: string;
  readonly stderr: string;
  /** What the step wrote to GITHUB_OUTPUT. */
  readonly outputs: Readonly<Record<string, string>>;
  /** The step's `env:`, evaluated. */
  readonly env: Readonly<Record<string, string>>;
}

/** The action as it ran. */
export interface ActionRun {
  readonly outcome: 'success' | 'failure';
  readonly steps: readonly StepRun[];
  /** The action's `outputs:`, evaluated after its steps. */
  readonly outputs: Readonly<Record<string, string>>;
  /** What the steps appended to GITHUB_STEP_SUMMARY, in order. */
  readonly summary: string;
  /** RUNNER_TEMP of the run. */
  readonly runnerTemp: string;
}

interface InputSpec {
  readonly description?: string;
  readonly required?: boolean;
  readonly default?: string;
}

interface StepSpec {
  readonly id?: string;
  readonly name?: string;
  readonly if?: string | boolean;
  readonly shell?: string;
  readonly run?: string;
  readonly env?: Record<string, string>;
  readonly 'working-directory'?: string;
}

interface ActionSpec {
  readonly name: string;
  readonly inputs?: Record<string, InputSpec>;
  readonly outputs?: Record<string, { readonly value: string; readonly description?: string }>;
  readonly runs: { readonly using: string; readonly steps: readonly StepSpec[] };
}

const STEP_KEYS = new Set(['id', 'name', 'if', 'shell', 'run', 'env', 'working-directory']);
/** The runner's command lines for the shells it knows; `{0}` is the script file. */
const SHELLS: Record<string, readonly string[]> = {
  bash: ['bash', '--noprofile', '--norc', '-eo', 'pipefail', '{0}'],
  sh: ['sh', '-e', '{0}'],
};

/** Reads action.yml and runs its steps. */
export async function runAction(options: RunActionOptions): Promise<ActionRun> {
  const action = await readAction(options.actionDir);
  const inputs = inputValues(action, options.inputs ?? {});
  const runnerTemp = await mkdtemp(join(tmpdir(), 'image-mirror-runner-'));
  const stepIds = new Set(action.runs.steps.flatMap((step) => (step.id === undefined ? [] : [step.id])));
  const runner = { temp: runnerTemp, os: options.os ?? runnerOs(), arch: options.arch ?? runnerArch() };
  const state: RunState = {
    inputs,
    stepIds,
    steps: new Map(),
    github: { action_path: options.actionDir, workspace: options.workspace },
    runner,
    env: { ...options.env },
    failed: false,
  };
  const extraPath: string[] = [];
  const runs: StepRun[] = [];
  let summary = '';
  for (const [index, step] of action.runs.steps.entries()) {
    const name = step.name === undefined ? `step ${index + 1}` : interpolate(step.name, state, `steps[${index}].name`);
    if (!evaluateIf(step.if, state, `${name}: if`)) {
      runs.push({ id: step.id, name, outcome: 'skipped', exitCode: undefined, stdout: '', stderr: '', outputs: {}, env: {} });
      if (step.id !== undefined) state.steps.set(step.id, { outputs: {}, outcome: 'skipped' });
      continue;
    }
    const files = await stepFiles(runnerTemp, index);
    const stepEnv = Object.fromEntries(Object.entries(step.env ?? {}).map(([key, value]) => [key, interpolate(String(value), state, `${name}: env.${key}`)]));
    const script = interpolate(step.run ?? '', state, `${name}: run`);
    const scriptFile = join(runnerTemp, `step-${index}.sh`);
    await writeFile(scriptFile, script);
    const env: Record<string, string> = {
      ...baseEnvironment(),
      ...inputVariables(inputs),
      GITHUB_ACTIONS: 'true',
      CI: 'true',
      GITHUB_WORKSPACE: options.workspace,
      GITHUB_ACTION_PATH: options.actionDir,
      RUNNER_TEMP: runnerTemp,
      RUNNER_OS: runner.os,
      RUNNER_ARCH: runner.arch,
      ...state.env,
      ...stepEnv,
      ...files,
    };
    env.PATH = [...extraPath, env.PATH ?? ''].join(':');
    const cwd = step['working-directory'] === undefined ? options.workspace : resolveIn(options.workspace, interpolate(step['working-directory'], state, `${name}: working-directory`));
    const result = await runScript(shellCommand(step.shell, name, scriptFile), env, cwd, options.stepTimeoutMs ?? 600_000);
    const outputs = parseCommandFile(await readFile(files.GITHUB_OUTPUT, 'utf8'), `${name}: GITHUB_OUTPUT`);
    Object.assign(state.env, parseCommandFile(await readFile(files.GITHUB_ENV, 'utf8'), `${name}: GITHUB_ENV`));
    extraPath.unshift(...(await readFile(files.GITHUB_PATH, 'utf8')).split('\n').filter((line) => line.trim() !== '').reverse());
    summary += await readFile(files.GITHUB_STEP_SUMMARY, 'utf8');
    const outcome = result.code === 0 ? 'success' : 'failure';
    if (outcome === 'failure') state.failed = true;
    if (step.id !== undefined) state.steps.set(step.id, { outputs, outcome });
    runs.push({ id: step.id, name, outcome, exitCode: result.code, stdout: result.stdout, stderr: result.stderr, outputs, env: stepEnv });
  }
  const outputs = Object.fromEntries(Object.entries(action.outputs ?? {}).map(([key, { value }]) => [key, interpolate(value, state, `outputs.${key}`)]));
  return { outcome: state.failed ? 'failure' : 'success', steps: runs, outputs, summary, runnerTemp };
}

/** Reads action.yml, refusing what this runner would not run as GitHub does. */
async function readAction(dir: string): Promise<ActionSpec> {
  const file = join(dir, 'action.yml');
  const action = parse(await readFile(file, 'utf8'), { uniqueKeys: true }) as ActionSpec;
  if (action.runs?.using !== 'composite') throw new Error(`${file}: runs.using is "${String(action.runs?.using)}"; this runner runs composite actions only`);
  for (const [index, step] of action.runs.steps.entries()) {
    const unknown = Object.keys(step).filter((key) => !STEP_KEYS.has(key));
    if (unknown.length > 0) throw new Error(`${file}: steps[${index}] has ${unknown.join(', ')}, which this runner does not run`);
    if (step.run === undefined) throw new Error(`${file}: steps[${index}] has no run: (uses: steps are not supported here)`);
  }
  return action;
}

/** The inputs context: the `with:` values over the action's defaults; unknown and missing required inputs fail. */
function inputValues(action: ActionSpec, given: Readonly<Record<string, string>>): Record<string, string> {
  const declared = action.inputs ?? {};
  const unknown = Object.keys(given).filter((key) => !(key in declared));
  if (unknown.length > 0) throw new Error(`unexpected input(s) ${unknown.map((key) => `"${key}"`).join(', ')}: action.yml declares ${Object.keys(declared).join(', ')}`);
  const values: Record<string, string> = {};
  for (const [key, spec] of Object.entries(declared)) {
    const value = given[key] ?? spec.default;
    if (value === undefined && spec.required === true) throw new Error(`input "${key}" is required and has no default`);
    values[key] = value === undefined ? '' : String(value);
  }
  // Defaults may hold expressions (`${{ github.token }}`): only the contexts known here are allowed.
  const probe: RunState = { inputs: {}, stepIds: new Set(), steps: new Map(), github: {}, runner: {}, env: {}, failed: false };
  for (const [key, value] of Object.entries(values)) values[key] = interpolate(value, probe, `inputs.${key}.default`);
  return values;
}

/**
 * INPUT_<NAME>, named as the runner names them for JavaScript and Docker actions (upper case, spaces to `_`, hyphens
 * kept). GitHub sets none for a composite action: see runAction.
 */
function inputVariables(inputs: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(inputs).map(([key, value]) => [`INPUT_${key.replace(/ /g, '_').toUpperCase()}`, value]));
}

/** This process's environment without what a real runner would set afresh. */
function baseEnvironment(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined || /^(GITHUB_|INPUT_|RUNNER_)/.test(key)) continue;
    env[key] = value;
  }
  return env;
}

function runnerOs(): string {
  return process.platform === 'darwin' ? 'macOS' : process.platform === 'win32' ? 'Windows' : 'Linux';
}

function runnerArch(): string {
  const arch: Record<string, string> = { x64: 'X64', arm64: 'ARM64', ia32: 'X86', arm: 'ARM' };
  return arch[process.arch] ?? process.arch;
}

/** Fresh, empty command files for one step, as the runner gives each step. */
async function stepFiles(runnerTemp: string, index: number): Promise<Record<'GITHUB_OUTPUT' | 'GITHUB_ENV' | 'GITHUB_PATH' | 'GITHUB_STEP_SUMMARY', string>> {
  const dir = join(runnerTemp, '_runner_file_commands', String(index));
  await mkdir(dir, { recursive: true });
  const files = {
    GITHUB_OUTPUT: join(dir, 'set_output'),
    GITHUB_ENV: join(dir, 'set_env'),
    GITHUB_PATH: join(dir, 'add_path'),
    GITHUB_STEP_SUMMARY: join(dir, 'step_summary'),
  };
  for (const file of Object.values(files)) await writeFile(file, '');
  return files;
}

function shellCommand(shell: string | undefined, step: string, scriptFile: string): string[] {
  if (shell === undefined) throw new Error(`${step}: a composite run step needs shell:`);
  const line = SHELLS[shell];
  if (line === undefined) throw new Error(`${step}: shell "${shell}" is not one this runner knows (${Object.keys(SHELLS).join(', ')})`);
  return line.map((part) => (part === '{0}' ? scriptFile : part));
}

function resolveIn(base: string, path: string): string {
  return isAbsolute(path) ? path : join(base, path);
}

function runScript(command: readonly string[], env: Record<string, string>, cwd: string, timeoutMs: number): Promise<{ code: number; stdout: string; stderr: string }> {
  const [file = '', ...args] = command;
  return new Promise((resolvePromise, reject) => {
    const child = spawn(file, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => void (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => void (stderr += chunk));
    child.on('error', (error) => reject(new Error(`running ${command.join(' ')}: ${error.message}`)));
    child.on('close', (code, signal) => resolvePromise({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
  });
}

/**
 * A GITHUB_OUTPUT or GITHUB_ENV file as the runner reads it: `name=value` lines, and `name<<DELIMITER`, the value's
 * lines, then DELIMITER alone on a line. A heredoc without its closing delimiter fails, as on GitHub.
 */
export function parseCommandFile(text: string, label: string): Record<string, string> {
  const values: Record<string, string> = {};
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line === '') continue;
    const equals = line.indexOf('=');
    const heredoc = line.indexOf('<<');
    if (equals !== -1 && (heredoc === -1 || equals < heredoc)) {
      const name = line.slice(0, equals);
      if (name === '') throw new Error(`${label}: invalid line "${line}": no name`);
      values[name] = line.slice(equals + 1);
      continue;
    }
    if (heredoc === -1) throw new Error(`${label}: invalid line "${line}": neither name=value nor name<<DELIMITER`);
    const name = line.slice(0, heredoc);
    const delimiter = line.slice(heredoc + 2);
    if (name === '' || delimiter === '') throw new Error(`${label}: invalid line "${line}": a name and a delimiter are needed`);
    const end = lines.indexOf(delimiter, i + 1);
    if (end === -1) throw new Error(`${label}: matching delimiter not found "${delimiter}" for ${name}`);
    values[name] = lines.slice(i + 1, end).join('\n');
    i = end;
  }
  return values;
}

// Expressions: the part of GitHub's expression language this action uses, and nothing else.

type Value = string | number | boolean | null;

interface RunState {
  readonly inputs: Readonly<Record<string, string>>;
  readonly stepIds: ReadonlySet<string>;
  readonly steps: Map<string, { readonly outputs: Readonly<Record<string, string>>; readonly outcome: string }>;
  readonly github: Readonly<Record<string, string>>;
  readonly runner: Readonly<Record<string, string>>;
  readonly env: Record<string, string>;
  failed: boolean;
}

type Node =
  | { readonly kind: 'literal'; readonly value: Value }
  | { readonly kind: 'ref'; readonly path: readonly string[] }
  | { readonly kind: 'call'; readonly name: string; readonly args: readonly Node[] }
  | { readonly kind: 'not'; readonly operand: Node }
  | { readonly kind: 'binary'; readonly op: '==' | '!=' | '&&' | '||'; readonly left: Node; readonly right: Node };

const STATUS_FUNCTIONS = new Set(['success', 'failure', 'always', 'cancelled']);

/** A string with `${{ … }}` parts, each evaluated and turned into text as the runner does (null is ''). */
function interpolate(text: string, state: RunState, where: string): string {
  return text.replace(/\$\{\{([\s\S]*?)\}\}/g, (_, expression: string) => toText(evaluate(parseExpression(expression, where), state, where)));
}

/** An `if:`: an expression with or without `${{ }}`, `success() &&` in front unless it calls a status function. */
function evaluateIf(condition: string | boolean | undefined, state: RunState, where: string): boolean {
  if (condition === undefined) return !state.failed;
  if (typeof condition === 'boolean') return condition && !state.failed;
  const text = condition.trim().replace(/^\$\{\{([\s\S]*)\}\}$/, '$1');
  const tree = parseExpression(text, where);
  const result = truthy(evaluate(tree, state, where));
  return callsStatus(tree) ? result : result && !state.failed;
}

function callsStatus(node: Node): boolean {
  switch (node.kind) {
    case 'call':
      return STATUS_FUNCTIONS.has(node.name) || node.args.some(callsStatus);
    case 'not':
      return callsStatus(node.operand);
    case 'binary':
      return callsStatus(node.left) || callsStatus(node.right);
    default:
      return false;
  }
}

function evaluate(node: Node, state: RunState, where: string): Value {
  switch (node.kind) {
    case 'literal':
      return node.value;
    case 'ref':
      return lookup(node.path, state, where);
    case 'not':
      return !truthy(evaluate(node.operand, state, where));
    case 'call':
      if (node.args.length > 0 || !STATUS_FUNCTIONS.has(node.name)) throw new Error(`${where}: function ${node.name}() is not one this runner knows`);
      return node.name === 'always' ? true : node.name === 'success' ? !state.failed : node.name === 'failure' ? state.failed : false;
    case 'binary': {
      const left = evaluate(node.left, state, where);
      if (node.op === '&&') return truthy(left) ? evaluate(node.right, state, where) : left;
      if (node.op === '||') return truthy(left) ? left : evaluate(node.right, state, where);
      const equal = looselyEqual(left, evaluate(node.right, state, where));
      return node.op === '==' ? equal : !equal;
    }
  }
}

/** A context value; any context or key not known here fails, rather than yielding a null GitHub might not. */
function lookup(path: readonly string[], state: RunState, where: string): Value {
  const [context = '', ...rest] = path;
  const dotted = path.join('.');
  const known = (values: Readonly<Record<string, string>>, key: string | undefined): string => {
    if (rest.length !== 1 || key === undefined || !(key in values)) throw new Error(`${where}: ${dotted} is not known to this runner`);
    return values[key] as string;
  };
  switch (context) {
    case 'inputs':
      return known(state.inputs, rest[0]);
    case 'github':
      return known(state.github, rest[0]);
    case 'runner':
      return known(state.runner, rest[0]);
    case 'env':
      if (rest.length !== 1) throw new Error(`${where}: ${dotted} is not an environment variable`);
      return state.env[rest[0] as string] ?? null;
    case 'steps': {
      const [id = '', field, name] = rest;
      if (!state.stepIds.has(id)) throw new Error(`${where}: ${dotted}: no step has id "${id}"`);
      const step = state.steps.get(id);
      if (field === 'outputs' && name !== undefined && rest.length === 3) return step?.outputs[name] ?? null;
      if ((field === 'outcome' || field === 'conclusion') && rest.length === 2) return step?.outcome ?? null;
      throw new Error(`${where}: ${dotted} is not known to this runner`);
    }
    default:
      throw new Error(`${where}: context "${context}" is not known to this runner`);
  }
}

function truthy(value: Value): boolean {
  return !(value === null || value === false || value === '' || value === 0 || Number.isNaN(value));
}

/** GitHub's `==`: strings ignore case; values of different types compare as numbers. */
function looselyEqual(left: Value, right: Value): boolean {
  if (typeof left === 'string' && typeof right === 'string') return left.toLowerCase() === right.toLowerCase();
  if (typeof left === typeof right) return left === right;
  return toNumber(left) === toNumber(right);
}

function toNumber(value: Value): number {
  if (value === null) return 0;
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'number') return value;
  return value.trim() === '' ? 0 : Number(value);
}

function toText(value: Value): string {
  return value === null ? '' : String(value);
}

/** Parses one expression: literals, context paths, `!`, `==`, `!=`, `&&`, `||`, parentheses and status calls. */
function parseExpression(text: string, where: string): Node {
  const tokens = [...text.matchAll(/\s*('(?:[^']|'')*'|==|!=|&&|\|\||[()!.,]|[A-Za-z_][\w-]*|-?\d+(?:\.\d+)?|\S)/g)].map((m) => m[1] as string);
  let at = 0;
  const fail = (message: string): never => {
    throw new Error(`${where}: ${message} in expression "${text.trim()}"`);
  };
  const peek = () => tokens[at];
  const take = (expected?: string): string => {
    const token = tokens[at++];
    if (token === undefined || (expected !== undefined && token !== expected)) fail(`expected ${expected ?? 'more'}, got ${token ?? 'the end'}`);
    return token as string;
  };
  const binary = (ops: readonly ('==' | '!=' | '&&' | '||')[], next: () => Node) => (): Node => {
    let left = next();
    while (ops.includes(peek() as '==')) left = { kind: 'binary', op: take() as '==', left, right: next() };
    return left;
  };
  const primary = (): Node => {
    const token = take();
    if (token === '(') {
      const inner = or();
      take(')');
      return inner;
    }
    if (token === '!') return { kind: 'not', operand: primary() };
    if (token.startsWith("'")) return { kind: 'literal', value: token.slice(1, -1).replace(/''/g, "'") };
    if (/^-?\d/.test(token)) return { kind: 'literal', value: Number(token) };
    if (token === 'true' || token === 'false') return { kind: 'literal', value: token === 'true' };
    if (token === 'null') return { kind: 'literal', value: null };
    if (!/^[A-Za-z_]/.test(token)) fail(`unexpected "${token}"`);
    if (peek() === '(') {
      take('(');
      const args: Node[] = [];
      while (peek() !== ')') {
        args.push(or());
        if (peek() === ',') take(',');
      }
      take(')');
      return { kind: 'call', name: token, args };
    }
    const path = [token];
    while (peek() === '.') {
      take('.');
      const key = take();
      if (!/^[A-Za-z_][\w-]*$/.test(key)) fail(`"${key}" is not a property name`);
      path.push(key);
    }
    return { kind: 'ref', path };
  };
  const equality = binary(['==', '!='], primary);
  const and = binary(['&&'], equality);
  const or: () => Node = binary(['||'], and);
  const tree = or();
  if (at !== tokens.length) fail(`unexpected "${tokens[at]}"`);
  return tree;
}

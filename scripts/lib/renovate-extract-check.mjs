// The sample images tree of scripts/check-renovate.sh, and the check of what a real Renovate made of it.
//
//   node scripts/lib/renovate-extract-check.mjs write DIR                       writes DIR/images/…/Dockerfile (the sample tree)
//   node scripts/lib/renovate-extract-check.mjs check DIR LOG [--migrated]      checks Renovate's JSON log LOG of a run in DIR
//   node scripts/lib/renovate-extract-check.mjs validated DIR LOG [--migrated]  checks the JSON log LOG of renovate-config-validator
//                                                                               run in DIR with no file argument
//
// --migrated is for Renovate 40.2.0 and later, which migrate dockerfile.fileMatch to managerFilePatterns by themselves:
// that one migration of DIR/renovate.json is allowed, no other, and the run must use the migrated pattern.
// `check` and `validated` exit 1 with one line per problem; they never pass a run they could not read.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';

const DIGEST = 'sha256:beefdbd8a1da6d2915566fde36db9db0b524eb737fc57cd1367effd16dc0d06d';

/**
 * One Dockerfile per case the tree holds in practice: Docker Hub official and user images (short and long names),
 * quay.io, ghcr.io, registry.k8s.io (with a nested path and a --platform), a digest-pinned image, and one whose tag
 * comes from an ARG. `dep` is what Renovate's dockerfile extractor must report for it.
 */
export const SAMPLE = [
  { file: 'images/docker.io/library/postgres/Dockerfile', text: 'FROM postgres:16.4\n', dep: { depName: 'postgres', currentValue: '16.4' } },
  { file: 'images/docker.io/library/nginx/Dockerfile', text: 'FROM docker.io/library/nginx:1.27.2-alpine\n', dep: { depName: 'docker.io/library/nginx', currentValue: '1.27.2-alpine' } },
  { file: 'images/docker.io/bitnami/redis/Dockerfile', text: 'FROM bitnami/redis:7.4.1\n', dep: { depName: 'bitnami/redis', currentValue: '7.4.1' } },
  { file: 'images/quay.io/prometheus/node-exporter/Dockerfile', text: 'FROM quay.io/prometheus/node-exporter:v1.8.2\n', dep: { depName: 'quay.io/prometheus/node-exporter', currentValue: 'v1.8.2' } },
  { file: 'images/ghcr.io/hadolint/hadolint/Dockerfile', text: 'FROM ghcr.io/hadolint/hadolint:v2.12.0\n', dep: { depName: 'ghcr.io/hadolint/hadolint', currentValue: 'v2.12.0' } },
  { file: 'images/registry.k8s.io/pause/Dockerfile', text: 'FROM registry.k8s.io/pause:3.10\n', dep: { depName: 'registry.k8s.io/pause', currentValue: '3.10' } },
  {
    file: 'images/registry.k8s.io/ingress-nginx/controller/Dockerfile',
    text: 'FROM --platform=linux/amd64 registry.k8s.io/ingress-nginx/controller:v1.11.3\n',
    dep: { depName: 'registry.k8s.io/ingress-nginx/controller', currentValue: 'v1.11.3' },
  },
  { file: 'images/docker.io/library/alpine/Dockerfile', text: `FROM alpine:3.20@${DIGEST}\n`, dep: { depName: 'alpine', currentValue: '3.20', currentDigest: DIGEST } },
  { file: 'images/docker.io/library/node/Dockerfile', text: 'ARG NODE_VERSION=20.18.0\nFROM node:${NODE_VERSION}-alpine\n', dep: { depName: 'node', currentValue: '20.18.0-alpine' } },
];

/** Warnings that say nothing about the configuration: re2 is a native addon, left unbuilt by `npm install --ignore-scripts`. */
const HARMLESS_WARNINGS = ['RE2 not usable, falling back to RegExp', 'RE2 not usable, falling back to RegExp: regex validation may be inaccurate'];

/** Words of Renovate's log that mean it refused, or had to rewrite, the configuration. */
const CONFIG_TROUBLE = ['Invalid configuration', 'config-validation', 'Found renovate config errors', 'Found renovate config warnings', 'Config migration necessary'];

function writeSample(dir) {
  for (const { file, text } of SAMPLE) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    writeFileSync(join(dir, file), text);
  }
}

// One JSON object a line (LOG_FORMAT=json); a line that is not JSON is a problem of its own, not skipped.
function readLog(path, problems) {
  const entries = [];
  readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .forEach((line, i) => {
      try {
        entries.push(JSON.parse(line));
      } catch {
        problems.push(`log line ${i + 1} is not JSON (was LOG_FORMAT=json set?): ${line.slice(0, 200)}`);
      }
    });
  return entries;
}

/** What Renovate 40.2.0 and later make of `config` by themselves: dockerfile.fileMatch becomes managerFilePatterns, each regex in slashes. */
function migrated(config) {
  const { fileMatch, ...dockerfile } = config.dockerfile ?? {};
  return { ...config, dockerfile: { ...dockerfile, managerFilePatterns: (fileMatch ?? []).map((pattern) => `/${pattern}/`) } };
}

// The allowed migration is that of renovate.json as written, and nothing but the rename: any other means the file
// holds an option current Renovate has to rewrite, which the generator must not write.
function migrationProblem(entry, config) {
  if (!isDeepStrictEqual(entry.oldConfig, config)) return `Renovate migrates a configuration that is not renovate.json: ${JSON.stringify(entry.oldConfig)}`;
  if (!isDeepStrictEqual(entry.newConfig, migrated(config))) return `Renovate migrates more than dockerfile.fileMatch: ${JSON.stringify(entry.newConfig)}`;
  return undefined;
}

// Renovate logs config errors at info level inside the entry, and still exits 0: read the text, not the level.
function configProblems(entries, config, options) {
  const problems = [];
  for (const entry of entries) {
    if (options.migrated && entry.msg === 'Config migration necessary') {
      const problem = migrationProblem(entry, config);
      if (problem !== undefined) problems.push(problem);
      continue;
    }
    // The validator's text diff of the migration just checked.
    if (options.migrated && entry.msg?.startsWith('Config migration diff:')) continue;
    const text = JSON.stringify(entry);
    const word = CONFIG_TROUBLE.find((w) => text.includes(w));
    // The detail sits in different fields by message ("errors", "error.validationMessage", …): quote the sentence.
    const detail = /(?:Invalid configuration|Config migration)[^"\\]*/.exec(text)?.[0];
    if (word !== undefined) problems.push(`Renovate reports "${word}" (${entry.msg})${detail === undefined ? '' : `: ${detail}`}`);
    else if (entry.level >= 40 && !HARMLESS_WARNINGS.includes(entry.msg)) problems.push(`Renovate ${entry.level >= 50 ? 'error' : 'warning'}: ${entry.msg}`);
  }
  return problems;
}

// The run read our file, used its patterns, finished, and sent no request (extract mode looks nothing up).
function runProblems(entries, config, options) {
  const problems = [];
  const messages = new Set(entries.map((entry) => entry.msg));
  if (!messages.has('Found renovate.json config file')) problems.push('Renovate did not read renovate.json');
  const fileMatch = config.dockerfile?.fileMatch ?? [];
  if (fileMatch.length === 0) problems.push('renovate.json has no dockerfile.fileMatch: the generator wrote another form');
  for (const pattern of fileMatch) {
    const used = options.migrated ? `Using file pattern: /${pattern}/ for manager dockerfile` : `Using file match: ${pattern} for manager dockerfile`;
    if (!messages.has(used)) problems.push(`Renovate did not use the fileMatch "${pattern}" of renovate.json (no "${used}")`);
  }
  if (!messages.has('Repository finished')) problems.push('Renovate did not finish the repository');
  const http = entries.find((entry) => entry.msg === 'HTTP statistics');
  if (http === undefined) problems.push('Renovate logged no HTTP statistics (was LOG_LEVEL=debug set?)');
  else if (http.requests !== 0) problems.push(`Renovate sent ${http.requests} HTTP request(s) to ${Object.keys(http.hosts ?? {}).join(', ')}: the check must run offline`);
  return problems;
}

// Every sample Dockerfile extracted once, with the image, tag and digest it names, and nothing else.
function extractProblems(entries) {
  const extracted = entries.filter((entry) => entry.msg === 'Extracted dependencies');
  if (extracted.length !== 1) return [`Renovate logged "Extracted dependencies" ${extracted.length} times, not once`];
  const files = extracted[0].packageFiles?.dockerfile ?? [];
  const problems = [];
  for (const { file, dep } of SAMPLE) {
    const found = files.find((packageFile) => packageFile.packageFile === file);
    if (found === undefined) {
      problems.push(`${file}: not extracted`);
      continue;
    }
    const deps = found.deps ?? [];
    const match = deps.find((d) => Object.entries(dep).every(([key, value]) => d[key] === value) && (dep.currentDigest !== undefined || d.currentDigest === undefined));
    if (match === undefined || deps.length !== 1) problems.push(`${file}: extracted ${JSON.stringify(deps)}, expected one dependency ${JSON.stringify(dep)}`);
    else if (match.skipReason !== undefined) problems.push(`${file}: Renovate skips ${dep.depName}: ${match.skipReason}`);
  }
  const extra = files.map((packageFile) => packageFile.packageFile).filter((file) => !SAMPLE.some((sample) => sample.file === file));
  if (extra.length > 0) problems.push(`extracted files outside the sample: ${extra.join(', ')}`);
  return problems;
}

// With no file argument the validator reads renovate.json as repository configuration (a file argument would be
// read as global self-hosted configuration, which accepts other options): it must have read it, and accepted it.
function validatorProblems(entries) {
  const messages = entries.map((entry) => entry.msg ?? '');
  const problems = [];
  if (!messages.includes('Validating renovate.json')) problems.push('renovate-config-validator did not read renovate.json');
  if (!messages.some((msg) => msg.startsWith('Config validated successfully'))) problems.push('renovate-config-validator did not report "Config validated successfully"');
  return problems;
}

function check(command, dir, logPath, options) {
  const problems = [];
  const entries = readLog(logPath, problems);
  const config = JSON.parse(readFileSync(join(dir, 'renovate.json'), 'utf8'));
  problems.push(...configProblems(entries, config, options));
  if (command === 'validated') problems.push(...validatorProblems(entries));
  else problems.push(...runProblems(entries, config, options), ...extractProblems(entries));
  return problems;
}

const DONE = {
  check: `${SAMPLE.length} Dockerfiles extracted, no configuration error or warning, no HTTP request`,
  validated: 'renovate.json validated as repository configuration, no error or warning',
};

const [command, dir, logPath, ...flags] = process.argv.slice(2);
const options = { migrated: flags.includes('--migrated') };
if (command === 'write' && dir !== undefined && flags.length === 0) {
  writeSample(dir);
} else if ((command === 'check' || command === 'validated') && dir !== undefined && logPath !== undefined && flags.every((flag) => flag === '--migrated')) {
  let problems;
  try {
    problems = check(command, dir, logPath, options);
  } catch (error) {
    problems = [`reading the run in ${dir}: ${error instanceof Error ? error.message : String(error)}`];
  }
  if (problems.length > 0) {
    process.stderr.write(`renovate ${command}: ${problems.length} problem(s):\n${problems.map((p) => `  ${p}\n`).join('')}`);
    process.exit(1);
  }
  process.stdout.write(`renovate ${command}: ${DONE[command]}${options.migrated ? ' (but the dockerfile.fileMatch migration)' : ''}\n`);
} else {
  process.stderr.write('usage: renovate-extract-check.mjs write DIR | check DIR LOG [--migrated] | validated DIR LOG [--migrated]\n');
  process.exit(2);
}

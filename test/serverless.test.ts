import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METRIC, METRICS_NAMESPACE, SERVICE_NAME } from '../shared/observability/names.ts';

// `npm run package` (osls + serverless-esbuild, offline) runs once; the tests read what it produced.

const root = resolve(import.meta.dirname, '..');
const out = join(root, '.serverless');
const craneInLayer = join(root, 'layers', 'crane', 'bin', 'crane');

// CloudFormation JSON is walked structurally; `any` keeps the assertions readable, expect() checks.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

interface Statement {
  readonly role: string;
  readonly effect: string;
  readonly actions: string[];
  /** Each resource as JSON text, so that intrinsic functions compare as values. */
  readonly resources: string[];
}

interface ZipEntry {
  readonly name: string;
  readonly mode: number;
  readonly data: () => Buffer;
}

let template: Json;
let params: Record<string, string | number>;
let fakeCrane = false;

const text = (value: unknown): string => JSON.stringify(value);
const sub = (value: string): string => text({ 'Fn::Sub': value });
const getAtt = (logicalId: string, attribute: string): string => text({ 'Fn::GetAtt': [logicalId, attribute] });

function resourcesOfType(type: string): [string, Json][] {
  return Object.entries<Json>(template.Resources).filter(([, resource]) => resource.Type === type);
}

/** The one resource of a type; fails when there are none or several. */
function onlyResourceOfType(type: string): Json {
  const found = resourcesOfType(type);
  expect(found.map(([id]) => id), type).toHaveLength(1);
  return found[0]![1];
}

function asArray<T>(value: T | T[] | undefined): T[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

/** Both branches of an `Fn::If` statement (minus AWS::NoValue), or the statement itself. */
function expandConditional(statement: Json): Json[] {
  if (statement?.['Fn::If']) {
    const [, whenTrue, whenFalse] = statement['Fn::If'];
    return [whenTrue, whenFalse].filter((branch) => branch?.Ref !== 'AWS::NoValue').flatMap(expandConditional);
  }
  return [statement];
}

/** Every permission statement of every IAM role and policy in the template (trust policies aside). */
function iamStatements(): Statement[] {
  const documents: [string, Json][] = [
    ...resourcesOfType('AWS::IAM::Role').flatMap(([id, role]) => asArray<Json>(role.Properties.Policies).map((policy): [string, Json] => [id, policy.PolicyDocument])),
    ...resourcesOfType('AWS::IAM::Policy').map(([id, policy]): [string, Json] => [id, policy.Properties.PolicyDocument]),
    ...resourcesOfType('AWS::IAM::ManagedPolicy').map(([id, policy]): [string, Json] => [id, policy.Properties.PolicyDocument]),
  ];
  return documents.flatMap(([role, document]) =>
    asArray<Json>(document.Statement)
      .flatMap(expandConditional)
      .map((statement) => ({
        role,
        effect: statement.Effect,
        actions: asArray<string>(statement.Action),
        resources: asArray<Json>(statement.Resource).map(text),
      })),
  );
}

/** A function's environment with the pseudo parameters a deployment would substitute. */
function environmentOf(logicalId: string): Record<string, string> {
  const pseudo: Record<string, string> = { 'AWS::AccountId': '123456789012', 'AWS::Region': 'eu-west-1', 'AWS::Partition': 'aws' };
  const variables = template.Resources[logicalId].Properties.Environment.Variables as Record<string, Json>;
  return Object.fromEntries(
    Object.entries(variables).map(([name, value]) => {
      if (typeof value === 'string') return [name, value];
      if (typeof value?.['Fn::Sub'] === 'string') return [name, value['Fn::Sub'].replace(/\$\{([^}]+)\}/g, (_: string, key: string) => pseudo[key] ?? `\${${key}}`)];
      throw new Error(`${logicalId}: environment variable ${name} is not a string or a plain Fn::Sub: ${text(value)}`);
    }),
  );
}

/** The entries of a zip archive (stored or deflated), read from its central directory. */
function readZip(zip: Buffer): ZipEntry[] {
  const end = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (end < 0) throw new Error('not a zip archive');
  const entries: ZipEntry[] = [];
  let at = zip.readUInt32LE(end + 16);
  for (let i = 0; i < zip.readUInt16LE(end + 10); i++) {
    const method = zip.readUInt16LE(at + 10);
    const size = zip.readUInt32LE(at + 20);
    const nameLength = zip.readUInt16LE(at + 28);
    const local = zip.readUInt32LE(at + 42);
    const name = zip.toString('utf8', at + 46, at + 46 + nameLength);
    const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    const raw = zip.subarray(start, start + size);
    entries.push({ name, mode: zip.readUInt32LE(at + 38) >>> 16, data: () => (method === 8 ? inflateRawSync(raw) : raw) });
    at += 46 + nameLength + zip.readUInt16LE(at + 30) + zip.readUInt16LE(at + 32);
  }
  return entries;
}

/** Runs a command to its end; `spawnError` is set (e.g. ENOENT) when it could not be started at all. */
function run(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeout: number },
): Promise<{ code: number; stdout: string; stderr: string; spawnError?: string }> {
  return new Promise((done) => {
    execFile(command, args, { ...options, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const spawnError = typeof error?.code === 'string' ? error.code : undefined;
      done({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr, ...(spawnError ? { spawnError } : {}) });
    });
  });
}

beforeAll(async () => {
  if (!existsSync(craneInLayer)) {
    // Packaging needs a file there, not a working crane: a stand-in that fails loudly if ever run.
    await mkdir(dirname(craneInLayer), { recursive: true });
    await writeFile(craneInLayer, '#!/bin/sh\necho "stand-in crane written by test/serverless.test.ts" >&2\nexit 1\n');
    await chmod(craneInLayer, 0o755);
    fakeCrane = true;
  }
  const started = Date.now();
  const packaging = await run('npm', ['run', '--silent', 'package'], { cwd: root, timeout: 280_000 });
  if (packaging.code !== 0) throw new Error(`npm run package failed (${packaging.code}):\n${packaging.stdout}\n${packaging.stderr}`);
  console.log(`npm run package took ${((Date.now() - started) / 1000).toFixed(1)} s`);
  template = JSON.parse(await readFile(join(out, 'cloudformation-template-update-stack.json'), 'utf8'));
  params = parseYaml(await readFile(join(root, 'serverless.yml'), 'utf8'), { logLevel: 'error' }).params.default;
}, 300_000);

afterAll(async () => {
  // Never leave the stand-in where a real deploy would package it.
  if (fakeCrane) await rm(craneInLayer, { force: true });
});

describe('serverless package', () => {
  // No error and no warning: a warning left in place hides the next one. cfn-lint is preinstalled on
  // CI machines; without it this fails (never skips), as .ci/run does.
  it('passes cfn-lint with no error and no warning', async () => {
    const lint = await run('cfn-lint', [join(out, 'cloudformation-template-update-stack.json')], { cwd: root, timeout: 120_000 });
    if (lint.spawnError === 'ENOENT') throw new Error('cfn-lint is not installed (pip install cfn-lint): the packaged template must pass it');
    expect(lint.spawnError).toBeUndefined();
    expect(`${lint.stdout}${lint.stderr}`.trim()).toBe('');
    expect(lint.code).toBe(0);
  }, 120_000);

  it('runs the scheduler on the configured schedule with an empty request', () => {
    const rules = resourcesOfType('AWS::Events::Rule').map(([, rule]) => rule.Properties).filter((rule) => rule.ScheduleExpression !== undefined);
    expect(rules).toHaveLength(1);
    expect(rules[0]).toMatchObject({ ScheduleExpression: params.schedule, State: 'ENABLED' });
    expect(rules[0].Targets).toEqual([expect.objectContaining({ Arn: { 'Fn::GetAtt': ['SchedulerLambdaFunction', 'Arn'] }, Input: '{}' })]);
    const permissions = resourcesOfType('AWS::Lambda::Permission').map(([, permission]) => permission.Properties);
    expect(permissions).toContainEqual(expect.objectContaining({ Principal: 'events.amazonaws.com', FunctionName: { 'Fn::GetAtt': ['SchedulerLambdaFunction', 'Arn'] } }));
  });

  it('sends the ECR Image Scan events of the mirror repositories, and only those, to the findings function', () => {
    const rules = resourcesOfType('AWS::Events::Rule').map(([, rule]) => rule.Properties).filter((rule) => rule.EventPattern !== undefined);
    expect(rules).toHaveLength(1);
    const [rule] = rules;
    expect(rule.EventPattern).toEqual({ source: ['aws.ecr'], 'detail-type': ['ECR Image Scan'], detail: { 'repository-name': [{ prefix: `${params.targetPrefix}/` }] } });
    expect(rule).toMatchObject({ State: 'ENABLED' });
    // The default bus, where AWS services send their events.
    expect(rule.EventBusName).toBeUndefined();
    expect(rule.Targets).toEqual([expect.objectContaining({ Arn: { 'Fn::GetAtt': ['FindingsLambdaFunction', 'Arn'] } })]);
    expect(rule.Targets[0].Input).toBeUndefined();
    const permissions = resourcesOfType('AWS::Lambda::Permission').map(([, permission]) => permission.Properties);
    const findings = permissions.filter((permission) => text(permission.FunctionName) === getAtt('FindingsLambdaFunction', 'Arn'));
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({ Principal: 'events.amazonaws.com', Action: 'lambda:InvokeFunction' });
    expect(text(findings[0].SourceArn)).toContain(`"rule","${rule.Name}"`);
  });

  it('gives the findings function the prefix, name template and images repository its loader reads, and a small footprint', () => {
    const findings = template.Resources.FindingsLambdaFunction.Properties;
    expect(findings.Environment.Variables).toMatchObject({
      TARGET_PREFIX: params.targetPrefix,
      NAME_TEMPLATE: '{registry}/{repository}',
      // The scheduler's GitHub settings: the sign-off files are read from the same images repository.
      GITHUB_REPOSITORY: params.githubRepository,
      GITHUB_REF: params.githubRef,
      IMAGES_PATH: params.imagesPath,
      GITHUB_TOKEN_SECRET_ID: params.githubTokenSecretId,
      GITHUB_API_URL: params.githubApiUrl,
    });
    const scheduler = template.Resources.SchedulerLambdaFunction.Properties.Environment.Variables;
    for (const name of ['GITHUB_REPOSITORY', 'GITHUB_REF', 'IMAGES_PATH', 'GITHUB_TOKEN_SECRET_ID', 'GITHUB_API_URL', 'NAME_TEMPLATE']) expect(findings.Environment.Variables[name], name).toEqual(scheduler[name]);
    // Each GitHub call is bounded to 10 s (shared/wiring/findings.ts): room for the token, the tree, the sign-off file and the findings.
    expect(findings).toMatchObject({ Timeout: 60, MemorySize: 256 });
    expect(findings.Layers).toBeUndefined();
  });

  it('gives the scheduler the configuration its loader reads', () => {
    const env = template.Resources.SchedulerLambdaFunction.Properties.Environment.Variables;
    expect(env).toMatchObject({
      GITHUB_REPOSITORY: params.githubRepository,
      GITHUB_REF: params.githubRef,
      IMAGES_PATH: params.imagesPath,
      GITHUB_TOKEN_SECRET_ID: params.githubTokenSecretId,
      WORKER_FUNCTION_NAME: template.Resources.WorkerLambdaFunction.Properties.FunctionName,
      NAME_TEMPLATE: '{registry}/{repository}',
      MAX_IN_FLIGHT: '10',
      TARGET: { 'Fn::Sub': `\${AWS::AccountId}.dkr.ecr.\${AWS::Region}.amazonaws.com/${params.targetPrefix}` },
      // The target and whether it is ECR: the scheduler lists the repositories under it for orphans.
      TARGET_IS_ECR: params.targetIsEcr,
    });
  });

  it('runs every function on Node 22, arm64, with the service name and metrics namespace of names.ts', () => {
    expect(resourcesOfType('AWS::Lambda::Function').map(([id]) => id).sort()).toEqual(['FindingsLambdaFunction', 'SchedulerLambdaFunction', 'WorkerLambdaFunction']);
    for (const id of ['FindingsLambdaFunction', 'SchedulerLambdaFunction', 'WorkerLambdaFunction']) {
      const fn = template.Resources[id].Properties;
      expect(fn).toMatchObject({ Runtime: 'nodejs22.x', Architectures: ['arm64'] });
      expect(fn.Environment.Variables).toMatchObject({ POWERTOOLS_SERVICE_NAME: SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE });
    }
    expect(template.Resources.SchedulerLambdaFunction.Properties).toMatchObject({ Timeout: 300, MemorySize: 512 });
    expect(template.Resources.WorkerLambdaFunction.Properties).toMatchObject({ Timeout: 900, MemorySize: 2048, EphemeralStorage: { Size: 1024 } });
  });

  it('gives the worker the crane layer, its path and a copy timeout inside the Lambda timeout', () => {
    const worker = template.Resources.WorkerLambdaFunction.Properties;
    expect(worker.Layers).toEqual([{ Ref: 'CraneLambdaLayer' }]);
    expect(template.Resources.CraneLambdaLayer).toMatchObject({
      Type: 'AWS::Lambda::LayerVersion',
      Properties: { CompatibleArchitectures: ['arm64'], CompatibleRuntimes: ['nodejs22.x'] },
    });
    expect(worker.Environment.Variables).toMatchObject({
      CRANE_PATH: '/opt/bin/crane',
      SOURCE_CREDENTIALS_SECRET_ID: params.sourceCredentialsSecretId,
      KMS_KEY_ARN: params.kmsKeyArn,
      MAX_ATTEMPTS: params.workerAttempts,
    });
    expect(Number(worker.Environment.Variables.COPY_TIMEOUT_SECONDS)).toBeLessThan(worker.Timeout);
    // The run id comes in each event, never from the environment.
    expect(Object.keys(worker.Environment.Variables).filter((name) => /RUN/i.test(name))).toEqual([]);
  });

  it('ships crane in the layer zip as an executable bin/crane (/opt/bin/crane)', async () => {
    const entries = readZip(await readFile(join(out, 'crane.zip')));
    const crane = entries.find((entry) => entry.name === 'bin/crane');
    expect(crane).toBeDefined();
    expect(crane!.mode & 0o111).toBe(0o111);
    expect(crane!.data().equals(await readFile(craneInLayer))).toBe(true);
  });

  const invokeConfigOf = (logicalId: string): Json => {
    const configs = resourcesOfType('AWS::Lambda::EventInvokeConfig').filter(([, config]) => config.Properties.FunctionName?.Ref === logicalId);
    expect(configs, logicalId).toHaveLength(1);
    return configs[0]![1].Properties;
  };

  it('retries a crashed worker invocation as configured, then sends its event to the dead-letter queue kept 14 days', () => {
    expect(resourcesOfType('AWS::Lambda::EventInvokeConfig')).toHaveLength(2);
    expect(invokeConfigOf('WorkerLambdaFunction')).toMatchObject({
      MaximumRetryAttempts: params.workerMaxRetries,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': ['WorkerDeadLetterQueue', 'Arn'] } } },
    });
    // The worker retries what it can catch itself; Lambda's retries are for crashes only.
    expect(params.workerMaxRetries).toBe(1);
    expect(Number(params.workerAttempts)).toBeGreaterThan(1);
    expect(template.Resources.WorkerDeadLetterQueue).toMatchObject({ Type: 'AWS::SQS::Queue', Properties: { MessageRetentionPeriod: 14 * 24 * 3600 } });
  });

  it('lets a worker event expire before the next run starts (the next run re-plans every image)', () => {
    const [, amount, unit] = /^rate\((\d+) (minutes?|hours?|days?)\)$/.exec(String(params.schedule)) ?? [];
    expect(amount, `schedule ${params.schedule} is a rate() expression`).toBeDefined();
    const intervalSeconds = Number(amount) * { minute: 60, hour: 3600, day: 86_400 }[unit!.replace(/s$/, '') as 'minute' | 'hour' | 'day'];
    const maxEventAge = invokeConfigOf('WorkerLambdaFunction').MaximumEventAgeInSeconds;
    expect(maxEventAge).toBe(params.workerMaxEventAge);
    expect(maxEventAge).toBeLessThan(intervalSeconds);
  });

  it('never lets Lambda re-run a scheduler run, and drops one that could not start soon', () => {
    const config = invokeConfigOf('SchedulerLambdaFunction');
    expect(config.MaximumRetryAttempts).toBe(0);
    expect(config.MaximumEventAgeInSeconds).toBeLessThanOrEqual(3600);
    expect(config.DestinationConfig?.OnFailure).toBeUndefined();
  });

  describe('worker reserved concurrency', () => {
    it('reserves the configured concurrency through a template parameter whose default is the param', () => {
      expect(template.Parameters.WorkerReservedConcurrency).toMatchObject({ Type: 'String', Default: String(params.workerReservedConcurrency) });
      expect(params.workerReservedConcurrency).toBe('5');
      expect(template.Resources.WorkerLambdaFunction.Properties.ReservedConcurrentExecutions).toEqual({
        'Fn::If': ['HasWorkerReservation', { Ref: 'WorkerReservedConcurrency' }, { Ref: 'AWS::NoValue' }],
      });
    });

    it('reserves nothing when the param is 0 or empty (accounts whose quota cannot spare a reservation)', () => {
      const condition = text(template.Conditions.HasWorkerReservation);
      expect(template.Conditions.HasWorkerReservation['Fn::Not']).toBeDefined();
      for (const none of ['', '0']) expect(condition).toContain(text({ 'Fn::Equals': [{ Ref: 'WorkerReservedConcurrency' }, none] }));
    });
  });

  it('alarms on failed images, unverified images, the dead-letter queue, the scheduler, dropped runs, workers not invoked, the findings function and critical findings, into the SNS topic', () => {
    expect(template.Resources.AlarmTopic.Type).toBe('AWS::SNS::Topic');
    const alarms = resourcesOfType('AWS::CloudWatch::Alarm').map(([, alarm]) => alarm.Properties);
    const custom = (metric: string) => ({ Namespace: METRICS_NAMESPACE, MetricName: metric, Dimensions: [{ Name: 'service', Value: SERVICE_NAME }] });
    const lambdaErrors = (logicalId: string) => ({ Namespace: 'AWS/Lambda', MetricName: 'Errors', Dimensions: [{ Name: 'FunctionName', Value: { Ref: logicalId } }] });
    const expected = [
      { AlarmName: 'image-mirror-dev-images-failed', ...custom(METRIC.failed) },
      { AlarmName: 'image-mirror-dev-scheduler-failures', ...custom(METRIC.schedulerFailures) },
      { AlarmName: 'image-mirror-dev-workers-not-invoked', ...custom(METRIC.notInvoked) },
      { AlarmName: 'image-mirror-dev-critical-findings', ...custom(METRIC.unacceptedCritical) },
      { AlarmName: 'image-mirror-dev-unverified-images', ...custom(METRIC.unverified) },
      {
        AlarmName: 'image-mirror-dev-worker-dlq-not-empty',
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': ['WorkerDeadLetterQueue', 'QueueName'] } }],
      },
      { AlarmName: 'image-mirror-dev-scheduler-errors', ...lambdaErrors('SchedulerLambdaFunction') },
      { AlarmName: 'image-mirror-dev-findings-errors', ...lambdaErrors('FindingsLambdaFunction') },
    ];
    // A scheduled run dropped unstarted (it is never retried) is a whole interval without a sync; Lambda drops a
    // failed run's event too (no retries), which the Errors alarm already pages: those are taken off.
    const dropped = alarms.find((alarm) => alarm.AlarmName === 'image-mirror-dev-scheduler-runs-dropped');
    const stat = (id: string) => dropped?.Metrics.find((m: Json) => m.Id === id)?.MetricStat;
    expect(stat('dropped')).toMatchObject({ Metric: { Namespace: 'AWS/Lambda', MetricName: 'AsyncEventsDropped', Dimensions: [{ Name: 'FunctionName', Value: { Ref: 'SchedulerLambdaFunction' } }] }, Period: 300, Stat: 'Sum' });
    expect(stat('failed')).toMatchObject({ Metric: { Namespace: 'AWS/Lambda', MetricName: 'Errors', Dimensions: [{ Name: 'FunctionName', Value: { Ref: 'SchedulerLambdaFunction' } }] }, Period: 300, Stat: 'Sum' });
    expect(dropped?.Metrics.filter((m: Json) => m.ReturnData)).toEqual([expect.objectContaining({ Expression: 'FILL(dropped, 0) - FILL(failed, 0)' })]);
    expect(alarms).toHaveLength(expected.length + 1);
    for (const metric of expected) expect(alarms).toContainEqual(expect.objectContaining(metric));
    for (const alarm of alarms) {
      expect(alarm).toMatchObject({ Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold', EvaluationPeriods: 1, TreatMissingData: 'notBreaching' });
      if (alarm !== dropped) expect(alarm.Period).toBe(300);
      expect(alarm.AlarmActions).toEqual([{ Ref: 'AlarmTopic' }]);
      expect(alarm.AlarmDescription.length).toBeGreaterThan(100);
      // CloudWatch's limit.
      expect(alarm.AlarmDescription.length, alarm.AlarmName).toBeLessThanOrEqual(1024);
      // Every page says where to see what failed in the last run.
      expect(alarm.AlarmDescription, alarm.AlarmName).toMatch(/saved (Logs Insights )?quer(y|ies) image-mirror\/dev\/(runs|failures-of-the-last-run)/);
    }
    for (const metric of [METRIC.failed, METRIC.schedulerFailures, METRIC.notInvoked]) {
      expect(alarms.find((alarm) => alarm.MetricName === metric)).toMatchObject({ Statistic: 'Sum' });
    }
    // Retried attempts never page: only a failure for good (ImagesFailed) does.
    expect(alarms.map((alarm) => alarm.MetricName)).not.toContain(METRIC.retried);
    expect(alarms.find((alarm) => alarm.MetricName === METRIC.failed).AlarmDescription).toContain('image-mirror/dev/failures-of-the-last-run');
    // Summed over images, so one image with one critical finding nobody signed off is enough; signed-off ones never page.
    expect(alarms.find((alarm) => alarm.MetricName === METRIC.unacceptedCritical)).toMatchObject({ Statistic: 'Sum', Threshold: 1 });
    expect(alarms.map((alarm) => alarm.MetricName)).not.toContain(METRIC.scanCritical);
    expect(alarms.map((alarm) => alarm.MetricName)).not.toContain(METRIC.unacceptedHigh);
    // It says what to do: where the CVEs and the file are, and the two ways out.
    const critical = alarms.find((alarm) => alarm.MetricName === METRIC.unacceptedCritical).AlarmDescription;
    for (const words of ['acceptance.unacceptedCritical > 0', 'acceptance.signOffFiles', '.trivyignore.yaml', 'statement', 'expired_at', 'patched tag']) expect(critical).toContain(words);
    expect(template.Resources.AlarmEmailSubscription).toMatchObject({
      Condition: 'HasAlarmEmail',
      Properties: { TopicArn: { Ref: 'AlarmTopic' }, Protocol: 'email', Endpoint: { Ref: 'AlarmEmail' } },
    });
    expect(template.Parameters.AlarmEmail).toMatchObject({ Type: 'String', Default: params.alarmEmail });
  });

  describe('saved Logs Insights queries', () => {
    const queries = () => Object.fromEntries(resourcesOfType('AWS::Logs::QueryDefinition').map(([, query]) => [query.Properties.Name, query.Properties]));

    it('saves "failures of the last run" over the worker log group, newest run first', () => {
      const query = queries()['image-mirror/dev/failures-of-the-last-run'];
      expect(query).toBeDefined();
      expect(query.LogGroupNames).toEqual([{ Ref: 'WorkerLogGroup' }]);
      expect(query.QueryString).toContain('fields @timestamp, runId, message, source, target, error, reason, attempt, attempts');
      expect(query.QueryString).toContain('filter message in ["image failed", "image deferred"]');
      expect(query.QueryString).toContain('sort runId desc, @timestamp desc');
    });

    it('saves "runs": the count of each message per runId, over the worker and scheduler log groups', () => {
      const query = queries()['image-mirror/dev/runs'];
      expect(query).toBeDefined();
      expect(query.LogGroupNames).toEqual([{ Ref: 'WorkerLogGroup' }, { Ref: 'SchedulerLogGroup' }]);
      expect(query.QueryString).toContain('stats count(*) by runId, message');
      expect(query.QueryString).toContain('sort runId desc');
    });

    it('has only those two', () => {
      expect(Object.keys(queries()).sort()).toEqual(['image-mirror/dev/failures-of-the-last-run', 'image-mirror/dev/runs']);
    });
  });

  it('has a dashboard of the metrics named in names.ts and the dead-letter queue depth', () => {
    const dashboard = onlyResourceOfType('AWS::CloudWatch::Dashboard');
    type Widget = { type: string; properties: { title: string; metrics?: Json[][]; stat?: string; query?: string } };
    const body = JSON.parse(dashboard.Properties.DashboardBody['Fn::Sub'][0]) as { widgets: Widget[] };
    const series = body.widgets.flatMap((widget) =>
      (widget.properties.metrics ?? []).map((metric) => {
        const options = typeof metric.at(-1) === 'object' ? metric.at(-1) : {};
        return { widget: widget.properties.title, namespace: metric[0], name: metric[1], stat: options.stat ?? widget.properties.stat, color: options.color };
      }),
    );
    const custom = series.filter((s) => s.namespace === METRICS_NAMESPACE);
    for (const s of custom) expect(Object.values(METRIC)).toContain(s.name);
    const names = custom.map((s) => s.name);
    for (const name of [METRIC.copied, METRIC.skipped, METRIC.failed, METRIC.schedulerRuns, METRIC.invalidFiles]) expect(names).toContain(name);
    for (const name of [METRIC.notInvoked, METRIC.orphanedRepositories, METRIC.repositoriesRepaired]) expect(names).toContain(name);
    // Retried attempts beside the images, not in the failure red.
    const retried = custom.find((s) => s.name === METRIC.retried);
    expect(retried).toMatchObject({ widget: 'Images per hour' });
    expect(retried!.color).not.toBe(custom.find((s) => s.name === METRIC.failed)!.color);
    for (const name of [METRIC.imagesScanned, METRIC.scanCritical, METRIC.scanHigh, METRIC.scanFailures, METRIC.imagesNotScanned, METRIC.invalidScanEvents]) expect(names).toContain(name);
    // Raw and unaccepted side by side, in one widget.
    const scans = custom.filter((s) => [METRIC.scanCritical, METRIC.scanHigh, METRIC.unacceptedCritical, METRIC.unacceptedHigh].includes(s.name));
    expect(scans.map((s) => s.name).sort()).toEqual([METRIC.scanCritical, METRIC.scanHigh, METRIC.unacceptedCritical, METRIC.unacceptedHigh].sort());
    expect(new Set(scans.map((s) => s.widget)).size).toBe(1);
    expect(custom.filter((s) => s.name === METRIC.duration).map((s) => s.stat).sort()).toEqual(['p50', 'p95']);
    expect(series).toContainEqual(expect.objectContaining({ namespace: 'AWS/SQS', name: 'ApproximateNumberOfMessagesVisible' }));
    // Deferred images are shown, beside the budget each source registry has left (one line per registry, by SEARCH).
    expect(names).toContain(METRIC.deferred);
    const searches = body.widgets.flatMap((widget) => (widget.properties.metrics ?? []).map((metric) => (metric[0] as { expression?: string }).expression).filter(Boolean));
    expect(searches).toContainEqual(expect.stringContaining(`{${METRICS_NAMESPACE},SourceRegistry,service} MetricName="${METRIC.sourcePullsRemaining}"`));
    // The last runs, one row per runId, read from the worker's (and the scheduler's) log lines.
    const logs = body.widgets.filter((widget) => widget.type === 'log');
    expect(logs).toHaveLength(1);
    const query = logs[0]!.properties.query!;
    expect(query).toContain("SOURCE '${WorkerLogGroup}'");
    for (const message of ['image copied', 'image skipped', 'image failed', 'image deferred', 'image retried']) expect(query).toContain(`"${message}"`);
    expect(query).toMatch(/by runId \| sort runId desc/);
    const substitutions = dashboard.Properties.DashboardBody['Fn::Sub'][1];
    expect(substitutions).toMatchObject({ WorkerLogGroup: { Ref: 'WorkerLogGroup' }, SchedulerLogGroup: { Ref: 'SchedulerLogGroup' } });
  });

  it('copies signatures by default: the param reaches the worker as a plain value (serverless-offline resolves no Ref)', () => {
    expect(params.artifacts).toBe('signatures');
    expect(template.Resources.WorkerLambdaFunction.Properties.Environment.Variables.ARTIFACTS).toBe('signatures');
    expect(environmentOf('WorkerLambdaFunction').ARTIFACTS).toBe('signatures');
    // The scheduler reads the policy and sends the rule; the worker alone copies.
    expect(template.Resources.SchedulerLambdaFunction.Properties.Environment.Variables.ARTIFACTS).toBeUndefined();
  });

  it('pages for an image the signature policy refused, and shows those beside the failures', () => {
    const alarm = resourcesOfType('AWS::CloudWatch::Alarm').map(([, a]) => a.Properties).find((a) => a.MetricName === METRIC.unverified);
    expect(alarm).toMatchObject({ AlarmName: 'image-mirror-dev-unverified-images', Namespace: METRICS_NAMESPACE, Statistic: 'Sum', Threshold: 1, Period: 300 });
    for (const words of ['signature-policy.yaml', 'unverified', 'image-mirror/dev/failures-of-the-last-run']) expect(alarm.AlarmDescription).toContain(words);
    const body = JSON.parse(onlyResourceOfType('AWS::CloudWatch::Dashboard').Properties.DashboardBody['Fn::Sub'][0]) as { widgets: { properties: { title: string; metrics?: Json[][] } }[] };
    const images = body.widgets.find((widget) => widget.properties.title === 'Images per hour');
    expect(images?.properties.metrics?.map((metric) => metric[1])).toEqual(expect.arrayContaining([METRIC.failed, METRIC.unverified]));
  });

  it('pages for no deferred image: deferring is how the pull budget is kept, and the next run picks the image up', () => {
    const alarms = resourcesOfType('AWS::CloudWatch::Alarm').map(([, alarm]) => alarm.Properties);
    expect(alarms.map((alarm) => alarm.MetricName)).not.toContain(METRIC.deferred);
    expect(template.Resources.WorkerLambdaFunction.Properties.Environment.Variables.PULL_RESERVE).toBe('20');
  });

  it('keeps every log group 30 days, one per function', () => {
    const groups = resourcesOfType('AWS::Logs::LogGroup');
    expect(groups.map(([id]) => id).sort()).toEqual(['FindingsLogGroup', 'SchedulerLogGroup', 'WorkerLogGroup']);
    for (const [, group] of groups) expect(group.Properties.RetentionInDays).toBe(30);
  });

  describe('IAM', () => {
    const ecrRepositoryActions = [
      'ecr:DescribeRepositories',
      'ecr:CreateRepository',
      'ecr:GetLifecyclePolicy',
      'ecr:PutLifecyclePolicy',
      'ecr:PutImageScanningConfiguration',
      'ecr:ListTagsForResource',
      'ecr:TagResource',
      'ecr:BatchCheckLayerAvailability',
      'ecr:InitiateLayerUpload',
      'ecr:UploadLayerPart',
      'ecr:CompleteLayerUpload',
      'ecr:PutImage',
      'ecr:BatchGetImage',
      'ecr:GetDownloadUrlForLayer',
    ];
    const secretArn = (id: string | number | undefined) => sub(`arn:\${AWS::Partition}:secretsmanager:\${AWS::Region}:\${AWS::AccountId}:secret:${id}-??????`);
    const granting = (action: string) => iamStatements().filter((s) => s.effect === 'Allow' && s.actions.includes(action));

    it('runs each function with its own role', () => {
      expect(template.Resources.SchedulerLambdaFunction.Properties.Role).toEqual({ 'Fn::GetAtt': ['SchedulerRole', 'Arn'] });
      expect(template.Resources.WorkerLambdaFunction.Properties.Role).toEqual({ 'Fn::GetAtt': ['WorkerRole', 'Arn'] });
      expect(template.Resources.FindingsLambdaFunction.Properties.Role).toEqual({ 'Fn::GetAtt': ['FindingsRole', 'Arn'] });
      expect(resourcesOfType('AWS::IAM::Role').map(([id]) => id).sort()).toEqual(['FindingsRole', 'SchedulerRole', 'WorkerRole']);
    });

    it('names every action without a wildcard', () => {
      const statements = iamStatements();
      expect(statements.length).toBeGreaterThan(0);
      for (const statement of statements) for (const action of statement.actions) expect(action, `${statement.role}: ${action}`).not.toContain('*');
    });

    const prefix = () => sub(`arn:\${AWS::Partition}:ecr:\${AWS::Region}:\${AWS::AccountId}:repository/${params.targetPrefix}/*`);
    const everyRepository = sub('arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/*');

    it('grants the ECR repository actions to the worker on the mirror prefix only', () => {
      for (const action of ecrRepositoryActions) {
        const statements = granting(action).filter((s) => s.role === 'WorkerRole');
        expect(statements, action).toHaveLength(1);
        expect(statements[0]!.resources, action).toEqual([prefix()]);
      }
    });

    it('lets the scheduler list repositories (on repository/*, the only form DescribeRepositories without names is authorised on) and read tags under the prefix only', () => {
      const scheduler = iamStatements().filter((s) => s.role === 'SchedulerRole' && s.actions.some((action) => action.startsWith('ecr:')));
      expect(scheduler.map((s) => [s.actions, s.resources])).toEqual([
        [['ecr:DescribeRepositories'], [everyRepository]],
        [['ecr:ListTagsForResource'], [prefix()]],
      ]);
    });

    it('grants no ECR action outside the prefix but the scheduler\'s listing', () => {
      const ecr = iamStatements().filter((s) => s.actions.some((action) => action.startsWith('ecr:') && action !== 'ecr:GetAuthorizationToken'));
      for (const statement of ecr) {
        if (statement.role === 'SchedulerRole' && statement.actions.join() === 'ecr:DescribeRepositories') continue;
        expect(statement.resources, `${statement.role}: ${statement.actions.join(', ')}`).toEqual([prefix()]);
      }
    });

    it('allows the "*" resource for ecr:GetAuthorizationToken alone', () => {
      const onEverything = iamStatements().filter((s) => s.resources.includes(text('*')));
      expect(onEverything.map((s) => [s.role, s.actions])).toEqual([['WorkerRole', ['ecr:GetAuthorizationToken']]]);
    });

    it('reads only the two configured secrets, each from the functions that need it', () => {
      const reads = iamStatements().filter((s) => s.actions.some((action) => action.startsWith('secretsmanager:')));
      expect(reads.map((s) => [s.role, s.actions, s.resources]).sort()).toEqual([
        ['FindingsRole', ['secretsmanager:GetSecretValue'], [secretArn(params.githubTokenSecretId)]],
        ['SchedulerRole', ['secretsmanager:GetSecretValue'], [secretArn(params.githubTokenSecretId)]],
        ['WorkerRole', ['secretsmanager:GetSecretValue'], [secretArn(params.sourceCredentialsSecretId)]],
      ]);
    });

    it('lets the scheduler invoke the worker and nothing else', () => {
      expect(granting('lambda:InvokeFunction').map((s) => [s.role, s.resources])).toEqual([['SchedulerRole', [getAtt('WorkerLambdaFunction', 'Arn')]]]);
    });

    it('lets the worker send to its dead-letter queue only', () => {
      expect(granting('sqs:SendMessage').map((s) => [s.role, s.resources])).toEqual([['WorkerRole', [getAtt('WorkerDeadLetterQueue', 'Arn')]]]);
    });

    it('lets each function write to its own log group only', () => {
      const logs = iamStatements().filter((s) => s.actions.some((action) => action.startsWith('logs:')));
      expect(logs.map((s) => [s.role, s.resources]).sort()).toEqual([
        ['FindingsRole', [getAtt('FindingsLogGroup', 'Arn')]],
        ['SchedulerRole', [getAtt('SchedulerLogGroup', 'Arn')]],
        ['WorkerRole', [getAtt('WorkerLogGroup', 'Arn')]],
      ]);
    });

    it('lets the findings function write its logs, read scan findings under the prefix and the GitHub token, and do nothing else', () => {
      const statements = iamStatements().filter((s) => s.role === 'FindingsRole');
      expect(statements.map((s) => [s.effect, s.actions.sort(), s.resources])).toEqual([
        ['Allow', ['logs:CreateLogStream', 'logs:PutLogEvents'], [getAtt('FindingsLogGroup', 'Arn')]],
        ['Allow', ['ecr:DescribeImageScanFindings'], [prefix()]],
        ['Allow', ['secretsmanager:GetSecretValue'], [secretArn(params.githubTokenSecretId)]],
      ]);
    });

    it('lets the findings function read the GitHub token only when one is configured (a public images repository has none)', () => {
      expect(template.Parameters.GitHubTokenSecretId).toMatchObject({ Type: 'String', Default: params.githubTokenSecretId });
      expect(template.Conditions.HasGitHubTokenSecret).toEqual({ 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'GitHubTokenSecretId' }, ''] }] });
      const conditional = template.Resources.FindingsRole.Properties.Policies[0].PolicyDocument.Statement.filter((s: Json) => s['Fn::If']);
      expect(conditional.map((s: Json) => [s['Fn::If'][0], s['Fn::If'][1].Action, s['Fn::If'][2]])).toEqual([['HasGitHubTokenSecret', 'secretsmanager:GetSecretValue', { Ref: 'AWS::NoValue' }]]);
    });

    it('uses KMS only on the configured key, only when one is configured', () => {
      const kms = iamStatements().filter((s) => s.actions.some((action) => action.startsWith('kms:')));
      expect(kms.map((s) => [s.role, s.resources])).toEqual([['WorkerRole', [text({ Ref: 'KmsKeyArn' })]]]);
      expect(template.Parameters.KmsKeyArn).toMatchObject({ Type: 'String', Default: params.kmsKeyArn });
      expect(template.Conditions.HasKmsKey).toEqual({ 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'KmsKeyArn' }, ''] }] });
      const conditional = template.Resources.WorkerRole.Properties.Policies[0].PolicyDocument.Statement.filter((s: Json) => s['Fn::If']);
      expect(conditional.map((s: Json) => s['Fn::If'][0])).toEqual(['HasKmsKey']);
    });
  });

  describe('bundles', () => {
    for (const fn of ['scheduler', 'worker', 'findings']) {
      it(`bundles the ${fn} as one CommonJS file with its source map`, async () => {
        const zipPath = join(out, `${fn}.zip`);
        const entries = readZip(await readFile(zipPath));
        expect(entries.map((entry) => entry.name).sort()).toEqual([`functions/${fn}/handler.cjs`, `functions/${fn}/handler.cjs.map`]);
        const logicalId = `${fn[0]!.toUpperCase()}${fn.slice(1)}LambdaFunction`;
        expect(template.Resources[logicalId].Properties.Handler).toBe(`functions/${fn}/handler.handler`);
        const bundle = entries.find((entry) => entry.name.endsWith('.cjs'))!.data();
        console.log(`${fn}.zip: ${((await stat(zipPath)).size / 1024).toFixed(0)} KiB (handler.cjs ${(bundle.length / 1024).toFixed(0)} KiB)`);
      });

      it(`loads the ${fn} bundle in Node with the environment the template gives it`, async () => {
        const dir = await mkdtemp(join(tmpdir(), `image-mirror-${fn}-bundle-`));
        try {
          const entry = readZip(await readFile(join(out, `${fn}.zip`))).find((e) => e.name.endsWith('.cjs'))!;
          await writeFile(join(dir, 'handler.cjs'), entry.data());
          const logicalId = `${fn[0]!.toUpperCase()}${fn.slice(1)}LambdaFunction`;
          const env = { PATH: process.env.PATH, AWS_REGION: 'eu-west-1', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...environmentOf(logicalId) };
          const loaded = await run(process.execPath, ['-e', 'process.stdout.write(typeof require("./handler.cjs").handler)'], { cwd: dir, env, timeout: 30_000 });
          expect(loaded).toMatchObject({ code: 0, stdout: 'function' });
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      });
    }
  });
});

import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manifestDigest, pushImage, pushIndex, type SeedTarget } from '../../scripts/lib/oci-seed.ts';
import type { ScheduleSummary } from '../../shared/ports.ts';
import { type FakeGitHub, startFakeGitHub } from '../support/fake-github.ts';
import { type OfflineLambdas, startOffline } from '../support/offline.ts';
import { motoEnv, stack, uniqueName } from '../support/stack.ts';

describe('fan-out offline: EventBridge-style run of the scheduler, one async worker per image (serverless-offline, fake GitHub, moto, real registries and crane)', () => {
  const s = stack();
  const ns = uniqueName('fanout');
  const prefix = `fan-${ns}`;
  const token = `ghp_${ns.replace(/-/g, '')}`;
  const aws = motoEnv(s);
  const target: SeedTarget = { registry: s.targetRegistry, auth: { username: s.targetUsername, password: s.targetPassword } };
  const images = ['alpha', 'bravo', 'charlie', 'delta', 'echo'];
  const digests = new Map<string, string>();
  let github: FakeGitHub;
  let offline: OfflineLambdas | undefined;
  let lambdaApi: LambdaApiFaults | undefined;

  beforeAll(async () => {
    const files: Record<string, string> = { 'README.md': '# mirrored images\n' };
    for (const [i, name] of images.entries()) {
      const pushed = i % 2 === 0 ? (await pushIndex({ registry: s.sourceRegistry }, `${ns}/${name}`, '1', ['linux/amd64', 'linux/arm64'])).index : await pushImage({ registry: s.sourceRegistry }, `${ns}/${name}`, '1');
      digests.set(name, pushed.digest);
      files[`images/${s.sourceRegistry}/${ns}/${name}/Dockerfile`] = `FROM ${s.sourceRegistry}/${ns}/${name}:1\n`;
    }
    github = await startFakeGitHub({ owner: 'octo', repo: 'images', token, files });
    const secrets = new SecretsManagerClient({ region: 'us-east-1', endpoint: s.awsEndpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
    await secrets.send(new CreateSecretCommand({ Name: `gh/${ns}`, SecretString: token }));
    await secrets.send(new CreateSecretCommand({ Name: `registries/${ns}`, SecretString: '{}' }));
    const lambdaPort = 3600 + Math.floor(Math.random() * 300);
    // The scheduler reaches the Lambda API through a proxy that can refuse one image's invoke, as Lambda does under load.
    lambdaApi = await startLambdaApiFaults(lambdaPort);
    offline = await startOffline({
      lambdaPort,
      httpPort: lambdaPort + 400,
      env: { ...aws, AWS_ENDPOINT_URL_LAMBDA: lambdaApi.url },
      params: {
        githubRepository: 'octo/images',
        githubApiUrl: github.url,
        githubTokenSecretId: `gh/${ns}`,
        sourceCredentialsSecretId: `registries/${ns}`,
        localTarget: `${s.targetRegistry}/${prefix}`,
        targetIsEcr: 'true',
        cranePath: s.crane,
      },
    });
  }, 180_000);

  afterAll(async () => {
    await offline?.stop();
    await github?.close();
    await lambdaApi?.close();
  });

  it('invokes one worker per image and every image lands with its digest', async () => {
    const lambda = new LambdaClient({ region: 'us-east-1', endpoint: offline!.lambdaEndpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
    const response = await lambda.send(new InvokeCommand({ FunctionName: 'image-mirror-local-scheduler', Payload: new TextEncoder().encode('{}') }));
    expect(response.FunctionError, offline!.output()).toBeUndefined();
    const summary = JSON.parse(new TextDecoder().decode(response.Payload)) as ScheduleSummary;
    expect(summary).toMatchObject({ planned: images.length, invoked: images.length, failedInvokes: 0, invalid: 0 });

    const repo = (name: string) => `${prefix}/${s.sourceRegistry.replace(':', '-')}/${ns}/${name}`;
    const deadline = Date.now() + 90_000;
    let landed: (string | undefined)[] = [];
    const copiedLines = () => offline!.output().match(/"message":"image copied"/g)?.length ?? 0;
    while (Date.now() < deadline) {
      landed = await Promise.all(images.map((name) => manifestDigest(target, repo(name), '1')));
      const done = landed.every((digest, i) => digest === digests.get(images[i]!)) && copiedLines() === images.length;
      if (done || offline!.output().includes('"message":"image failed"')) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(landed, offline!.output()).toEqual(images.map((name) => digests.get(name)));
    expect(offline!.output().match(/"message":"image copied"/g)).toHaveLength(images.length);
  });

  it('answers an on-demand subset as a dry run without invoking anything', async () => {
    const lambda = new LambdaClient({ region: 'us-east-1', endpoint: offline!.lambdaEndpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
    const workerRuns = () => offline!.output().match(/\(λ: worker\)/g)?.length ?? 0;
    const before = workerRuns();
    const event = { only: [`${s.sourceRegistry}/${ns}/bravo`], dryRun: true };
    const response = await lambda.send(new InvokeCommand({ FunctionName: 'image-mirror-local-scheduler', Payload: new TextEncoder().encode(JSON.stringify(event)) }));
    const summary = JSON.parse(new TextDecoder().decode(response.Payload)) as ScheduleSummary;
    expect(summary).toMatchObject({ dryRun: true, planned: 1, invoked: 0 });
    expect(summary.jobs.map((j) => j.source)).toEqual([`${s.sourceRegistry}/${ns}/bravo:1`]);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(workerRuns()).toBe(before);
  });

  it('leaves a refused invoke to the next run, invoking every other worker once, each told the run id', async () => {
    const lambda = new LambdaClient({ region: 'us-east-1', endpoint: offline!.lambdaEndpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
    const workerRuns = () => offline!.output().match(/\(λ: worker\)/g)?.length ?? 0;
    const skippedLines = () => offline!.output().match(/"message":"image skipped"/g)?.length ?? 0;
    const [before, skippedBefore] = [workerRuns(), skippedLines()];
    lambdaApi!.refuse(/charlie/);
    try {
      const response = await lambda.send(new InvokeCommand({ FunctionName: 'image-mirror-local-scheduler', Payload: new TextEncoder().encode('{}') }));
      // No function error: Lambda would retry a failed run, invoking the four other workers again.
      expect(response.FunctionError, offline!.output()).toBeUndefined();
      const summary = JSON.parse(new TextDecoder().decode(response.Payload)) as ScheduleSummary;
      expect(summary).toMatchObject({ planned: images.length, invoked: images.length - 1, failedInvokes: 1 });
      expect(summary.invokeErrors.map((failure) => failure.source)).toEqual([`${s.sourceRegistry}/${ns}/charlie:1`]);
      expect(summary.invokeErrors[0]?.message).toContain('TooManyRequestsException');

      const settled = Date.now() + 60_000;
      while (Date.now() < settled && skippedLines() - skippedBefore < images.length - 1) await new Promise((r) => setTimeout(r, 250));
      await new Promise((r) => setTimeout(r, 1_000));
      expect(offline!.output()).toContain('"message":"workers not invoked"');
      // Each of the four others ran exactly once, and none for the refused image.
      expect(workerRuns() - before, offline!.output()).toBe(images.length - 1);
      expect(skippedLines() - skippedBefore).toBe(images.length - 1);
      const lines = offline!.output().split('\n').filter((line) => line.includes('"message":"image skipped"')).slice(skippedBefore);
      expect(lines.every((line) => line.includes(`"runId":"${summary.runId}"`))).toBe(true);
      expect(lines.some((line) => line.includes('/charlie:1'))).toBe(false);
    } finally {
      lambdaApi!.refuse(undefined);
    }
  });
});

interface LambdaApiFaults {
  readonly url: string;
  /** Invokes whose payload matches get Lambda's 429 answer, every time (the SDK's own retries included). */
  refuse(payload: RegExp | undefined): void;
  close(): Promise<void>;
}

/**
 * A pass-through proxy to serverless-offline's Lambda API that answers matching invokes as Lambda does when a
 * function's concurrency is used up: 429 with `X-Amzn-ErrorType: TooManyRequestsException`
 * (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html#API_Invoke_Errors).
 */
async function startLambdaApiFaults(lambdaPort: number): Promise<LambdaApiFaults> {
  let refused: RegExp | undefined;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (refused?.test(body.toString('utf8'))) {
        res.writeHead(429, { 'content-type': 'application/json', 'x-amzn-errortype': 'TooManyRequestsException' });
        res.end(JSON.stringify({ Type: 'User', message: 'Rate Exceeded.', Reason: 'ReservedFunctionConcurrentInvocationLimitExceeded' }));
        return;
      }
      const upstream = httpRequest({ host: '127.0.0.1', port: lambdaPort, method: req.method, path: req.url, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      upstream.on('error', () => res.writeHead(502).end());
      upstream.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    refuse: (payload) => (refused = payload),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

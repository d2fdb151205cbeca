import type { Context } from 'aws-lambda';
import { vi } from 'vitest';

/** A Lambda context as the runtime passes it, with a deadline `remainingMs` away. */
export function lambdaContext(functionName: string, remainingMs = 900_000): Context {
  const deadline = Date.now() + remainingMs;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:${functionName}`,
    memoryLimitInMB: '2048',
    awsRequestId: `req-${Math.random().toString(36).slice(2)}`,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: '2026/11/28/[$LATEST]test',
    getRemainingTimeInMillis: () => deadline - Date.now(),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** Collects the JSON lines a function writes to stdout and stderr (Powertools log lines and EMF documents) while `run` runs; Lambda sends both to CloudWatch. */
export async function captureJsonLines<T>(run: () => Promise<T>): Promise<{ value?: T; error?: unknown; lines: Record<string, unknown>[]; raw: string }> {
  let raw = '';
  // Captured, not passed on: the test output stays readable.
  const spies = [process.stdout, process.stderr].map((stream) =>
    vi.spyOn(stream, 'write').mockImplementation(((chunk: string | Uint8Array) => {
      raw += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
      return true;
    }) as typeof stream.write),
  );
  for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    spies.push(
      vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
        raw += `${args.map(String).join(' ')}\n`;
      }) as never,
    );
  }
  try {
    const value = await run();
    return { value, lines: parseLines(raw), raw };
  } catch (error) {
    return { error, lines: parseLines(raw), raw };
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
}

function parseLines(raw: string): Record<string, unknown>[] {
  return raw
    .split('\n')
    .filter((line) => line.trim().startsWith('{'))
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
}

/** The EMF documents among captured lines, as metric name → value. */
export function emfMetrics(lines: Record<string, unknown>[]): Record<string, unknown>[] {
  return lines.filter((line) => typeof line._aws === 'object');
}

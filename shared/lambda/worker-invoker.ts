import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { describeError, InvokeError } from '../errors.ts';
import type { WorkerInvoker, WorkerJobPayload } from '../ports.ts';

/** Invokes the worker Lambda asynchronously (InvocationType Event): Lambda queues the event, retries it, and dead-letters it. */
export class LambdaWorkerInvoker implements WorkerInvoker {
  constructor(
    private readonly client: LambdaClient,
    private readonly functionName: string,
  ) {}

  async invoke(job: WorkerJobPayload): Promise<void> {
    let status: number | undefined;
    try {
      const response = await this.client.send(
        new InvokeCommand({ FunctionName: this.functionName, InvocationType: 'Event', Payload: new TextEncoder().encode(JSON.stringify(job)) }),
      );
      status = response.StatusCode;
    } catch (error) {
      // The SDK's error name is the Lambda API's error type (TooManyRequestsException, ResourceNotFoundException…): what to look up.
      const type = error instanceof Error && error.name !== 'Error' ? `${error.name}: ` : '';
      throw new InvokeError(`invoking ${this.functionName} for "${job.source}": ${type}${describeError(error)}`, { cause: error, retryable: true });
    }
    if (status !== 202) throw new InvokeError(`invoking ${this.functionName} for "${job.source}": expected status 202, got ${status}`, { retryable: true });
  }
}

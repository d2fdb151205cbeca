import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { WorkerConfig } from '../config/worker-config.ts';
import { PowertoolsOutcomeRecorder } from '../observability/powertools.ts';
import { CachedSecret, SecretsManagerCredentialProvider } from '../secrets/secrets-manager.ts';
import type { OutcomeRecorder } from '../ports.ts';
import type { SyncDeps } from '../sync/mirror-image.ts';
import { createSyncDeps } from './sync.ts';
import { AWS_CLIENT_SETTINGS } from './aws-clients.ts';
import { createTelemetry } from './telemetry.ts';

/** The worker's adapters: ECR, the source credentials secret, the registry client and crane. */
export function createWorkerDeps(
  config: WorkerConfig,
  telemetry = createTelemetry(),
): SyncDeps & { recorder: OutcomeRecorder; metrics: Metrics; logger: Logger; bindSignal: (signal: AbortSignal) => void } {
  // The container's registry client serves one invocation after another: each binds its deadline's signal here.
  let invocationSignal: AbortSignal | undefined;
  const secret = config.sourceCredentialsSecretId === undefined ? undefined : new CachedSecret(new SecretsManagerClient({ ...AWS_CLIENT_SETTINGS }), config.sourceCredentialsSecretId);
  const deps = createSyncDeps({
    target: config.target,
    ecr: config.ecr,
    crane: config.crane,
    copyTimeoutMs: config.copyTimeoutMs,
    credentials: new Map(),
    signal: () => invocationSignal,
    moreCredentials: secret ? [new SecretsManagerCredentialProvider(secret)] : [],
    ...(config.kmsKey ? { kmsKey: config.kmsKey } : {}),
    ...(config.region ? { region: config.region } : {}),
  });
  return {
    ...deps,
    recorder: new PowertoolsOutcomeRecorder(telemetry.logger, telemetry.metrics),
    bindSignal: (signal) => (invocationSignal = signal),
    ...telemetry,
  };
}


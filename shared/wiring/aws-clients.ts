/**
 * Settings for every AWS SDK client the functions build. The SDK's HTTP handler waits forever by default; a Lambda has a
 * deadline, so each attempt is bounded (the SDK's own three attempts, with backoff, stay): a call that hangs ends as an
 * error that names it, not as a function timeout without a log line.
 */
export const AWS_CLIENT_SETTINGS = Object.freeze({
  requestHandler: { connectionTimeout: 3_000, requestTimeout: 10_000 },
});

import { describeError, InvalidScanEventError } from '../errors.ts';
import { DEFAULT_NAME_TEMPLATE } from '../image-ref/target.ts';
import { isRecord } from '../json.ts';
import type { Acceptance, ScanEventOutcome, ScannedImage, ScanRecorder, SeverityCounts } from '../ports.ts';
import { describeValue, safeText } from '../safe-text.ts';
import { type AcceptanceDeps, judgeScan, rawAcceptance } from './acceptance.ts';

// ECR basic scanning (scan on push, which the worker turns on for every repository it creates) sends one
// `aws.ecr` / `ECR Image Scan` event per scanned image, shaped as in
// https://docs.aws.amazon.com/AmazonECR/latest/userguide/ecr-eventbridge.html ("Event for a completed image scan").
// Enhanced scanning (Amazon Inspector) sends none of these: Inspector publishes `aws.inspector2` events instead
// (`Inspector2 Scan` when an image's first scan completes, `Inspector2 Finding` per finding), with another
// detail shape (https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-scanning-enhanced-events.html).
// Supporting it would take a second EventBridge rule and a second parser mapping that detail, with the same
// prefix check on its repository, onto the same outcome.

/** Which repositories are the mirror's (`<targetPrefix>/…`), how they are named, and where their sign-offs live. */
export interface ScanSettings {
  readonly targetPrefix: string;
  /** The name template of the mirror's repositories, to find an image's Dockerfile; the default one when absent. */
  readonly nameTemplate?: string;
  /** The images repository the sign-offs are read from; absent when none is configured. */
  readonly github?: {
    /** The images root inside it: `images`. */
    readonly imagesPath: string;
    /** The repository on the web at its ref, `https://github.com/octo/images/blob/main`, when known. */
    readonly webUrl?: string;
  };
  /** How long judging an image may take before it gives up, failing closed; JUDGE_DEADLINE_MS when absent. */
  readonly judgeDeadlineMs?: number;
}

/** Where outcomes go, and what judges findings against sign-offs (absent where no images repository is configured). */
export interface ScanEventDeps {
  readonly recorder: ScanRecorder;
  readonly acceptance?: AcceptanceDeps;
}

/**
 * How long judging one image may take: the findings function has 60 s, and each GitHub or ECR call is bounded to 10 s,
 * but several slow ones in a row could still reach the timeout, which ends the function without its line. Giving up at
 * 45 s leaves room to write the line and the metrics.
 */
export const JUDGE_DEADLINE_MS = 45_000;

/** Said in the log line of an image with findings when there is nothing to judge them by. */
const NOT_CONFIGURED = 'sign-offs are not configured (no GITHUB_REPOSITORY for the images repository): every critical and high finding counts as unaccepted';

const SOURCE = 'aws.ecr';
const DETAIL_TYPE = 'ECR Image Scan';
const SEVERITIES: Readonly<Record<string, keyof SeverityCounts>> = {
  CRITICAL: 'critical',
  HIGH: 'high',
  MEDIUM: 'medium',
  LOW: 'low',
  INFORMATIONAL: 'informational',
  UNDEFINED: 'undefined',
};

/**
 * Reads an ECR Image Scan event: the image and its finding counts when the repository is under the
 * mirror's prefix, `ignored` (with the reason) otherwise. Throws InvalidScanEventError for a scan event it cannot read.
 */
export function parseScanEvent(event: unknown, settings: ScanSettings): Exclude<ScanEventOutcome, { kind: 'invalid' }> {
  if (!isRecord(event)) throw new InvalidScanEventError(`reading a scan event: expected an EventBridge event object, got ${describeValue(event)}`);
  if (event.source !== SOURCE || event['detail-type'] !== DETAIL_TYPE) {
    return { kind: 'ignored', reason: `not an ECR Image Scan event (source ${describeValue(event.source)}, detail-type ${describeValue(event['detail-type'])})` };
  }
  const detail = event.detail;
  if (!isRecord(detail)) throw new InvalidScanEventError(`reading an ECR Image Scan event: "detail" must be an object, got ${describeValue(detail)}`);
  const repository = detail['repository-name'];
  if (typeof repository !== 'string' || repository === '') {
    throw new InvalidScanEventError(`reading an ECR Image Scan event: "detail.repository-name" must be a non-empty string, got ${describeValue(repository)}`);
  }
  if (!repository.startsWith(`${settings.targetPrefix}/`)) {
    return { kind: 'ignored', reason: `repository "${safeText(repository)}" is not under the mirror prefix "${settings.targetPrefix}/"`, repository };
  }
  const invalid = (problem: string) => new InvalidScanEventError(`reading the ECR Image Scan event of "${safeText(repository)}": ${problem}`);
  const digest = detail['image-digest'];
  // Not checked as 64 hex digits: the digest in AWS's own example event has 60.
  if (typeof digest !== 'string' || !/^[a-z0-9]+:[a-f0-9]+$/.test(digest)) throw invalid(`"detail.image-digest" must be a digest like "sha256:…", got ${describeValue(digest)}`);
  const tags = detail['image-tags'] ?? [];
  if (!Array.isArray(tags) || !tags.every((tag): tag is string => typeof tag === 'string')) throw invalid(`"detail.image-tags" must be a list of strings, got ${describeValue(tags)}`);
  const status = detail['scan-status'];
  if (typeof status !== 'string' || status === '') throw invalid(`"detail.scan-status" must be a non-empty string, got ${describeValue(status)}`);

  const image: ScannedImage = { repository, digest, tags: [...tags], status };
  if (status === 'COMPLETE') return { kind: 'scanned', ...image, counts: parseCounts(detail['finding-severity-counts'], invalid) };
  if (status === 'FAILED') return { kind: 'scan-failed', ...image };
  // Any other status (UNSUPPORTED_IMAGE for an OS basic scanning does not know, e.g. distroless) means no findings
  // report, which is not ECR failing: common for mirrored images, so counted apart from failures.
  return { kind: 'not-scanned', ...image };
}

/**
 * Reads a scan event and records its outcome, a scanned image's findings judged against its sign-offs; an unreadable
 * event is recorded as `invalid`, never thrown, since a retry would read it no better.
 */
export async function recordScanEvent(event: unknown, deps: ScanEventDeps, settings: ScanSettings): Promise<ScanEventOutcome> {
  let outcome: ScanEventOutcome;
  try {
    outcome = parseScanEvent(event, settings);
  } catch (error) {
    if (!(error instanceof InvalidScanEventError)) throw error;
    outcome = { kind: 'invalid', error: error.message };
  }
  if (outcome.kind === 'scanned') outcome = { ...outcome, acceptance: await acceptanceOf(outcome, deps, settings) };
  deps.recorder.record(outcome);
  return outcome;
}

/** The image's findings judged, or its raw counts as unaccepted when that cannot be done: never a lost log line. */
async function acceptanceOf(image: ScannedImage & { readonly counts: SeverityCounts }, deps: ScanEventDeps, settings: ScanSettings): Promise<Acceptance> {
  const { counts } = image;
  if (deps.acceptance === undefined || settings.github === undefined) return rawAcceptance(counts, counts.critical + counts.high > 0 ? NOT_CONFIGURED : undefined);
  const doing = `judging the findings of ${safeText(image.repository)}@${image.digest}`;
  const deadlineMs = settings.judgeDeadlineMs ?? JUDGE_DEADLINE_MS;
  let timer: ReturnType<typeof setTimeout> | undefined;
  // What is still under way when the deadline passes is left to finish or fail on its own; its result is not used.
  const deadline = new Promise<Acceptance>((resolve) => {
    timer = setTimeout(() => resolve({ ...rawAcceptance(counts), error: `${doing}: gave up after ${deadlineMs / 1000} s (GitHub or ECR too slow); every critical and high finding counts` }), deadlineMs);
  });
  const judging = judgeScan(image, deps.acceptance, {
    targetPrefix: settings.targetPrefix,
    nameTemplate: settings.nameTemplate ?? DEFAULT_NAME_TEMPLATE,
    imagesPath: settings.github.imagesPath,
    ...(settings.github.webUrl === undefined ? {} : { webUrl: settings.github.webUrl }),
  }).catch((error: unknown): Acceptance => {
    // judgeScan fails closed by itself; this is for what it did not foresee (a bug), which must not cost the line.
    return { ...rawAcceptance(counts), error: `${doing}: ${describeError(error)}` };
  });
  try {
    return await Promise.race([judging, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

// ECR reports a severity only when the image has findings of it, and may leave the whole map out.
function parseCounts(value: unknown, invalid: (problem: string) => InvalidScanEventError): SeverityCounts {
  const counts = { critical: 0, high: 0, medium: 0, low: 0, informational: 0, undefined: 0 };
  if (value === undefined || value === null) return counts;
  if (!isRecord(value)) throw invalid(`"detail.finding-severity-counts" must be an object, got ${describeValue(value)}`);
  for (const [severity, count] of Object.entries(value)) {
    const key = SEVERITIES[severity];
    // An unknown severity is refused rather than dropped: dropping it could hide findings.
    if (key === undefined) throw invalid(`unknown severity "${safeText(severity)}" in "detail.finding-severity-counts" (known: ${Object.keys(SEVERITIES).join(', ')})`);
    if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0) throw invalid(`the ${severity} count must be a whole number ≥ 0, got ${describeValue(count)}`);
    counts[key] = count;
  }
  return counts;
}

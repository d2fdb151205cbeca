import { describeError, MirrorError } from '../errors.ts';
import { formatReference, type ImageReference, repositoryName } from '../image-ref/reference.ts';
import { diffPlans, editedFiles, type ImageChange } from '../plan/diff.ts';
import { buildPlan, type MirrorJob, type Plan } from '../plan/plan.ts';
import type { DockerfileEntry, DockerfileSource, Finding, Severity, SignOffReader } from '../ports.ts';
import { safeText } from '../safe-text.ts';
import { parseSignOffFile, type SignOff, signOffPathFor } from './sign-offs.ts';
import type { TrivyReport } from './trivy-report.ts';
import { type JudgedFinding, judgeFindings, SIGN_OFF_DAYS, signOffSnippet } from './verdict.ts';

// `mirror gate`: Trivy reports matched to the images of the tree, their findings judged against the sign-off files
// beside each image's Dockerfiles. The JSON report (`mirror gate --json`) is GateReport as it stands here: its field
// names are an interface of their own (CI jobs read them), so they only ever grow.

/** `passed`: every gated finding signed off; `failed`: some are not, or a sign-off file is broken; `not-scanned`: added or changed (--base) with no report. */
export type GateImageStatus = 'passed' | 'failed' | 'not-scanned';

/** A report given to the gate, as the images it judged name it. */
export interface ScannedBy {
  readonly file: string;
  readonly artifactName: string;
}

/** One image of the tree the gate judged (or, with --base, found added or changed and not scanned). */
export interface GateImage {
  /** The image as the plan names it: `docker.io/library/postgres:14@sha256:…`. */
  readonly source: string;
  /** The Dockerfiles naming it, below the images root. */
  readonly files: readonly string[];
  /** With --base only: `added` when none of its files named an image on the base, `changed` when one did. Absent: on the base already. */
  readonly change?: 'added' | 'changed';
  readonly status: GateImageStatus;
  /** The reports matched to it; their findings are judged together. */
  readonly reports: readonly ScannedBy[];
  /** Where its sign-offs go, below the images root: the sign-off file beside its first Dockerfile. */
  readonly signOffFile: string;
  /** Its findings of the gated severities, judged: most severe first. */
  readonly findings: readonly JudgedFinding[];
  /** Sign-offs of its files that match no finding of any image judged with them: to clean up. */
  readonly stale: readonly SignOff[];
  /** Findings of the gated severities not signed off, expired sign-offs included. */
  readonly unaccepted: number;
  /**
   * What is wrong with entries of its sign-off files that sign nothing off, each after its file's path below the images
   * root (`docker.io/library/postgres/.trivyignore.yaml: line 7: … has no statement`): never fatal.
   */
  readonly problems: readonly string[];
  /** A sign-off file that cannot be read: the image fails, as nothing it would sign off can be told. */
  readonly error?: string;
  /**
   * The YAML to paste into `signOffFile` for its findings no entry names, with a statement still to write. An id whose
   * entry is ignored (in `ignoredEntries`) is left out: a second entry would leave the first one broken.
   */
  readonly snippet?: string;
  /** The expired sign-offs that decided its findings, each entry once, with the `expired_at` that renews it. */
  readonly renew?: readonly SignOffRenewal[];
  /** Entries ignored for their `paths` or `purls` (see `problems`) whose id a finding not signed off has: to fix. */
  readonly ignoredEntries?: readonly SignOffEntry[];
}

/** An entry of a sign-off file: its id, its file below the images root, and the line of its `- id:`. */
export interface SignOffEntry {
  readonly id: string;
  readonly file: string;
  readonly line: number;
}

/** An expired entry, and the `expired_at` that renews it: SIGN_OFF_DAYS from the gate's run, as the snippet proposes. */
export interface SignOffRenewal extends SignOffEntry {
  readonly expiredAt: string;
}

/** A report that matches no image of the tree: a notice, not a failure. */
export interface UnmatchedReport {
  readonly file: string;
  readonly artifactName: string;
  /** What it says it scanned: the ArtifactName normalised (`docker.io/library/nginx:1.25@sha256:…`), else as written. */
  readonly scanned: string;
}

/** The counts of a gate run. */
export interface GateSummary {
  /** The images in `images`: judged, or added or changed and not scanned. */
  readonly checked: number;
  readonly passed: number;
  readonly failed: number;
  /**
   * With --base: images added or changed with no report (each fails the gate). Without: images of the tree no report
   * matches, counted only, as nothing says they were meant to be scanned.
   */
  readonly notScanned: number;
  readonly notSignedOff: number;
  readonly expired: number;
  readonly signedOff: number;
  /** Stale sign-offs, each counted once however many images share its file. */
  readonly stale: number;
  readonly unmatchedReports: number;
  /** Dockerfiles that name no image: `mirror plan`'s to fail, a notice here. */
  readonly invalidFiles: number;
}

/** What `mirror gate` decided, and why. */
export interface GateReport {
  /** No image failed and, with --base, none added or changed was left unscanned. */
  readonly passed: boolean;
  /** The severities that must be signed off. */
  readonly severities: readonly Severity[];
  /** `changes` with --base (added and changed images must be scanned), `all` without. */
  readonly scope: 'all' | 'changes';
  readonly images: readonly GateImage[];
  readonly unmatchedReports: readonly UnmatchedReport[];
  readonly summary: GateSummary;
}

/** The trees and sign-offs the gate reads: the tree under review, the tree it changes (--base), and the sign-off files. */
export interface GateDeps {
  readonly next: DockerfileSource;
  readonly base?: DockerfileSource;
  readonly signOffs: SignOffReader;
}

export interface GateOptions {
  readonly severities: readonly Severity[];
  /** The moment `expired_at` is compared with, and the snippet's expiry counted from. */
  readonly now: Date;
}

/**
 * Matches each Trivy report to the images of the tree that it scanned, judges each matched image's findings of the
 * gated severities against the sign-off files beside its Dockerfiles, and, with a base tree, fails images added or
 * changed that no report scanned. A broken sign-off file fails its image only; invalid Dockerfiles are counted.
 */
export async function runGate(deps: GateDeps, reports: readonly TrivyReport[], options: GateOptions): Promise<GateReport> {
  const [nextEntries, baseEntries] = await Promise.all([deps.next.list(), deps.base?.list()]);
  const plan = buildPlan(nextEntries);
  const changes = baseEntries === undefined ? undefined : changesAgainst(baseEntries, nextEntries, plan);
  const matched = plan.jobs.map((job) => ({ job, reports: reports.filter((report) => scanned(job.source, report)) }));
  const judging = matched.filter((m) => m.reports.length > 0).map(async (m) => [m.job, await judgeImage(m.job, m.reports, deps.signOffs, options, changes?.(m.job))] as const);
  const judged = new Map(await Promise.all(judging));
  const stale = staleEverywhere([...judged.values()]);
  const images: GateImage[] = [];
  let unscanned = 0;
  for (const { job } of matched) {
    const image = judged.get(job)?.image;
    if (image !== undefined) {
      images.push({ ...image, stale: image.stale.filter((signOff) => stale.has(signOffKey(signOff))) });
      continue;
    }
    const change = changes?.(job);
    if (changes === undefined) unscanned++;
    else if (change !== undefined) images.push(notScanned(job, change));
  }
  const used = new Set(matched.flatMap((m) => m.reports));
  const unmatchedReports = reports.filter((report) => !used.has(report)).map(unmatched);
  const summary = summarise(images, unscanned, stale.size, unmatchedReports.length, new Set(plan.errors.map((issue) => issue.file)).size);
  return {
    passed: summary.failed === 0 && images.every((image) => image.status !== 'not-scanned'),
    severities: [...options.severities],
    scope: changes === undefined ? 'all' : 'changes',
    images,
    unmatchedReports,
    summary,
  };
}

/**
 * True when the report scanned this image: the same registry and repository, then the pinned digest among the digests
 * it names, or for an image named by tag alone, that tag among its reference's and RepoTags'. A pinned image is never
 * matched by tag: a report of another digest under the same tag scanned another image.
 */
function scanned(source: ImageReference, report: TrivyReport): boolean {
  const repository = repositoryName(source);
  const names = [...(report.reference === undefined ? [] : [report.reference]), ...report.digests, ...report.tags].filter((ref) => repositoryName(ref) === repository);
  if (source.digest !== undefined) return names.some((ref) => ref.digest === source.digest);
  return names.some((ref) => ref.tag === source.tag);
}

/**
 * How an image of the tree stands against the base, as `mirror plan --base` tells it (diffPlans), so that the gate asks
 * a report of exactly the images the pull request's workflow scans: `added` or `changed` for an image the change brings
 * that the base names nowhere (not namedElsewhere), undefined for the rest, which the base mirrors already.
 */
function changesAgainst(baseEntries: readonly DockerfileEntry[], nextEntries: readonly DockerfileEntry[], next: Plan): (job: MirrorJob) => 'added' | 'changed' | undefined {
  const diff = diffPlans(buildPlan(baseEntries), next, editedFiles(baseEntries, nextEntries));
  const brought = (changes: readonly ImageChange[]) => changes.filter((change) => !change.namedElsewhere).map((change) => formatReference(change.source));
  const labels = new Map<string, 'added' | 'changed'>(brought(diff.added).map((source) => [source, 'added']));
  // One file changes to it, another adds it: the plan lists it under both, and a change it is.
  for (const source of brought(diff.changed)) labels.set(source, 'changed');
  return (job) => labels.get(formatReference(job.source));
}

/** A judged image, with the sign-off files it read (paths below the images root). */
interface Judged {
  readonly image: GateImage;
  readonly read: ReadonlySet<string>;
}

/** One matched image: its sign-off files read, the union of its reports' findings judged against them. */
async function judgeImage(job: MirrorJob, reports: readonly TrivyReport[], reader: SignOffReader, options: GateOptions, change: 'added' | 'changed' | undefined): Promise<Judged> {
  const { signOffs, problems, error, read, ignored } = await readSignOffs(job.files, reader);
  const findings: Finding[] = reports.flatMap((report) => report.findings);
  const verdict = judgeFindings(findings, signOffs, { severities: new Set(options.severities), now: options.now });
  // A finding whose entry lacks a statement needs that line finished, not a second entry; nor does one whose entry is
  // ignored for a bad `paths` or `purls`: that entry is to be fixed (its problem says how), and is pointed at.
  const unnamed = verdict.findings.filter((finding) => finding.status === 'not-signed-off' && finding.signOff === undefined);
  const ignoredEntries = ignored.filter((entry) => unnamed.some((finding) => finding.id === entry.id));
  const unsigned = unnamed.filter((finding) => !ignoredEntries.some((entry) => entry.id === finding.id));
  const renew = renewals(verdict.findings, options.now);
  const image: GateImage = {
    ...imageOf(job, change),
    status: verdict.unaccepted > 0 || error !== undefined ? 'failed' : 'passed',
    reports: reports.map(({ file, artifactName }) => ({ file, artifactName })),
    findings: verdict.findings,
    stale: verdict.stale,
    unaccepted: verdict.unaccepted,
    problems,
    ...(error === undefined ? {} : { error }),
    ...(unsigned.length === 0 ? {} : { snippet: signOffSnippet(unsigned, options.now) }),
    ...(renew.length === 0 ? {} : { renew }),
    ...(ignoredEntries.length === 0 ? {} : { ignoredEntries }),
  };
  return { image, read };
}

/** The expired entries that decided these findings, each once, to renew with an `expired_at` SIGN_OFF_DAYS from now. */
function renewals(findings: readonly JudgedFinding[], now: Date): SignOffRenewal[] {
  const expiredAt = new Date(now.getTime() + SIGN_OFF_DAYS * 86_400_000).toISOString().slice(0, 10);
  const entries = new Map<string, SignOffRenewal>();
  for (const { status, signOff } of findings) {
    if (status === 'expired' && signOff !== undefined) entries.set(signOffKey(signOff), { id: signOff.id, file: signOff.file, line: signOff.line, expiredAt });
  }
  return [...entries.values()];
}

/** An image added or changed that no report scanned: it fails the gate until one does. */
function notScanned(job: MirrorJob, change: 'added' | 'changed'): GateImage {
  return { ...imageOf(job, change), status: 'not-scanned', reports: [], findings: [], stale: [], unaccepted: 0, problems: [] };
}

function imageOf(job: MirrorJob, change: 'added' | 'changed' | undefined): Pick<GateImage, 'source' | 'files' | 'change' | 'signOffFile'> {
  return { source: formatReference(job.source), files: job.files, ...(change === undefined ? {} : { change }), signOffFile: signOffPathFor(job.files[0]!) };
}

/**
 * The sign-offs of the files beside each of the image's Dockerfiles (a directory's file once, however many of its
 * Dockerfiles name the image), what is wrong with their entries, and the first file that cannot be read, named.
 */
async function readSignOffs(files: readonly string[], reader: SignOffReader): Promise<{ signOffs: SignOff[]; problems: string[]; error?: string; read: Set<string>; ignored: SignOffEntry[] }> {
  const signOffs: SignOff[] = [];
  const read = new Set<string>();
  const problems: string[] = [];
  const ignored: SignOffEntry[] = [];
  const errors: string[] = [];
  const seen = new Set<string>();
  for (const dockerfile of files) {
    const path = signOffPathFor(dockerfile);
    if (seen.has(path)) continue;
    seen.add(path);
    try {
      const text = await reader.read(dockerfile);
      if (text === undefined) continue;
      if (text.readError !== undefined) {
        errors.push(`reading the sign-off file "${safeText(text.path)}": ${safeText(text.readError)}`);
        continue;
      }
      const file = parseSignOffFile(text);
      read.add(file.file);
      signOffs.push(...file.signOffs);
      problems.push(...file.problems.map((problem) => `${file.file}: ${problem}`));
      ignored.push(...file.ignored.map((entry) => ({ ...entry, file: file.file })));
    } catch (error) {
      // Ours (a SignOffFileError) name the file and line already; anything else is outside text, shown escaped.
      errors.push(error instanceof MirrorError ? describeError(error) : `reading the sign-off file "${safeText(path)}": ${safeText(describeError(error))}`);
    }
  }
  return { signOffs, problems, read, ignored, ...(errors.length === 0 ? {} : { error: errors.join('; ') }) };
}

function signOffKey(signOff: SignOff): string {
  return `${signOff.file}:${signOff.line}`;
}

/**
 * The sign-offs stale for every image judged with them: a file beside a Dockerfile naming two images (a multi-stage
 * build) signs off findings of both, and one image's finding keeps the entry alive for the other.
 */
function staleEverywhere(judged: readonly Judged[]): Set<string> {
  const stale = new Set(judged.flatMap(({ image }) => image.stale.map(signOffKey)));
  for (const { image, read } of judged) {
    const staleHere = new Set(image.stale.map(signOffKey));
    // An image that read the entry's file and does not call it stale has a finding it signs off.
    for (const key of stale) if (read.has(key.slice(0, key.lastIndexOf(':'))) && !staleHere.has(key)) stale.delete(key);
  }
  return stale;
}

function unmatched(report: TrivyReport): UnmatchedReport {
  return { file: report.file, artifactName: report.artifactName, scanned: report.reference === undefined ? report.artifactName : formatReference(report.reference) };
}

function summarise(images: readonly GateImage[], unscanned: number, stale: number, unmatchedReports: number, invalidFiles: number): GateSummary {
  const findings = images.flatMap((image) => image.findings);
  const count = (test: (image: GateImage) => boolean) => images.filter(test).length;
  return {
    checked: images.length,
    passed: count((image) => image.status === 'passed'),
    failed: count((image) => image.status === 'failed'),
    notScanned: count((image) => image.status === 'not-scanned') + unscanned,
    notSignedOff: findings.filter((finding) => finding.status === 'not-signed-off').length,
    expired: findings.filter((finding) => finding.status === 'expired').length,
    signedOff: findings.filter((finding) => finding.status === 'signed-off').length,
    stale,
    unmatchedReports,
    invalidFiles,
  };
}

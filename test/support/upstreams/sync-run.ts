import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Report } from '../../../shared/plan/report.ts';
import type { MirrorResult, RegistryCredential } from '../../../shared/ports.ts';
import { type CliRun, runCli, writeImagesTree } from '../cli.ts';
import { stack } from '../stack.ts';

/** What one `mirror sync --json` run over emulated upstreams gave. */
export interface SyncRun {
  readonly run: CliRun;
  readonly report: Report;
  /** The result line of a source, as written in its Dockerfile. */
  result(source: string): MirrorResult | undefined;
}

/**
 * Runs `mirror sync --json` in-process over a tree of one Dockerfile per source, into `<stack target>/mirror-<ns>`,
 * with the real crane; `credentials` are added to the target's.
 */
export async function syncSources(ns: string, sources: readonly string[], options: { credentials?: Record<string, RegistryCredential>; args?: readonly string[] } = {}): Promise<SyncRun> {
  const s = stack();
  const images = await writeImagesTree(Object.fromEntries(sources.map((source) => [`${source.replace(/:[^:/]+$/, '')}/Dockerfile`, `FROM ${source}\n`])));
  const credentials = join(images, '..', `${ns}-credentials.json`);
  const logins = { [s.targetRegistry]: { username: s.targetUsername, password: s.targetPassword }, ...options.credentials };
  await writeFile(credentials, JSON.stringify(logins), { mode: 0o600 });
  const run = await runCli(['sync', '--images', images, '--target', `${s.targetRegistry}/mirror-${ns}`, '--credentials', credentials, '--json', ...(options.args ?? [])], { CRANE: s.crane });
  let report: Report;
  try {
    report = JSON.parse(run.stdout) as Report;
  } catch {
    throw new Error(`mirror sync printed no JSON report (exit ${run.code}): ${run.stderr}`);
  }
  return { run, report, result: (source) => report.results.find((result) => result.source === source) };
}

/** The target repository `mirror sync` gives `source` (`host:port/ns/app:1` → `mirror-<ns>/host-port/ns/app`). */
export function targetRepository(ns: string, source: string): string {
  return `mirror-${ns}/${source.replace(/:[^:/]+$/, '').replace(':', '-')}`;
}

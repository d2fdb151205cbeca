import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ReportError, UsageError } from '../../shared/errors.ts';
import { parseTrivyReport, type TrivyReport } from '../../shared/findings/trivy-report.ts';
import { safeText } from '../../shared/safe-text.ts';

// What `mirror gate` reads from disk before the use case runs: the Trivy reports --trivy names.

/**
 * The reports --trivy names, read and parsed in the order given; a directory stands for every `*.json` in it, sorted
 * by name, and one with none for no report: every scan of a pull request failed, so none was uploaded, and with --base
 * (`withBase`) each image the change adds or changes fails as not scanned. Without --base, no report at all would judge
 * nothing and pass: a ReportError (exit 2), as is a path that cannot be read or a file that is no Trivy report of an
 * image, named: a report lost on the way must never let the gate pass for want of findings.
 */
export async function readTrivyReports(paths: readonly string[], options: { readonly withBase: boolean }): Promise<TrivyReport[]> {
  if (paths.length === 0) throw new UsageError('--trivy: give at least one Trivy JSON report (`trivy image --format json --output report.json IMAGE`), or a directory of them');
  const files = (await Promise.all(paths.map(reportFiles))).flat();
  if (files.length === 0 && !options.withBase) {
    const dirs = paths.map((path) => `"${safeText(path)}"`).join(', ');
    const held = paths.length === 1 ? `the directory ${dirs} holds` : `the directories ${dirs} hold`;
    throw new ReportError(`--trivy: ${held} no *.json report, and without --base there is nothing to judge (with --base, each added or changed image would fail as not scanned)`);
  }
  return Promise.all(files.map(async (file) => parseTrivyReport(await readReport(file), file)));
}

/** The file itself, or the `*.json` files of a directory (none for a directory without one). */
async function reportFiles(path: string): Promise<string[]> {
  const found = await stat(path).catch((error: NodeJS.ErrnoException) => {
    throw new ReportError(`--trivy: cannot read "${safeText(path)}": ${error.code ?? error.message}`);
  });
  if (!found.isDirectory()) return [path];
  const names = await readdir(path).catch((error: NodeJS.ErrnoException) => {
    throw new ReportError(`--trivy: cannot list the directory "${safeText(path)}": ${error.code ?? error.message}`);
  });
  return names
    .filter((name) => name.endsWith('.json'))
    .sort()
    .map((name) => join(path, name));
}

async function readReport(file: string): Promise<string> {
  return readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new ReportError(`--trivy: cannot read the report "${safeText(file)}": ${error.code ?? error.message}`);
  });
}

import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ReportError, UsageError } from '../../shared/errors.ts';
import { parseTrivyReport, type TrivyReport } from '../../shared/findings/trivy-report.ts';
import { safeText } from '../../shared/safe-text.ts';

// What `mirror gate` reads from disk before the use case runs: the Trivy reports --trivy names.

/**
 * The reports --trivy names, read and parsed in the order given; a directory stands for every `*.json` in it, sorted
 * by name. Throws a ReportError (exit 2) naming the file that cannot be read or is no Trivy report of an image: a
 * report lost on the way must never let the gate pass for want of findings.
 */
export async function readTrivyReports(paths: readonly string[]): Promise<TrivyReport[]> {
  if (paths.length === 0) throw new UsageError('--trivy: give at least one Trivy JSON report (`trivy image --format json --output report.json IMAGE`), or a directory of them');
  const files = (await Promise.all(paths.map(reportFiles))).flat();
  return Promise.all(files.map(async (file) => parseTrivyReport(await readReport(file), file)));
}

/** The file itself, or the `*.json` files of a directory; a directory with none is an error, as a scan step that wrote nothing would be. */
async function reportFiles(path: string): Promise<string[]> {
  const found = await stat(path).catch((error: NodeJS.ErrnoException) => {
    throw new ReportError(`--trivy: cannot read "${safeText(path)}": ${error.code ?? error.message}`);
  });
  if (!found.isDirectory()) return [path];
  const names = await readdir(path).catch((error: NodeJS.ErrnoException) => {
    throw new ReportError(`--trivy: cannot list the directory "${safeText(path)}": ${error.code ?? error.message}`);
  });
  const reports = names.filter((name) => name.endsWith('.json')).sort();
  if (reports.length === 0) throw new ReportError(`--trivy: the directory "${safeText(path)}" holds no *.json report`);
  return reports.map((name) => join(path, name));
}

async function readReport(file: string): Promise<string> {
  return readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new ReportError(`--trivy: cannot read the report "${safeText(file)}": ${error.code ?? error.message}`);
  });
}

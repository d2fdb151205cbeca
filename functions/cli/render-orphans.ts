import type { TargetBase } from '../../shared/image-ref/target.ts';
import type { ManagedRepository } from '../../shared/ports.ts';
import { safeMessage } from '../../shared/safe-text.ts';
import type { OrphanReport } from '../../shared/sync/orphans.ts';

/** The human-readable orphan report: the orphans with their source, how to delete one, and what was left out. */
export function renderOrphans(report: OrphanReport, target: TargetBase): string {
  const under = target.prefix === '' ? target.registry : `${target.registry}/${target.prefix}`;
  const lines: string[] = [];
  if (report.orphans.length === 0) {
    lines.push(`No orphaned repositories under ${under} (${report.checked} checked).`);
  } else {
    lines.push(`Orphaned repositories under ${under}: tagged managed-by=image-mirror, named by no Dockerfile (nothing was deleted):`, ...table(report.orphans));
    lines.push(
      '',
      `${report.orphans.length} of ${report.checked} repositories orphaned. Once nothing pulls one any more, delete it (its images go with it):`,
      `  aws ecr delete-repository --repository-name NAME --force`,
    );
  }
  if (report.spared.length > 0) {
    lines.push('', 'Not listed, as an invalid Dockerfile sits in their source\'s directory (fix the file, or remove it and run again):', ...table(report.spared));
  }
  if (report.invalid > 0 && report.orphans.length > 0) {
    const files = `${report.invalid} invalid file${report.invalid === 1 ? '' : 's'}`;
    lines.push('', `The tree has ${files} (see mirror plan): a repository of one kept elsewhere than <registry>/<repository>/Dockerfile may be listed above.`);
  }
  return `${lines.join('\n')}\n`;
}

function table(repositories: readonly ManagedRepository[]): string[] {
  const rows = [['REPOSITORY', 'SOURCE'], ...repositories.map((r) => [r.name, r.source === undefined ? '-' : safeMessage(r.source)])];
  const width = Math.max(...rows.map((row) => row[0]!.length));
  return rows.map(([name, source]) => `  ${name!.padEnd(width)}  ${source}`);
}

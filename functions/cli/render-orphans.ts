import type { TargetBase } from '../../shared/image-ref/target.ts';
import type { ManagedRepository } from '../../shared/ports.ts';
import { safeMessage } from '../../shared/safe-text.ts';
import type { OrphanReport } from '../../shared/sync/orphans.ts';

/** Said whenever the target has no prefix: the whole registry is then looked at. */
export const NO_PREFIX_WARNING =
  'the target has no prefix: every managed repository in the registry is looked at, and another deployment without a prefix and with the same name template cannot be told from this one (its repositories would be listed as orphans); give each deployment a prefix of its own';

/** The human-readable orphan report: the orphans with their source, how to delete one, and what was left out. */
export function renderOrphans(report: OrphanReport, target: TargetBase): string {
  const under = target.prefix === '' ? target.registry : `${target.registry}/${target.prefix}`;
  const lines: string[] = [];
  if (target.prefix === '') lines.push(`Warning: ${NO_PREFIX_WARNING}.`, '');
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
  if (report.foreign > 0) {
    const count = report.foreign === 1 ? '1 managed repository under the prefix belongs' : `${report.foreign} managed repositories under the prefix belong`;
    lines.push('', `${count} to another configuration (its name is not the one this target and name template give its source) and ${report.foreign === 1 ? 'was' : 'were'} left out.`);
  }
  if (report.unattributed.length > 0) {
    lines.push('', 'Left out, as their source tag names no image (whose they are cannot be told):', ...table(report.unattributed));
  }
  if (report.notAllowed.length > 0) lines.push('', notAllowedSentence(report));
  if (report.invalid > 0 && report.orphans.length > 0) {
    const files = `${report.invalid} invalid file${report.invalid === 1 ? '' : 's'}`;
    lines.push('', `The tree has ${files} (see mirror plan): a repository of one kept elsewhere than <registry>/<repository>/Dockerfile may be listed above.`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * The repositories of registries --allow-registry leaves out, counted: `3 managed repositories mirror images of a
 * registry not allowed (docker.io: 3) and were left out: …`.
 */
export function notAllowedSentence(report: OrphanReport): string {
  const count = report.notAllowed.reduce((total, entry) => total + entry.repositories, 0);
  const registries = report.notAllowed.map((entry) => `${entry.registry}: ${entry.repositories}`).join(', ');
  const repositories = count === 1 ? '1 managed repository mirrors' : `${count} managed repositories mirror`;
  return `${repositories} images of a registry not allowed (${registries}) and ${count === 1 ? 'was' : 'were'} left out, not orphaned: the allowed registries leave their Dockerfiles out of the plan, so whether one is still named is not told here.`;
}

function table(repositories: readonly ManagedRepository[]): string[] {
  const rows = [['REPOSITORY', 'SOURCE'], ...repositories.map((r) => [r.name, r.source === undefined ? '-' : safeMessage(r.source)])];
  const width = Math.max(...rows.map((row) => row[0]!.length));
  return rows.map(([name, source]) => `  ${name!.padEnd(width)}  ${source}`);
}

import { describe, expect, it } from 'vitest';
import { renderOrphans } from '../../../functions/cli/render-orphans.ts';
import { renderReport } from '../../../functions/cli/render.ts';
import { parseImageReference } from '../../../shared/image-ref/reference.ts';
import { parseTargetBase, targetFor } from '../../../shared/image-ref/target.ts';
import type { MirrorJob } from '../../../shared/plan/plan.ts';
import { buildReport, resultOf } from '../../../shared/plan/report.ts';
import type { RepositoryNote } from '../../../shared/ports.ts';
import type { OrphanReport } from '../../../shared/sync/orphans.ts';

const target = parseTargetBase('123456789012.dkr.ecr.eu-west-1.amazonaws.com/mirror');
const D = `sha256:${'a'.repeat(64)}`;

function reportWith(...notes: RepositoryNote[]) {
  const jobs: MirrorJob[] = notes.map((_, i) => {
    const source = parseImageReference(`quay.io/app${i}:1`);
    return { source, target: targetFor(source, target), files: [`quay.io/app${i}/Dockerfile`] };
  });
  const results = jobs.map((job, i) => resultOf(job, { status: 'skipped', digest: D, repository: notes[i] }));
  return renderReport(buildReport({ jobs, errors: [], warnings: [] }, results), 'sync');
}

describe('the Repositories block of the sync report', () => {
  const encryption = 'encryption is AES256, configured KMS key k: encryption cannot change; recreate the repository to change it';
  const unchecked = 'could not check the lifecycle policy: AccessDeniedException: not authorized; the image was not held back for it, and the next check tries again';

  it('says settings were put back when that is all there is', () => {
    const text = reportWith({ repaired: ['scan on push'] });
    expect(text).toContain('Repositories (settings that had drifted were put back):\n  123456789012.dkr.ecr.eu-west-1.amazonaws.com/mirror/quay.io/app0: put back scan on push\n');
  });

  it('says nothing was put back when there are only warnings (encryption, a check ECR refused)', () => {
    const text = reportWith({ warnings: [encryption] }, { warnings: [unchecked] });
    expect(text).toContain('Repositories (warnings; nothing was put back):\n');
    expect(text).not.toContain('drifted');
    expect(text).toContain(`mirror/quay.io/app1: ${unchecked}`);
  });

  it('names both when there are both', () => {
    expect(reportWith({ repaired: ['tag source'] }, { warnings: [encryption] })).toContain('Repositories (settings that had drifted were put back; warnings):\n');
  });

  it('has no block when no repository has anything to say', () => {
    expect(reportWith({ created: true })).not.toContain('Repositories');
  });
});

describe('renderOrphans', () => {
  const empty: OrphanReport = { orphans: [], checked: 3, spared: [], invalid: 0, foreign: 0, unattributed: [] };

  it('says how many repositories of another configuration were left out, and lists those it cannot attribute', () => {
    const text = renderOrphans({ ...empty, foreign: 2, unattributed: [{ name: 'mirror/quay.io/x' }] }, target);
    expect(text).toContain('No orphaned repositories under 123456789012.dkr.ecr.eu-west-1.amazonaws.com/mirror (3 checked).');
    expect(text).toContain('2 managed repositories under the prefix belong to another configuration');
    expect(text).toContain('were left out.');
    expect(text).toContain('Left out, as their source tag names no image (whose they are cannot be told):\n  REPOSITORY        SOURCE\n  mirror/quay.io/x  -\n');
    expect(renderOrphans({ ...empty, foreign: 1 }, target)).toContain('1 managed repository under the prefix belongs to another configuration');
  });

  it('warns first when the target has no prefix', () => {
    const bare = parseTargetBase('123456789012.dkr.ecr.eu-west-1.amazonaws.com');
    expect(renderOrphans(empty, bare)).toMatch(/^Warning: the target has no prefix: every managed repository in the registry is looked at/);
    expect(renderOrphans(empty, target)).not.toContain('Warning');
  });
});

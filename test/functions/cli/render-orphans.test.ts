import { describe, expect, it } from 'vitest';
import { renderOrphansMarkdown } from '../../../functions/cli/render-markdown.ts';
import { renderOrphans } from '../../../functions/cli/render-orphans.ts';
import { parseTargetBase } from '../../../shared/image-ref/target.ts';
import type { OrphanReport } from '../../../shared/sync/orphans.ts';

const target = parseTargetBase('123456789012.dkr.ecr.eu-west-1.amazonaws.com/mirror');
const empty: OrphanReport = { orphans: [], checked: 4, spared: [], invalid: 0, foreign: 0, unattributed: [], notAllowed: [] };

describe('the orphan report of repositories whose registry is not allowed', () => {
  it('counts them by registry as left out, not orphaned, in the text and the markdown', () => {
    const report = { ...empty, notAllowed: [{ registry: 'docker.io', repositories: 2 }, { registry: 'ghcr.io', repositories: 1 }] };
    const sentence = '3 managed repositories mirror images of a registry not allowed (docker.io: 2, ghcr.io: 1) and were left out, not orphaned';
    const text = renderOrphans(report, target);
    expect(text).toContain('No orphaned repositories under 123456789012.dkr.ecr.eu-west-1.amazonaws.com/mirror (4 checked).');
    expect(text).toContain(`\n\n${sentence}`);
    expect(renderOrphansMarkdown(report, target)).toContain(sentence);
  });

  it('says it of one repository in the singular, and says nothing when there is none', () => {
    expect(renderOrphans({ ...empty, notAllowed: [{ registry: 'docker.io', repositories: 1 }] }, target)).toContain('1 managed repository mirrors images of a registry not allowed (docker.io: 1) and was left out');
    expect(renderOrphans(empty, target)).not.toContain('not allowed');
  });
});

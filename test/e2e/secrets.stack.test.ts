import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { pushImage } from '../../scripts/lib/oci-seed.ts';
import type { Report } from '../../shared/plan/report.ts';
import { runBin, writeImagesTree } from '../support/cli.ts';
import { startFaultProxy } from '../support/fault-proxy.ts';
import { stack, uniqueName } from '../support/stack.ts';

describe('secrets never reach the output', () => {
  it('syncs from a registry that wants a login, and neither the source nor the target password appears anywhere, on success or failure', async () => {
    const s = stack();
    const ns = uniqueName('secret');
    const sourcePassword = `src-${ns}-PASSWORD`;
    await pushImage({ registry: s.sourceRegistry }, `${ns}/app`, '1');
    // A registry with Docker Hub's token flow in front of the real source registry.
    const proxy = await startFaultProxy({ upstream: s.sourceRegistry, bearer: { token: `tok-${ns}`, username: 'mirror-bot', password: sourcePassword } });
    try {
      const images = await writeImagesTree({
        [`${proxy.host}/${ns}/app/Dockerfile`]: `FROM ${proxy.host}/${ns}/app:1\n`,
        [`${proxy.host}/${ns}/missing/Dockerfile`]: `FROM ${proxy.host}/${ns}/missing:1\n`,
      });
      const write = async (name: string, password: string) => {
        const file = join(images, '..', `${ns}-${name}.json`);
        await writeFile(file, JSON.stringify({ [proxy.host]: { username: 'mirror-bot', password }, [s.targetRegistry]: { username: s.targetUsername, password: s.targetPassword } }), { mode: 0o600 });
        return file;
      };
      // As a real process: whatever reaches its streams is scanned, not only what the CLI itself writes.
      const sync = (credentials: string, ...extra: string[]) =>
        runBin(['sync', '--images', images, '--target', `${s.targetRegistry}/${ns}`, '--credentials', credentials, ...extra], { CRANE: s.crane });

      const good = await sync(await write('good', sourcePassword), '--json');
      const report = JSON.parse(good.stdout) as Report;
      expect(report.results.map((r) => r.status).sort()).toEqual(['copied', 'failed']);
      const human = await sync(await write('good2', sourcePassword));
      const refused = await sync(await write('bad', `${sourcePassword}-WRONG`), '--json');
      expect((JSON.parse(refused.stdout) as Report).results.every((r) => r.status === 'failed')).toBe(true);
      expect(refused.stdout).toContain('401');

      for (const run of [good, human, refused]) {
        for (const secret of [sourcePassword, s.targetPassword, Buffer.from(`mirror-bot:${sourcePassword}`).toString('base64'), `tok-${ns}`]) {
          expect(run.stdout).not.toContain(secret);
          expect(run.stderr).not.toContain(secret);
        }
      }
    } finally {
      await proxy.close();
    }
  });
});

import { readFileSync } from 'node:fs';

/** True while a process runs (or is stopped); false once it is gone or a zombie waiting to be reaped, which runs nothing. */
export function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z';
  } catch {
    return false;
  }
}

/** Polls `check` every 25 ms, for 10 s at the most; throws with `detail()` when it never holds. */
export async function waitFor(check: () => Promise<boolean>, detail: () => string = () => ''): Promise<void> {
  for (let i = 0; i < 400; i += 1) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`gave up waiting${detail() ? `: ${detail()}` : ''}`);
}

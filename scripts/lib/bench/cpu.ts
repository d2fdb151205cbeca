import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** CPU time spent during one run, in seconds, split by who spent it. */
export interface CpuSeconds {
  /** The tool's whole process tree (npm, node, bash, crane, skopeo), as reaped by the benchmark. */
  readonly tool: number;
  /** The source and target registries. */
  readonly registries: number;
  /** The benchmark process itself, which hosts the latency proxy. */
  readonly proxy: number;
}

const TICKS_PER_SECOND = 100;

/** utime+stime and cutime+cstime of a process, in clock ticks (fields 14–17 of /proc/PID/stat). */
async function ticks(pid: number | 'self'): Promise<{ own: number; children: number }> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  // The command name may hold spaces: the fields that follow start after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
  const at = (field: number) => fields[field - 3] ?? 0;
  return { own: at(14) + at(15), children: at(16) + at(17) };
}

async function registryPids(stackDir: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of ['source-registry', 'target-registry']) {
    const pid = Number((await readFile(join(stackDir, `${name}.pid`), 'utf8').catch(() => '')).trim());
    if (Number.isInteger(pid) && pid > 1) pids.push(pid);
  }
  return pids;
}

/** Starts counting; the returned function gives the CPU spent since. */
export async function startCpuMeter(stackDir: string): Promise<() => Promise<CpuSeconds>> {
  const pids = await registryPids(stackDir);
  const self = await ticks('self');
  const registries = await Promise.all(pids.map((pid) => ticks(pid)));
  const usage = process.cpuUsage();
  return async () => {
    const proxy = process.cpuUsage(usage);
    const selfAfter = await ticks('self');
    const registriesAfter = await Promise.all(pids.map((pid) => ticks(pid)));
    const registryTicks = registriesAfter.reduce((sum, after, i) => sum + after.own - (registries[i]?.own ?? 0), 0);
    return {
      tool: (selfAfter.children - self.children) / TICKS_PER_SECOND,
      registries: registryTicks / TICKS_PER_SECOND,
      proxy: (proxy.user + proxy.system) / 1e6,
    };
  };
}

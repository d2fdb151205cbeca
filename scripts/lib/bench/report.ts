import type { RequestCounts } from './access-log.ts';
import type { CpuSeconds } from './cpu.ts';
import type { ColdInit, GitHubCalls, WorkerBundle } from './extras.ts';
import { type HostileFigure, renderHostile } from './hostile.ts';
import type { ToolName } from './peers.ts';

export type Phase = 'cold' | 'no-op';

/** One run of one tool in one phase. */
export interface Sample {
  readonly seconds: number;
  readonly exitCode: number;
  readonly counts: RequestCounts;
  readonly cpu: CpuSeconds;
  /** Digest check failures (and a non-zero exit), empty when the target is exact. */
  readonly failures: readonly string[];
  readonly note?: string;
}

/** The runs of one tool, phase and latency. */
export interface Series {
  readonly tool: ToolName;
  readonly phase: Phase;
  readonly latencyMs: number;
  readonly samples: Sample[];
}

export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly memory: string;
  readonly os: string;
  readonly kernel: string;
  readonly node: string;
  readonly crane: string;
  readonly skopeo: string;
  readonly registry: string;
  /** The proxy and CA certificate variables set in the environment image-mirror runs with (names only). */
  readonly networkEnv: readonly string[];
}

export interface Seeded {
  readonly images: number;
  readonly indexes: number;
  readonly docker: number;
  readonly layers: number;
  readonly bytes: number;
}

/** Everything one benchmark run found. */
export interface BenchResults {
  readonly command: string;
  readonly date: string;
  readonly machine: Machine;
  readonly settings: {
    readonly images: number;
    readonly runs: number;
    readonly floorRuns: number;
    readonly latencyMs: number;
    readonly concurrency: number;
    readonly lookupConcurrency: number;
    readonly layerBytes: readonly [number, number];
  };
  readonly seeded: Seeded;
  readonly series: readonly Series[];
  readonly github: GitHubCalls | { readonly error: string };
  readonly bundle: WorkerBundle;
  readonly coldInit: ColdInit | { readonly error: string };
  /** `sync --help` times of the bundled `mirror` command and of `npm run mirror` (tsx). */
  readonly cliStartSeconds: { readonly bin: readonly number[]; readonly npm: readonly number[] };
  /** The worst hostile inputs known, each through the bundled CLI. */
  readonly hostile: readonly HostileFigure[];
  /** 1-minute load average when the benchmark started and when it ended: other work on the machine shares its cores. */
  readonly loadAverage: readonly [number, number];
  readonly totalSeconds: number;
}

/** A target of issues 5 and 11 and how this run fared against it. */
export interface TargetOutcome {
  readonly name: string;
  readonly met: boolean | undefined;
  readonly detail: string;
}

/** Issue 11: a no-op run at 50 ms and 30 images takes at most this long (median)… */
const NOOP_MAX_SECONDS = 0.35;
/** …and is at least this many times faster than the seed loop's (medians). */
const NOOP_MIN_SPEEDUP = 20;

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return Number.NaN;
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

function seconds(value: number): string {
  return value < 10 ? value.toFixed(2) : value.toFixed(1);
}

function timeCell(samples: readonly Sample[]): string {
  const values = samples.map((s) => s.seconds);
  if (values.length === 1) return seconds(values[0] as number);
  return `${seconds(median(values))} (${seconds(Math.min(...values))}–${seconds(Math.max(...values))})`;
}

/** ` (runs a–b s)` for more than one sample, else nothing. */
function spread(samples: readonly Sample[]): string {
  const values = samples.map((s) => s.seconds);
  return values.length > 1 ? ` (runs ${seconds(Math.min(...values))}–${seconds(Math.max(...values))} s)` : '';
}

function countCell(samples: readonly Sample[], key: keyof RequestCounts): string {
  const values = samples.map((s) => s.counts[key]);
  const low = Math.min(...values);
  const high = Math.max(...values);
  return low === high ? String(low) : `${median(values)} (${low}–${high})`;
}

function bytes(value: number): string {
  if (value >= 1024 * 1024) return `${(value / 1024 / 1024).toFixed(1)} MiB`;
  if (value >= 1024) return `${(value / 1024).toFixed(0)} KiB`;
  return `${value} B`;
}

function ms(values: readonly number[]): string {
  return `${median(values).toFixed(0)} ms (${Math.min(...values).toFixed(0)}–${Math.max(...values).toFixed(0)})`;
}

function speed(ratio: number): string {
  return ratio >= 1 ? `${ratio.toFixed(1)}× faster` : `${(1 / ratio).toFixed(1)}× slower`;
}

export function findSeries(results: BenchResults, tool: ToolName, phase: Phase, latencyMs: number): Series | undefined {
  return results.series.find((s) => s.tool === tool && s.phase === phase && s.latencyMs === latencyMs && s.samples.length > 0);
}

function medianSeconds(series: Series | undefined): number | undefined {
  return series === undefined ? undefined : median(series.samples.map((s) => s.seconds));
}

/** True when every digest check of every run passed and every tool exited 0. */
export function allVerified(results: BenchResults): boolean {
  return results.series.every((series) => series.samples.every((sample) => sample.failures.length === 0));
}

/** The issue's targets, judged on this run's figures. */
export function judgeTargets(results: BenchResults): TargetOutcome[] {
  const { latencyMs, images } = results.settings;
  const at = latencyMs === 50 && images === 30 ? '' : ` (measured at ${latencyMs} ms and ${images} images; the target is stated for 50 ms and 30 images)`;
  const outcomes: TargetOutcome[] = [];

  const noop = findSeries(results, 'image-mirror', 'no-op', latencyMs);
  const perImage = (series: Series | undefined) => (series ? series.samples.map((s) => s.counts.manifestGets / images) : []);
  if (noop) {
    const gets = Math.max(...noop.samples.map((s) => s.counts.manifestGets));
    const heads = noop.samples.map((s) => s.counts.manifestHeads);
    const met = gets === 0 && heads.every((h) => h === images);
    const peers = (['seed loop', 'skopeo'] as const)
      .map((tool) => {
        const values = perImage(findSeries(results, tool, 'no-op', latencyMs));
        return values.length ? `${tool} ${Math.min(...values).toFixed(1)} pulls per image` : undefined;
      })
      .filter(Boolean)
      .join(', ');
    outcomes.push({
      name: 'No-op sync: zero source manifest GETs, one HEAD per image',
      met,
      detail: `image-mirror: ${gets} manifest GETs, ${[...new Set(heads)].join('/')} HEADs for ${images} images, every run${peers ? `; ${peers}, every run` : ''}`,
    });
  }

  const seedNoop = medianSeconds(findSeries(results, 'seed loop', 'no-op', latencyMs));
  const imNoop = medianSeconds(noop);
  if (noop && imNoop !== undefined) {
    const met = imNoop <= NOOP_MAX_SECONDS;
    // What every run pays before its first request, to tell start-up from the look-ups.
    const start = results.cliStartSeconds.bin.length > 0 ? `; the CLI's start-up alone (\`sync --help\`) ${seconds(median(results.cliStartSeconds.bin))} s` : '';
    outcomes.push({
      name: `No-op sync with ${latencyMs} ms latency: at most ${NOOP_MAX_SECONDS} s`,
      met,
      detail: `${seconds(imNoop)} s${spread(noop.samples)}${met ? '' : `: missed by ${seconds(imNoop - NOOP_MAX_SECONDS)} s (${(((imNoop - NOOP_MAX_SECONDS) / NOOP_MAX_SECONDS) * 100).toFixed(0)} %)`}${start}${at}`,
    });
  }
  if (seedNoop !== undefined && imNoop !== undefined) {
    const speedup = seedNoop / imNoop;
    const met = speedup >= NOOP_MIN_SPEEDUP;
    outcomes.push({
      name: `No-op sync with ${latencyMs} ms latency: at least ${NOOP_MIN_SPEEDUP}× faster than the seed loop`,
      met,
      detail: `${speedup.toFixed(1)}× (${seconds(imNoop)} s against ${seconds(seedNoop)} s)${met ? '' : `: missed by ${((1 - speedup / NOOP_MIN_SPEEDUP) * 100).toFixed(0)} %; it would take ${seconds(seedNoop / NOOP_MIN_SPEEDUP)} s`}${at}`,
    });
  }

  const imCold = findSeries(results, 'image-mirror', 'cold', latencyMs);
  const floor = medianSeconds(findSeries(results, 'seed loop', 'cold', 0));
  if (imCold && floor !== undefined) {
    const ratio = median(imCold.samples.map((s) => s.seconds)) / floor;
    // What the latency itself costs each tool, against its own 0 ms runs: the part parallel copies are meant to hide.
    const penalty = (tool: ToolName) => {
      const slow = medianSeconds(findSeries(results, tool, 'cold', latencyMs));
      const fast = medianSeconds(findSeries(results, tool, 'cold', 0));
      return slow === undefined || fast === undefined || latencyMs === 0 ? undefined : `${slow >= fast ? '+' : '−'}${Math.abs((slow / fast - 1) * 100).toFixed(0)} %`;
    };
    const hidden = penalty('image-mirror') && penalty('seed loop') ? `; ${latencyMs} ms costs image-mirror ${penalty('image-mirror')} against its own 0 ms time, the seed loop ${penalty('seed loop')}` : '';
    outcomes.push({
      name: `Cold sync with ${latencyMs} ms latency within 10 % of the seed loop at 0 ms`,
      met: ratio <= 1.1,
      detail: `${(ratio * 100).toFixed(0)} % of the seed loop's 0 ms time (${seconds(median(imCold.samples.map((s) => s.seconds)))} s against ${seconds(floor)} s)${ratio <= 1.1 ? '' : `: missed by ${((ratio - 1.1) * 100).toFixed(0)} points`}${hidden}${at}`,
    });
    const slowest = Math.max(...imCold.samples.map((s) => s.seconds));
    outcomes.push({
      name: `Cold sync with ${latencyMs} ms latency never slower than the seed loop at 0 ms`,
      met: slowest <= floor,
      detail: `slowest image-mirror run ${seconds(slowest)} s against the seed loop's ${seconds(floor)} s at 0 ms${slowest <= floor ? '' : `: slower by ${seconds(slowest - floor)} s (${(((slowest - floor) / floor) * 100).toFixed(0)} %)`}`,
    });
  }

  if ('calls' in results.github) {
    const { calls, budget, dockerfiles } = results.github;
    outcomes.push({ name: `GitHub API calls for ${dockerfiles} Dockerfiles at most ${budget}`, met: calls <= budget, detail: `${calls} calls` });
  } else {
    outcomes.push({ name: 'GitHub API calls for 500 Dockerfiles at most 7', met: undefined, detail: `not measured: ${results.github.error}` });
  }
  return outcomes;
}

/** The report as markdown: settings, the results table, ratios, targets and the extra figures. */
export function renderReport(results: BenchResults): string {
  const { settings, seeded, machine } = results;
  const out: string[] = [];
  out.push(`Measured ${results.date} with \`${results.command}\` (whole run ${results.totalSeconds.toFixed(0)} s).`, '');
  out.push(
    `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memory} memory; ${machine.os}, Linux ${machine.kernel}; Node ${machine.node}; crane ${machine.crane}; ${machine.skopeo}; ${machine.registry}. ` +
      `1-minute load average ${results.loadAverage[0].toFixed(1)} at the start, ${results.loadAverage[1].toFixed(1)} at the end. ` +
      `Proxy and CA certificate variables image-mirror runs with: ${machine.networkEnv.length > 0 ? machine.networkEnv.join(', ') : 'none'}.`,
    '',
  );
  out.push(
    `Source: ${seeded.images} images (${seeded.indexes} two-platform indexes, ${seeded.docker} Docker and ${seeded.images - seeded.docker} OCI media types), ` +
      `${seeded.layers} layers of ${bytes(settings.layerBytes[0])}–${bytes(settings.layerBytes[1])} of random bytes, ${bytes(seeded.bytes)} in all. ` +
      `${settings.runs} run(s) per tool on a fresh target each (cold, then no-op), ${settings.latencyMs} ms added to every source request` +
      `${settings.latencyMs > 0 ? `, plus ${settings.floorRuns} run(s) of the seed loop and image-mirror at 0 ms` : ''}; ` +
      `image-mirror concurrency ${settings.concurrency} (copies), lookup concurrency ${settings.lookupConcurrency} (HEADs). ` +
      'Request counts are per run, from the source registry\'s access log. ' +
      '"image-mirror" is the `mirror` command as installed (`node dist/mirror.mjs`, the esbuild bundle of `npm run build`) with ' +
      '`--artifacts none`: images alone, as the loop and skopeo copy them; "image-mirror, signatures (default)" is the same ' +
      'command as a user runs it, which also looks up each image\'s `.sig` tag and referrers (HEADs, free) and copies them; ' +
      '"image-mirror, npm run mirror (tsx)" is the CLI run from its TypeScript sources, images alone.',
    '',
  );
  out.push('| tool | phase | latency | seconds: median (min–max) | source manifest GETs | manifest HEADs | blob GETs | /v2/ pings | digests | CPU s: tool / registries / proxy | runs |');
  out.push('| --- | --- | --- | --- | ---: | ---: | ---: | ---: | :---: | ---: | ---: |');
  for (const series of results.series) {
    if (series.samples.length === 0) continue;
    const ok = series.samples.every((s) => s.failures.length === 0);
    const cells = [
      series.tool,
      series.phase,
      `${series.latencyMs} ms`,
      timeCell(series.samples),
      countCell(series.samples, 'manifestGets'),
      countCell(series.samples, 'manifestHeads'),
      countCell(series.samples, 'blobGets'),
      countCell(series.samples, 'pings'),
      ok ? '✓' : '✗',
      (['tool', 'registries', 'proxy'] as const).map((key) => median(series.samples.map((sample) => sample.cpu[key])).toFixed(1)).join(' / '),
      String(series.samples.length),
    ];
    out.push(`| ${cells.join(' | ')} |`);
  }
  out.push('');

  const lat = settings.latencyMs;
  out.push(`Ratios image-mirror / peer at ${lat} ms (medians; below 1 is better for image-mirror):`, '');
  out.push('| | cold time | no-op time | cold manifest GETs | no-op manifest GETs |', '| --- | ---: | ---: | ---: | ---: |');
  for (const peer of ['seed loop', 'skopeo'] as const) {
    const cell = (phase: Phase, value: (s: Series) => number) => {
      const mine = findSeries(results, 'image-mirror', phase, lat);
      const theirs = findSeries(results, peer, phase, lat);
      if (!mine || !theirs) return '—';
      const b = value(theirs);
      return b === 0 ? '—' : `${(value(mine) / b).toFixed(2)}×`;
    };
    const time = (s: Series) => median(s.samples.map((x) => x.seconds));
    const gets = (s: Series) => median(s.samples.map((x) => x.counts.manifestGets));
    out.push(`| image-mirror / ${peer} | ${cell('cold', time)} | ${cell('no-op', time)} | ${cell('cold', gets)} | ${cell('no-op', gets)} |`);
  }
  out.push('');

  out.push('Targets:', '');
  for (const target of judgeTargets(results)) {
    const mark = target.met === undefined ? 'not measured' : target.met ? 'met' : 'missed';
    out.push(`- **${mark}**: ${target.name}: ${target.detail}.`);
  }
  out.push('');

  const variants = results.series.filter((s) => s.tool.startsWith('image-mirror, ') && s.latencyMs === lat);
  if (variants.length > 0) {
    out.push('Other ways to run image-mirror, against the same figures the targets use:', '');
    const seedNoop = medianSeconds(findSeries(results, 'seed loop', 'no-op', lat));
    const floor = medianSeconds(findSeries(results, 'seed loop', 'cold', 0));
    for (const variant of variants) {
      const time = median(variant.samples.map((s) => s.seconds));
      const versus =
        variant.phase === 'no-op'
          ? seedNoop === undefined ? '' : `: ${speed(seedNoop / time)} than the seed loop's no-op at ${lat} ms`
          : floor === undefined ? '' : `: ${((time / floor) * 100).toFixed(0)} % of the seed loop's cold time at 0 ms`;
      out.push(`- ${variant.tool}, ${variant.phase} at ${lat} ms: ${seconds(time)} s${versus}.`);
    }
    out.push('');
  }

  out.push('Other figures:', '');
  if ('calls' in results.github) {
    const g = results.github;
    const parts = Object.entries(g.byEndpoint).map(([endpoint, count]) => `${count} ${endpoint}`).join(', ');
    out.push(`- GitHub API calls of one scheduler run (dry run, its own wiring, against the local GitHub stand-in) for ${g.dockerfiles} Dockerfiles: **${g.calls}** (${parts}); ${g.planned} images planned; budget 2 + ceil(${g.dockerfiles}/100) = ${g.budget}.`);
  } else {
    out.push(`- GitHub API calls: not measured (${results.github.error}).`);
  }
  const b = results.bundle;
  if (!b.zip && !b.handler) out.push(`- Bundled worker: not available (${b.unavailable ?? 'no bundle'}).`);
  else {
    const zip = b.zip ? `\`${b.zip.path}\` ${bytes(b.zip.bytes)}` : 'no zip';
    const handler = b.handler ? `; bundled handler \`${b.handler.path}\` ${bytes(b.handler.bytes)}${b.handler.mapBytes ? ` (+ ${bytes(b.handler.mapBytes)} source map)` : ''}` : '';
    const packaged = b.packageSeconds ? `; \`npm run package\` took ${b.packageSeconds.toFixed(0)} s` : '; as packaged before this run';
    out.push(`- Bundled worker: ${zip}${handler}${packaged}${b.unavailable ? ` (${b.unavailable})` : ''}.`);
  }
  if ('samplesMs' in results.coldInit) {
    const c = results.coldInit;
    const what = c.via === 'bundle' ? `the bundled handler \`${c.module}\`` : `\`${c.module}\` through tsx (no bundle was built)`;
    const maps = c.sourceMapSamplesMs ? `; with \`NODE_OPTIONS=--enable-source-maps\` as deployed: ${ms(c.sourceMapSamplesMs)}` : '';
    out.push(`- Worker cold initialisation: \`import()\` of ${what} in a fresh node process, median of ${c.samplesMs.length}: ${ms(c.samplesMs)}${maps}.`);
  } else {
    out.push(`- Worker cold initialisation: not measured (${results.coldInit.error}).`);
  }
  const { bin, npm } = results.cliStartSeconds;
  out.push(
    `- CLI start-up (\`sync --help\`: the whole module graph, no registry call), median of ${bin.length}: ` +
      `${seconds(median(bin))} s for \`node dist/mirror.mjs\` (the \`mirror\` command), ${seconds(median(npm))} s for \`npm run --silent mirror --\` (npm and tsx).`,
  );
  out.push('', ...renderHostile(results.hostile));
  return `${out.join('\n')}\n`;
}

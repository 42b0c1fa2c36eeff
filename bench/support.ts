import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { captureEnvironment } from '../src/results/environment.js';
import { pointId } from '../src/scenario/sweep.js';
import type { ResultPoint } from '../src/results/schema.js';
import { emptyResults, toResultMetric, writeResults } from '../src/results/write.js';

export { median } from '../src/results/stats.js';

export interface BenchMetric {
  /** e.g. 'decode.pps' */
  name: string;
  unit: string;
  direction: 'higher' | 'lower';
  samples: number[];
  /** The sweep point or variant this metric belongs to (e.g. { buckets: 65536 }). */
  params?: Record<string, string | number | boolean>;
  /** Optional histogram (e.g. chain lengths) and per-core values, shown by `pktbench report`. */
  histogram?: { labels: string[]; counts: number[] };
  perCore?: number[];
}

/**
 * The whole numbers given to a bench's `--name` option (comma-separated), or undefined when the
 * option is absent; throws naming the option when a value is not a whole number >= `min`.
 */
export function countsOption(name: string, min = 1): number[] | undefined {
  const i = process.argv.indexOf(name);
  if (i < 0) return undefined;
  const text = process.argv[i + 1] ?? '';
  const values = text.split(',').map(Number);
  if (text === '' || values.some((n) => !Number.isInteger(n) || n < min)) throw new Error(`${name}: "${text}" is not a whole number >= ${min} (or a comma-separated list of them)`);
  return values;
}

/** countsOption for an option that takes one number, with its default. */
export function countOption(name: string, fallback: number, min = 1): number {
  const values = countsOption(name, min);
  if (values && values.length !== 1) throw new Error(`${name} takes one number, got ${values.length}`);
  return values ? values[0]! : fallback;
}

export const resultsDir = resolve(dirname(fileURLToPath(import.meta.url)), '../../results');

/** A C reference program compiled for this run, or why there is none. */
export type CReference = { readonly binary: string; readonly dir: string } | { readonly skipped: string };

/**
 * Compiles bench/c/<name>.c with `$CC -O2` (default cc) into a temporary folder, for benchmarks
 * that put a compiled loop beside the model on the same machine. Skipped, with the reason, when
 * the compiler or a library is missing; remove `dir` when done.
 */
export function buildCReference(name: string, libraries: readonly string[] = []): CReference {
  const source = resolve(dirname(fileURLToPath(import.meta.url)), `../../bench/c/${name}.c`);
  const dir = mkdtempSync(join(tmpdir(), `pktbench-${name}-`));
  const binary = join(dir, name);
  const cc = process.env.CC ?? 'cc';
  const built = spawnSync(cc, ['-O2', '-o', binary, source, ...libraries], { encoding: 'utf8' });
  if (built.error !== undefined || built.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    const why = built.error !== undefined
      ? `${cc} not runnable (${built.error.message})`
      : `\`${cc} -O2 ... ${libraries.join(' ')}\` failed: ${built.stderr.trim().split('\n')[0] ?? ''}`;
    return { skipped: why };
  }
  return { binary, dir };
}

/**
 * Writes results/<name>.json atomically (temp file + rename) in the results schema (kind "bench":
 * metrics grouped into points by their params) and returns its path. `extra` lands in `extra`.
 */
export function writeBenchResult(name: string, metrics: BenchMetric[], extra: Record<string, unknown> = {}): string {
  const environment = captureEnvironment();
  const byPoint = new Map<string, ResultPoint>();
  for (const m of metrics) {
    const params = m.params ?? {};
    const id = pointId(params);
    let point = byPoint.get(id);
    if (!point) {
      point = { index: byPoint.size, id, params: { ...params }, startedAt: environment.startedAt, durationMs: 0, metrics: [] };
      byPoint.set(id, point);
    }
    point.metrics.push(toResultMetric(m));
  }
  const axes = new Map<string, (string | number | boolean)[]>();
  for (const p of byPoint.values()) {
    for (const [k, v] of Object.entries(p.params)) {
      const values = axes.get(k) ?? [];
      if (!values.includes(v)) values.push(v);
      axes.set(k, values);
    }
  }
  const results = emptyResults(
    'bench',
    {
      name,
      description: `tinybench suite ${name}`,
      hash: `sha256:${createHash('sha256').update(`bench:${name}`).digest('hex')}`,
      file: null,
      axes: [...axes].map(([n, values]) => ({ name: n, values })),
      totalPoints: byPoint.size,
      shard: null,
    },
    environment,
  );
  results.points = [...byPoint.values()];
  if (Object.keys(extra).length > 0) results.extra = extra;
  const path = resolve(resultsDir, `${name}.json`);
  writeResults(path, results);
  return path;
}

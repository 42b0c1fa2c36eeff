import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { captureEnvironment } from '../src/results/environment.js';

export interface BenchMetric {
  /** e.g. 'decode.pps' */
  name: string;
  unit: string;
  direction: 'higher' | 'lower';
  samples: number[];
  /** The sweep point or variant this metric belongs to (e.g. { buckets: 65536 }). */
  params?: Record<string, string | number | boolean>;
}

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export const resultsDir = resolve(dirname(fileURLToPath(import.meta.url)), '../../results');

/** Writes results/<name>.json atomically (temp file + rename) and returns its path. */
export function writeBenchResult(name: string, metrics: BenchMetric[], extra: Record<string, unknown> = {}): string {
  mkdirSync(resultsDir, { recursive: true });
  const path = resolve(resultsDir, `${name}.json`);
  const body = {
    benchmark: name,
    environment: captureEnvironment(),
    metrics: metrics.map((m) => ({ ...m, median: median(m.samples) })),
    ...extra,
  };
  writeFileSync(`${path}.tmp`, `${JSON.stringify(body, null, 2)}\n`);
  renameSync(`${path}.tmp`, path);
  return path;
}

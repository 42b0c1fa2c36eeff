/**
 * Micro-benchmarks of src/results: the Mann–Whitney U test (exact and normal), comparing two
 * results files of a 100-point sweep, and rendering the HTML report. Run: npm run build && node
 * dist/bench/results-stats.js → results/results-stats.json.
 */
import { Bench } from 'tinybench';
import { compareResults } from '../src/results/compare.js';
import { renderReport } from '../src/results/report/html.js';
import type { ResultsFile } from '../src/results/schema.js';
import { mannWhitney } from '../src/results/stats.js';
import { captureEnvironment } from '../src/results/environment.js';
import { emptyResults, toResultMetric } from '../src/results/write.js';
import { median, writeBenchResult, type BenchMetric } from './support.js';

/** A deterministic pseudo-random stream (xorshift32) so that runs compare like with like. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

function sweep(points: number, samples: number, seed: number): ResultsFile {
  const next = rng(seed);
  const r = emptyResults('scenario', { name: 'bench', description: '', hash: 'sha256:0', file: null, axes: [{ name: 'buckets', values: Array.from({ length: points }, (_, i) => i + 1) }], totalPoints: points, shard: null }, captureEnvironment());
  for (let i = 0; i < points; i++) {
    r.points.push({
      index: i,
      id: `buckets=${i + 1}`,
      params: { buckets: i + 1 },
      startedAt: r.environment.startedAt,
      durationMs: 0,
      metrics: ['ns-per-packet', 'chain-length'].map((name) => toResultMetric({ name, unit: 'ns', direction: 'lower', samples: Array.from({ length: samples }, () => 100 + 10 * next()) })),
    });
  }
  return r;
}

const next = rng(7);
const x20 = Array.from({ length: 20 }, () => next());
const y20 = Array.from({ length: 20 }, () => next() + 0.1);
const x200 = Array.from({ length: 200 }, () => next());
const y200 = Array.from({ length: 200 }, () => next() + 0.05);
const base = sweep(100, 10, 1);
const head = sweep(100, 10, 2);
const small = sweep(9, 5, 3);

const bench = new Bench({ time: 1500, warmupTime: 200, retainSamples: true });
bench
  .add('mann-whitney exact 20+20', () => void mannWhitney(x20, y20))
  .add('mann-whitney normal 200+200', () => void mannWhitney(x200, y200))
  .add('compare 100 points × 2 metrics × 10 samples', () => void compareResults(base, 'a', head, 'b'))
  .add('report html 9 points', () => void renderReport([{ name: 'a', results: small }]));
await bench.run();

const metrics: BenchMetric[] = [];
for (const task of bench.tasks) {
  const samples = task.result.state === 'completed' ? [...(task.result.latency.samples ?? [])] : [];
  if (samples.length === 0) throw new Error(`${task.name}: no samples`);
  // Keep at most 200 evenly spaced samples (in µs) so the file stays small.
  const step = Math.max(1, Math.floor(samples.length / 200));
  const kept = samples.filter((_, i) => i % step === 0).map((ms) => ms * 1000);
  metrics.push({ name: task.name, unit: 'µs', direction: 'lower', samples: kept });
  process.stdout.write(`${task.name}: median ${median(kept).toFixed(2)} µs (${samples.length} samples)\n`);
}
process.stdout.write(`${writeBenchResult('results-stats', metrics)}\n`);

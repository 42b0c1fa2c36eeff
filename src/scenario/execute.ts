/**
 * Runs the points of a scenario (or of one shard of it) through a ScenarioPointRunner and keeps
 * the results file up to date after every point (atomic rewrite), so an interrupted sweep loses at
 * most the point in flight and `--resume` continues where it stopped.
 */
import { existsSync } from 'node:fs';
import { InputError, PktbenchError, RunFailure } from '../errors.js';
import type { Environment } from '../results/environment.js';
import type { ResultMetric, ResultPoint, ResultsFile } from '../results/schema.js';
import { emptyResults, readResults, toResultMetric, writeResults } from '../results/write.js';
import type { LoadedScenario } from './load.js';
import { MEASUREMENTS } from './schema.js';
import type { ScenarioPointRunner } from './runner.js';
import { shardPoints, type Shard, type SweepPoint } from './sweep.js';

/** What the progress display hears (a bar on a terminal, lines in CI, nothing in tests). */
export interface ProgressSink {
  begin(total: number, skipped: number): void;
  pointStart(point: SweepPoint, ordinal: number, total: number): void;
  pointProgress(fraction: number): void;
  pointDone(point: SweepPoint, metrics: readonly ResultMetric[], durationMs: number): void;
  end(): void;
}

export const silentProgress: ProgressSink = { begin() {}, pointStart() {}, pointProgress() {}, pointDone() {}, end() {} };

export interface ExecuteOptions {
  scenario: LoadedScenario;
  runner: ScenarioPointRunner;
  /** The results file, rewritten after every point. */
  output: string;
  environment: Environment;
  shard?: Shard;
  /** Keep the points already in `output` (same scenario and shard) and run only the others. */
  resume?: boolean;
  progress?: ProgressSink;
  signal?: AbortSignal;
  /** Clock (tests pin it). */
  now?: () => number;
}

export interface ExecuteOutcome {
  results: ResultsFile;
  ran: number;
  skipped: number;
}

function resumeFrom(options: ExecuteOptions): ResultsFile | null {
  if (!options.resume || !existsSync(options.output)) return null;
  const old = readResults(options.output);
  const s = options.scenario;
  if (old.scenario.name !== s.config.name || old.scenario.hash !== s.hash) {
    throw new InputError(options.output, `--resume: this file holds results of another scenario or of an earlier version of ${s.file}; remove it or write elsewhere with -o`);
  }
  const oldShard = old.scenario.shard;
  const shard = options.shard ?? null;
  if ((oldShard?.index ?? 0) !== (shard?.index ?? 0) || (oldShard?.count ?? 0) !== (shard?.count ?? 0)) {
    throw new InputError(options.output, `--resume: this file holds shard ${oldShard ? `${oldShard.index}/${oldShard.count}` : 'none'}, not ${shard ? `${shard.index}/${shard.count}` : 'the whole sweep'}`);
  }
  return old;
}

export async function executeScenario(options: ExecuteOptions): Promise<ExecuteOutcome> {
  const { scenario, runner } = options;
  const now = options.now ?? Date.now;
  const progress = options.progress ?? silentProgress;
  const signal = options.signal ?? new AbortController().signal;
  const points = options.shard ? shardPoints(scenario.points, options.shard) : [...scenario.points];

  const results =
    resumeFrom(options) ??
    emptyResults(
      'scenario',
      {
        name: scenario.config.name,
        description: scenario.config.description,
        hash: scenario.hash,
        file: scenario.file,
        axes: scenario.axes.map((a) => ({ name: a.name, values: [...a.values] })),
        totalPoints: scenario.points.length,
        shard: options.shard ? { index: options.shard.index, count: options.shard.count } : null,
      },
      options.environment,
    );
  const done = new Set(results.points.map((p) => p.id));
  const todo = points.filter((p) => !done.has(p.id));
  progress.begin(points.length, points.length - todo.length);

  let ran = 0;
  try {
    for (const point of todo) {
      if (signal.aborted) throw new RunFailure(`interrupted; ${results.points.length} point(s) saved in ${options.output}; continue with --resume`);
      progress.pointStart(point, points.length - todo.length + ran + 1, points.length);
      const started = now();
      let metrics: ResultMetric[];
      try {
        const raw = await runner.runPoint(point, { scenario, signal, progress: (f) => progress.pointProgress(f) });
        metrics = raw.map((m) => toResultMetric(m));
        for (const m of metrics) {
          const known = (MEASUREMENTS as Record<string, { unit: string; direction: string } | undefined>)[m.name];
          if (known && (known.unit !== m.unit || known.direction !== m.direction)) {
            throw new RunFailure(`the runner reported ${m.name} in ${m.unit} (${m.direction} is better); the scenario schema defines ${known.unit} (${known.direction} is better)`);
          }
        }
      } catch (err) {
        const why = err instanceof Error ? err.message : String(err);
        const saved = results.points.length > 0 ? `${results.points.length} point(s) saved in ${options.output}; continue with --resume` : 'nothing saved';
        if (err instanceof PktbenchError && !(err instanceof RunFailure)) throw err;
        throw new RunFailure(`point ${point.id}: ${why} (${saved})`);
      }
      const durationMs = now() - started;
      const entry: ResultPoint = { index: point.index, id: point.id, params: { ...point.params }, startedAt: new Date(started).toISOString(), durationMs, metrics };
      results.points.push(entry);
      results.points.sort((a, b) => a.index - b.index);
      writeResults(options.output, results);
      ran++;
      progress.pointDone(point, metrics, durationMs);
    }
  } finally {
    progress.end();
  }
  return { results, ran, skipped: points.length - todo.length };
}

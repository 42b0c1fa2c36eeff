/** Reading and writing results files: atomic writes (temp file + rename), so a reader never sees half a file. */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { InputError } from '../errors.js';
import type { Environment } from './environment.js';
import { parseResults, RESULTS_SCHEMA_ID, RESULTS_SCHEMA_VERSION, type ResultMetric, type ResultsFile } from './schema.js';
import { summarize } from './stats.js';

/** Writes `path` atomically: a crash leaves either the old file or the new one. */
export function writeFileAtomic(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

export function writeResults(path: string, results: ResultsFile): void {
  writeFileAtomic(path, `${JSON.stringify(results, null, 2)}\n`);
}

export function readResults(path: string): ResultsFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputError(path, code === 'ENOENT' ? 'no such results file' : `cannot read: ${code ?? String(err)}`);
  }
  return parseResults(text, path);
}

export interface MetricInput {
  name: string;
  unit: string;
  direction: 'higher' | 'lower';
  samples: readonly number[];
  histogram?: { labels: readonly string[]; counts: readonly number[] };
  perCore?: readonly number[];
}

/** A metric with its summary computed from the samples. */
export function toResultMetric(m: MetricInput): ResultMetric {
  if (m.samples.length === 0 || m.samples.some((v) => !Number.isFinite(v))) {
    throw new InputError('', `metric ${m.name}: samples must be finite numbers, at least one`);
  }
  const out: ResultMetric = { name: m.name, unit: m.unit, direction: m.direction, samples: [...m.samples], summary: summarize(m.samples) };
  if (m.histogram) out.histogram = { labels: [...m.histogram.labels], counts: [...m.histogram.counts] };
  if (m.perCore) out.perCore = [...m.perCore];
  return out;
}

export function emptyResults(kind: ResultsFile['kind'], scenario: ResultsFile['scenario'], environment: Environment): ResultsFile {
  return { $schema: RESULTS_SCHEMA_ID, schemaVersion: RESULTS_SCHEMA_VERSION, kind, scenario, environment, points: [] };
}

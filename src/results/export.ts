/**
 * Exports for dashboards: github-action-benchmark's custom tool format (an array of
 * {name, unit, value, range, extra}; one file is either customBiggerIsBetter or
 * customSmallerIsBetter) and Bencher Metric Format ({benchmark: {measure: {value, lower_value, upper_value}}}).
 */
import { UsageError } from '../errors.js';
import type { ResultsFile } from './schema.js';

export interface GabEntry {
  name: string;
  unit: string;
  value: number;
  range: string;
  extra: string;
}

/** The metrics of one direction: 'higher' → customBiggerIsBetter, 'lower' → customSmallerIsBetter. */
export function toGithubActionBenchmark(results: ResultsFile, direction?: 'higher' | 'lower'): GabEntry[] {
  const directions = new Set(results.points.flatMap((p) => p.metrics.map((m) => m.direction)));
  if (!direction) {
    if (directions.size > 1) {
      throw new UsageError('the results mix higher- and lower-is-better metrics; github-action-benchmark takes one kind per file: add --direction higher (customBiggerIsBetter) or --direction lower (customSmallerIsBetter)');
    }
    direction = directions.has('higher') ? 'higher' : 'lower';
  }
  const out: GabEntry[] = [];
  for (const p of results.points) {
    for (const m of p.metrics) {
      if (m.direction !== direction) continue;
      const s = m.summary;
      out.push({
        name: `${results.scenario.name} ${p.id} ${m.name}`,
        unit: m.unit,
        value: s.median,
        range: `± ${Number(((s.ciHigh - s.ciLow) / 2).toPrecision(4))}`,
        extra: `median of ${s.n} samples; ${Math.round(s.ciLevel * 100)}% CI ${s.ciLow}..${s.ciHigh}; commit ${results.environment.gitCommit ?? 'unknown'}`,
      });
    }
  }
  return out;
}

export type BencherMetricFormat = Record<string, Record<string, { value: number; lower_value: number; upper_value: number }>>;

/** Bencher Metric Format: benchmark = `scenario point`, measure = the metric name (a slug). */
export function toBencherMetricFormat(results: ResultsFile): BencherMetricFormat {
  const out: BencherMetricFormat = {};
  for (const p of results.points) {
    const bench: BencherMetricFormat[string] = (out[`${results.scenario.name} ${p.id}`] ??= {});
    for (const m of p.metrics) {
      const slug = m.name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
      bench[slug] = { value: m.summary.median, lower_value: m.summary.ciLow, upper_value: m.summary.ciHigh };
    }
  }
  return out;
}

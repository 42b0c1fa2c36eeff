/**
 * Compares two results files point by point and metric by metric, benchstat-style: the change of
 * the median, a two-sided Mann–Whitney U test on the samples, `~` when not significant, and the
 * geometric mean of the ratios per metric. Pure: formatting lives in format.ts.
 */
import { InputError } from '../errors.js';
import type { ResultsFile } from './schema.js';
import { geomean, mannWhitney, type Summary } from './stats.js';

export interface CompareOptions {
  /** Significant changes smaller than this fraction (0.05 = 5 %) do not count as regressions. */
  threshold: number;
  /** Significance level of the U test. */
  alpha: number;
}

export const DEFAULT_COMPARE: CompareOptions = { threshold: 0.05, alpha: 0.05 };

export interface CompareRow {
  point: string;
  params: Record<string, string | number | boolean>;
  metric: string;
  unit: string;
  direction: 'higher' | 'lower';
  base: Summary;
  head: Summary;
  /** head median / base median. */
  ratio: number;
  p: number;
  /** p ≤ alpha. */
  significant: boolean;
  /** 'same' when not significant. */
  verdict: 'better' | 'worse' | 'same';
  /** Significant, worse, and beyond the threshold. */
  regression: boolean;
}

export interface MetricGeomean {
  metric: string;
  unit: string;
  direction: 'higher' | 'lower';
  /** Geometric mean over the points of head/base. */
  ratio: number;
  points: number;
}

export interface Comparison {
  scenario: string;
  kind: ResultsFile['kind'];
  options: CompareOptions;
  rows: CompareRow[];
  geomeans: MetricGeomean[];
  regressions: number;
  /** `point metric` present on one side only. */
  onlyInBase: string[];
  onlyInHead: string[];
  baseEnvironment: ResultsFile['environment'];
  headEnvironment: ResultsFile['environment'];
}

/** Refuses files of different scenarios (name or hash) or kinds: their numbers do not compare. */
export function assertComparable(a: ResultsFile, aName: string, b: ResultsFile, bName: string, what = 'compare'): void {
  if (a.kind !== b.kind) throw new InputError('', `cannot ${what} ${aName} (${a.kind}) with ${bName} (${b.kind})`);
  if (a.scenario.name !== b.scenario.name) {
    throw new InputError('', `cannot ${what} different scenarios: ${aName} is "${a.scenario.name}", ${bName} is "${b.scenario.name}"`);
  }
  if (a.scenario.hash !== b.scenario.hash) {
    throw new InputError(
      '',
      `cannot ${what}: scenario "${a.scenario.name}" changed between ${aName} (${a.scenario.hash.slice(0, 19)}…) and ${bName} (${b.scenario.hash.slice(0, 19)}…); rerun both with the same scenario file`,
    );
  }
}

export function compareResults(base: ResultsFile, baseName: string, head: ResultsFile, headName: string, options: CompareOptions = DEFAULT_COMPARE): Comparison {
  assertComparable(base, baseName, head, headName);
  const rows: CompareRow[] = [];
  const onlyInBase: string[] = [];
  const onlyInHead: string[] = [];
  const headPoints = new Map(head.points.map((p) => [p.id, p]));
  const basePoints = new Map(base.points.map((p) => [p.id, p]));
  for (const bp of [...base.points].sort((x, y) => x.index - y.index)) {
    const hp = headPoints.get(bp.id);
    const headMetrics = new Map((hp?.metrics ?? []).map((m) => [m.name, m]));
    for (const bm of bp.metrics) {
      const hm = headMetrics.get(bm.name);
      if (!hm) {
        onlyInBase.push(`${bp.id} ${bm.name}`);
        continue;
      }
      if (hm.unit !== bm.unit || hm.direction !== bm.direction) {
        throw new InputError('', `${bp.id} ${bm.name}: unit or direction differ (${bm.unit}, ${bm.direction} vs ${hm.unit}, ${hm.direction})`);
      }
      const { p } = mannWhitney(bm.samples, hm.samples);
      const ratio = hm.summary.median / bm.summary.median;
      const significant = p <= options.alpha && ratio !== 1;
      const better = bm.direction === 'higher' ? ratio > 1 : ratio < 1;
      const verdict = !significant ? 'same' : better ? 'better' : 'worse';
      rows.push({
        point: bp.id,
        params: bp.params,
        metric: bm.name,
        unit: bm.unit,
        direction: bm.direction,
        base: bm.summary,
        head: hm.summary,
        ratio,
        p,
        significant,
        verdict,
        regression: verdict === 'worse' && Math.abs(ratio - 1) > options.threshold,
      });
    }
  }
  for (const hp of head.points) {
    const bp = basePoints.get(hp.id);
    const names = new Set((bp?.metrics ?? []).map((m) => m.name));
    for (const hm of hp.metrics) if (!names.has(hm.name)) onlyInHead.push(`${hp.id} ${hm.name}`);
  }
  const byMetric = new Map<string, CompareRow[]>();
  for (const r of rows) byMetric.set(r.metric, [...(byMetric.get(r.metric) ?? []), r]);
  const geomeans = [...byMetric].map(([metric, rs]) => ({
    metric,
    unit: rs[0]!.unit,
    direction: rs[0]!.direction,
    ratio: geomean(rs.map((r) => r.ratio)),
    points: rs.length,
  }));
  return {
    scenario: base.scenario.name,
    kind: base.kind,
    options,
    rows,
    geomeans,
    regressions: rows.filter((r) => r.regression).length,
    onlyInBase,
    onlyInHead,
    baseEnvironment: base.environment,
    headEnvironment: head.environment,
  };
}

/** Sweep axes expand to their cartesian product; `--shard i/N` takes a slice of the points. */
import { UsageError } from '../errors.js';
import type { ScenarioConfig } from './schema.js';

export type ParamValue = string | number | boolean;

export interface SweepAxis {
  /** As written in the file (an alias such as `buckets` or a dotted path). */
  readonly name: string;
  /** The setting it changes, e.g. ['conntrack', 'buckets']. */
  readonly path: readonly string[];
  /** Validated values (units resolved). */
  readonly values: readonly ParamValue[];
}

export interface SweepPoint {
  /** Position in the full sweep (0-based), stable across shards. */
  readonly index: number;
  /** `buckets=65536,workers=2` (axis names as written; `base` without a sweep): names the point in results. */
  readonly id: string;
  /** Axis name → value at this point. */
  readonly params: Readonly<Record<string, ParamValue>>;
  /** The scenario with this point's values applied. */
  readonly config: ScenarioConfig;
}

export function pointId(params: Readonly<Record<string, ParamValue>>): string {
  const keys = Object.keys(params);
  return keys.length === 0 ? 'base' : keys.map((k) => `${k}=${String(params[k])}`).join(',');
}

function withValue(config: ScenarioConfig, path: readonly string[], value: ParamValue): ScenarioConfig {
  const copy = structuredClone(config) as unknown as Record<string, unknown>;
  let node = copy;
  for (const key of path.slice(0, -1)) {
    if (typeof node[key] !== 'object' || node[key] === null) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
  return copy as unknown as ScenarioConfig;
}

/** Every combination of the axes' values, the last axis varying fastest (like nested loops). */
export function expandSweep(config: ScenarioConfig, axes: readonly SweepAxis[]): SweepPoint[] {
  const total = axes.reduce((n, a) => n * a.values.length, 1);
  const points: SweepPoint[] = [];
  for (let index = 0; index < total; index++) {
    let rest = index;
    const params: Record<string, ParamValue> = {};
    let pointConfig = config;
    for (let a = axes.length - 1; a >= 0; a--) {
      const axis = axes[a]!;
      const value = axis.values[rest % axis.values.length]!;
      rest = Math.floor(rest / axis.values.length);
      pointConfig = withValue(pointConfig, axis.path, value);
      params[axis.name] = value;
    }
    const ordered: Record<string, ParamValue> = {};
    for (const axis of axes) ordered[axis.name] = params[axis.name]!;
    points.push({ index, id: pointId(ordered), params: ordered, config: pointConfig });
  }
  return points;
}

export interface Shard {
  /** 1-based, as CI matrices count. */
  readonly index: number;
  readonly count: number;
}

/** Parses `i/N` (1 ≤ i ≤ N). */
export function parseShard(text: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || count < 1 || index < 1 || index > count) throw new UsageError(`--shard ${text}: expected i/N with 1 ≤ i ≤ N, e.g. 2/4`);
  return { index, count };
}

/** The points of shard i of N: every N-th point starting at i-1, so slow and fast points spread evenly. */
export function shardPoints<T extends { readonly index: number }>(points: readonly T[], shard: Shard): T[] {
  return points.filter((p) => p.index % shard.count === shard.index - 1);
}

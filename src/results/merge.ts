/** Joins the results of the shards of one sweep (`pktbench run --shard i/N` on several machines). */
import { InputError } from '../errors.js';
import { assertComparable } from './compare.js';
import type { ResultsFile } from './schema.js';

export interface NamedResults {
  name: string;
  results: ResultsFile;
}

/**
 * One file with every point. Refuses different scenarios and a point measured twice with
 * different numbers. The first file's environment is kept; each shard's is listed in extra.shards.
 */
export function mergeResults(inputs: readonly NamedResults[]): { merged: ResultsFile; missing: number[] } {
  if (inputs.length === 0) throw new InputError('', 'nothing to merge');
  const first = inputs[0]!;
  const points = new Map<number, { from: string; json: string; point: ResultsFile['points'][number] }>();
  for (const input of inputs) {
    assertComparable(first.results, first.name, input.results, input.name, 'merge');
    for (const p of input.results.points) {
      const json = JSON.stringify(p);
      const seen = points.get(p.index);
      if (seen && seen.json !== json) {
        throw new InputError('', `point ${p.id} is in both ${seen.from} and ${input.name} with different measurements (overlapping shards?)`);
      }
      points.set(p.index, { from: input.name, json, point: p });
    }
  }
  const total = first.results.scenario.totalPoints;
  const missing: number[] = [];
  for (let i = 0; i < total; i++) if (!points.has(i)) missing.push(i);
  const merged: ResultsFile = {
    ...first.results,
    scenario: { ...first.results.scenario, shard: null },
    points: [...points.values()].map((v) => v.point).sort((a, b) => a.index - b.index),
    extra: {
      ...(first.results.extra ?? {}),
      shards: inputs.map((i) => ({ file: i.name, shard: i.results.scenario.shard, environment: i.results.environment })),
    },
  };
  return { merged, missing };
}

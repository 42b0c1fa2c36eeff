import type { Environment } from '../../src/results/environment.js';
import type { ResultsFile } from '../../src/results/schema.js';
import { emptyResults, toResultMetric } from '../../src/results/write.js';

export const fixedEnvironment: Environment = {
  pktbenchVersion: '0.1.0',
  gitCommit: '0123456789abcdef0123456789abcdef01234567',
  gitDirty: false,
  node: '20.19.0',
  v8: '11.3.244.8',
  cpuModel: 'Test CPU',
  cores: 2,
  memoryBytes: 8 * 1024 ** 3,
  os: 'Linux 6.1.0 x64',
  startedAt: '2026-11-22T12:00:00.000Z',
};

/** A results file of the `ct` scenario with one metric per point: samples given per point id (buckets=…). */
export function sampleResults(samples: Record<string, number[]>, options: { hash?: string; name?: string; direction?: 'higher' | 'lower' } = {}): ResultsFile {
  const ids = Object.keys(samples);
  const r = emptyResults(
    'scenario',
    {
      name: options.name ?? 'ct',
      description: 'test',
      hash: options.hash ?? 'sha256:aaaa',
      file: 'ct.yaml',
      axes: [{ name: 'buckets', values: ids.map((id) => Number(id.split('=')[1])) }],
      totalPoints: ids.length,
      shard: null,
    },
    fixedEnvironment,
  );
  r.points = ids.map((id, index) => ({
    index,
    id,
    params: { buckets: Number(id.split('=')[1]) },
    startedAt: fixedEnvironment.startedAt,
    durationMs: 10,
    metrics: [toResultMetric({ name: 'ns-per-packet', unit: 'ns', direction: options.direction ?? 'lower', samples: samples[id]! })],
  }));
  return r;
}

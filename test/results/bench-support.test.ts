import Ajv from 'ajv';
import { readFileSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeBenchResult } from '../../bench/support.js';
import { readResults } from '../../src/results/write.js';
import { repoRoot } from '../support/shared.js';

describe('writeBenchResult, used by every area\'s benchmarks', () => {
  it('keeps its signature and writes the results schema, one point per params', () => {
    const path = writeBenchResult(`test-support-${process.pid}`, [
      { name: 'lookup.ns', unit: 'ns', direction: 'lower', samples: [3, 1, 2], params: { buckets: 1024 } },
      { name: 'lookup.ns', unit: 'ns', direction: 'lower', samples: [6, 5, 4], params: { buckets: 2048 } },
      { name: 'decode.pps', unit: 'pps', direction: 'higher', samples: [10] },
    ], { note: 'x' });
    try {
      const validate = new Ajv().compile(JSON.parse(readFileSync(resolve(repoRoot, 'schema/results-v1.json'), 'utf8')) as object);
      expect(validate(JSON.parse(readFileSync(path, 'utf8')))).toBe(true);
      const r = readResults(path);
      expect(r.kind).toBe('bench');
      expect(r.points.map((p) => [p.id, p.metrics.map((m) => [m.name, m.summary.median])])).toEqual([
        ['buckets=1024', [['lookup.ns', 2]]],
        ['buckets=2048', [['lookup.ns', 5]]],
        ['base', [['decode.pps', 10]]],
      ]);
      expect(r.scenario.axes).toEqual([{ name: 'buckets', values: [1024, 2048] }]);
      expect(r.extra).toEqual({ note: 'x' });
    } finally {
      rmSync(path, { force: true });
    }
  });
});

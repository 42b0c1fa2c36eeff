import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { replay } from '../../src/harness/pool.js';
import { repoRoot } from '../support/shared.js';
import { batchesOf, generatedTrace } from './trace.js';

const orderStage = resolve(repoRoot, 'fixtures/pipeline/order-stage.mjs');

describe('pool batch order', () => {
  it('every worker sees its packets in trace order, however small the batches (conntrack depends on it)', async () => {
    const trace = generatedTrace({ seed: 3, flows: 200, packets: 6000, concurrent: 50 });
    for (const workers of [1, 3]) {
      const r = await replay(batchesOf(trace, 2048), { workers, dispatch: { policy: 'rss-symmetric' }, stages: [{ name: 'order' }], batchSize: 50, inFlight: 4, stageModules: [orderStage] });
      expect(r.stages[0]!.counters).toEqual({ bad: 0, n: 6000 });
    }
  });
});

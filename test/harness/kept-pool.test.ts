/**
 * A WorkerPool's threads serve several replays (a scenario's warm-up and measured runs): each
 * replay starts afresh on them and gives exactly what a replay on fresh threads gives.
 */
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SyntheticTrace } from '../../src/cores/synthetic.js';
import { RunFailure, UsageError } from '../../src/errors.js';
import { replay, WorkerPool, type ReplayConfig } from '../../src/harness/pool.js';
import { repoRoot } from '../support/shared.js';

const failingStage = resolve(repoRoot, 'fixtures/cores/failing-stage.mjs');
const stages = [
  { name: 'hash-work', config: { rounds: 2 } },
  { name: 'flow-accounting', config: { top: 1_000_000, capacity: 4096 } },
];
const trace = (seed: number) => new SyntheticTrace({ kind: 'zipf', packets: 5_000, flows: 400, seed }).batches(1000);
const config = (extra: Partial<ReplayConfig> = {}): ReplayConfig => ({ workers: 2, dispatch: { policy: 'rss-symmetric' }, stages, batchSize: 300, inFlight: 3, ...extra });

describe('worker threads kept across replays', () => {
  it('three replays on one pool equal replays on fresh threads, different traces included', async () => {
    const pool = new WorkerPool(2);
    try {
      for (const seed of [1, 2, 1]) {
        const fresh = await replay(trace(seed), config());
        const kept = await replay(trace(seed), config({ pool }));
        expect(kept.packets).toBe(5_000);
        expect(kept.stages).toEqual(fresh.stages);
        expect(kept.perWorker.map((w) => w.packets)).toEqual(fresh.perWorker.map((w) => w.packets));
      }
    } finally {
      await pool.close();
    }
  });

  it('refuses a pool of another size, a pool in use and a closed pool', async () => {
    const pool = new WorkerPool(2);
    try {
      await expect(replay(trace(1), config({ workers: 3, pool }))).rejects.toThrow(UsageError);
      const first = replay(trace(1), config({ pool }));
      await expect(replay(trace(1), config({ pool }))).rejects.toThrow(/another replay/);
      await first;
    } finally {
      await pool.close();
    }
    await expect(replay(trace(1), config({ pool }))).rejects.toThrow(/closed/);
  });

  it('a replay that fails closes the pool (its threads may hold half a batch)', async () => {
    const pool = new WorkerPool(2);
    const failing = config({ pool, stages: [{ name: 'fail-at-frame', config: { frame: 1234 } }], stageModules: [failingStage] });
    await expect(replay(trace(1), failing)).rejects.toThrow(RunFailure);
    await expect(replay(trace(1), config({ pool }))).rejects.toThrow(/closed/);
  });
});

import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Dispatcher, type DispatchPolicy } from '../../src/cores/dispatch.js';
import { SyntheticTrace } from '../../src/cores/synthetic.js';
import { RunFailure, UsageError } from '../../src/errors.js';
import { defaultBatchSize, replay, type ReplayConfig, type Transfer } from '../../src/harness/pool.js';
import type { FlowAccountingData } from '../../src/pipeline/flow-accounting.js';
import type { PacketBatch } from '../../src/trace/batch.js';
import { repoRoot } from '../support/shared.js';
import { batchesOf } from '../cores/packets.js';

const failingStage = resolve(repoRoot, 'fixtures/cores/failing-stage.mjs');
const zipf = { kind: 'zipf', packets: 6_000, flows: 500, seed: 3 } as const;
const stages = [
  { name: 'hash-work', config: { rounds: 2 } },
  { name: 'flow-accounting', config: { top: 1_000_000, capacity: 4096 } },
];

describe.each(['indexed', 'copy'] as Transfer[])('worker pool, %s transfer', (transfer) => {
  function run(workers: number, policy: DispatchPolicy, extra: Partial<ReplayConfig> = {}, batches: AsyncIterable<PacketBatch> | Iterable<PacketBatch> = new SyntheticTrace(zipf).batches(1000)) {
    return replay(batches, { workers, dispatch: { policy }, stages, batchSize: 512, inFlight: 2, transfer, ...extra });
  }

  it('merges per-worker results into exactly the one-thread results', async () => {
    const one = await run(0, 'rss');
    expect(one.packets).toBe(6_000);
    const flows = one.stages[1]!.data as FlowAccountingData;
    expect(flows.top.reduce((a, r) => a + r.packets, 0)).toBe(6_000);
    expect(flows.top).toHaveLength(flows.flows);
    // Every policy once with the default transfer; the copy transfer shares all code past the
    // hand-over, so two policies (pinned and not) cover it.
    const policies: DispatchPolicy[] = transfer === 'indexed' ? ['rss-symmetric', 'rss', 'round-robin', 'src-ip'] : ['rss', 'round-robin'];
    for (const policy of policies) {
      const pool = await run(2, policy);
      expect(pool.partial).toBe(false);
      expect(pool.packets).toBe(6_000);
      expect(pool.stages).toEqual(one.stages);
    }
    if (transfer === 'indexed') {
      const three = await run(3, 'rss-symmetric');
      expect(three.stages).toEqual(one.stages);
    }
  });

  it('shared-table mode: one Atomics-locked table, round-robin, same merged flows', async () => {
    const sharedStages = [stages[0]!, { name: 'flow-accounting', config: { top: 1_000_000, capacity: 4096, shared: true } }];
    const one = await run(0, 'rss');
    const pool = await replay(new SyntheticTrace(zipf).batches(1000), { workers: 2, dispatch: { policy: 'round-robin' }, stages: sharedStages, batchSize: 512, transfer });
    expect(pool.mode).toBe('shared-table');
    expect(pool.perWorker.map((w) => w.packets)).toEqual([3000, 3000]);
    expect(pool.stages).toEqual(one.stages);
  });

  it('pins every flow to one worker: per-worker packets follow the dispatch policy', async () => {
    const expected = [0, 0, 0];
    const sourceBatchesSeen = [0, 0, 0];
    const d = new Dispatcher({ policy: 'rss-symmetric', cores: 3 });
    for await (const b of new SyntheticTrace(zipf).batches(1000)) {
      const seen = [false, false, false];
      for (let i = 0; i < b.count; i++) {
        const w = d.assign(b, i);
        expected[w]!++;
        seen[w] = true;
      }
      seen.forEach((s, w) => (sourceBatchesSeen[w]! += s ? 1 : 0));
    }
    const pool = await run(3, 'rss-symmetric');
    expect(pool.mode).toBe('pinned');
    expect(pool.perWorker.map((w) => w.packets)).toEqual(expected);
    // copy: batches of 512 per worker, ceil(packets / 512) each; indexed: one task per source
    // batch holding packets of that worker.
    expect(pool.perWorker.map((w) => w.batches)).toEqual(transfer === 'copy' ? expected.map((n) => Math.ceil(n / 512)) : sourceBatchesSeen);
    expect(pool.imbalance).toBeCloseTo(Math.max(...expected) / 2000, 12);
  });

  it('accounts small hand-made traffic exactly (top flows by bytes)', async () => {
    const packets = [
      { src: '10.0.0.1', dst: '10.0.0.2', sport: 1000, dport: 80, len: 100 },
      { src: '10.0.0.2', dst: '10.0.0.1', sport: 80, dport: 1000, len: 1500 },
      { src: '10.0.0.1', dst: '10.0.0.2', sport: 1000, dport: 80, len: 100 },
      { src: '2001:db8::1', dst: '2001:db8:0:1::2', sport: 5353, dport: 53, proto: 17, len: 90 },
    ];
    // Source batches of different capacities through one in-flight slot: the pool must replace
    // its buffer and the workers their views.
    const source = [...batchesOf(packets.slice(0, 2), 2), ...batchesOf(packets.slice(2), 5)];
    const r = await replay(source, { workers: 2, dispatch: { policy: 'rss' }, stages: [{ name: 'flow-accounting', config: { top: 2 } }], batchSize: 2, inFlight: 1, transfer });
    expect(r.stages[0]!.counters).toEqual({ packets: 4, bytes: 1790, nonIpPackets: 0, nonIpBytes: 0, skippedDropped: 0, overflowPackets: 0, overflowBytes: 0 });
    expect(r.stages[0]!.data).toEqual({
      flows: 3,
      top: [
        { l3: 4, proto: 6, src: '10.0.0.2', dst: '10.0.0.1', sport: 80, dport: 1000, packets: 1, bytes: 1500 },
        { l3: 4, proto: 6, src: '10.0.0.1', dst: '10.0.0.2', sport: 1000, dport: 80, packets: 2, bytes: 200 },
      ],
    });
  });

  it('a worker that throws aborts the run naming the worker and batch, without hanging', async () => {
    const d = new Dispatcher({ policy: 'rss-symmetric', cores: 2 });
    let worker = -1;
    for await (const b of new SyntheticTrace(zipf).batches(1000)) for (let i = 0; i < b.count; i++) if (b.frameNo[i] === 4321) worker = d.assign(b, i); else d.assign(b, i);
    const p = replay(new SyntheticTrace(zipf).batches(1000), {
      workers: 2,
      dispatch: { policy: 'rss-symmetric' },
      stages: [{ name: 'fail-at-frame', config: { frame: 4321 } }],
      stageModules: [failingStage],
      batchSize: 256,
      transfer,
    });
    await expect(p).rejects.toBeInstanceOf(RunFailure);
    await expect(p).rejects.toThrow(new RegExp(`^worker ${worker} failed on batch \\d+ \\(frames \\d+\\.\\.\\d+\\): boom at frame 4321$`));
  });

  it('stops on abort and reports partial results', async () => {
    const controller = new AbortController();
    async function* source(): AsyncGenerator<PacketBatch> {
      let n = 0;
      for await (const b of new SyntheticTrace(zipf).batches(1000)) {
        if (++n === 4) controller.abort();
        yield b;
      }
    }
    const r = await run(2, 'rss-symmetric', { signal: controller.signal }, source());
    expect(r.partial).toBe(true);
    // Three batches were dispatched before the abort was seen; all of them were processed.
    expect(r.packets).toBe(3000);
    expect(r.stages[0]!.counters.packets).toBe(3000);
    const inline = await run(0, 'rss', { signal: AbortSignal.abort() });
    expect(inline.partial).toBe(true);
    expect(inline.packets).toBe(0);
  });

  it('an empty trace gives zero counts, not an error', async () => {
    const r = await run(2, 'rss', {}, []);
    expect(r.packets).toBe(0);
    expect(r.partial).toBe(false);
    expect(r.stages[1]!.counters.packets).toBe(0);
    expect((r.stages[1]!.data as FlowAccountingData).flows).toBe(0);
  });

  it('refuses unknown stages and bad sizes as usage errors', async () => {
    await expect(replay([], { workers: 1, dispatch: { policy: 'rss' }, stages: [{ name: 'nope' }] })).rejects.toThrow('unknown stage "nope"');
    await expect(replay([], { workers: 1, dispatch: { policy: 'rss' }, stages, batchSize: 0 })).rejects.toThrow('batch size must be 1..1048576');
    await expect(replay([], { workers: 1, dispatch: { policy: 'rss' }, stages: [{ name: 'hash-work', config: { rounds: -1 } }] })).rejects.toThrow('hash-work rounds');
    await expect(replay([], { workers: 2, dispatch: { policy: 'rss', retaWeights: [0, 0] }, stages })).rejects.toThrow(new UsageError('dispatch: At least one weight must be non-zero'));
  });

  it.skipIf(process.platform !== 'linux' || transfer === 'copy')('pins worker threads to CPUs and reports what the kernel applied', async () => {
    const r = await run(2, 'rss', { pin: [0, 0] });
    for (const w of r.perWorker) {
      expect(w.affinity.cpu).toBe(0);
      expect(w.affinity.tid).toBeGreaterThan(0);
      expect(w.affinity.applied).toBe(true);
      expect(w.affinity.detail).toBe('Cpus_allowed_list 0');
    }
    expect(r.perWorker[0]!.affinity.tid).not.toBe(r.perWorker[1]!.affinity.tid);
  });
});

describe('default batch size', () => {
  it('is 4096 below 8 workers and 16384 from 8 on (one message per worker per batch)', async () => {
    expect([0, 1, 7, 8, 16].map(defaultBatchSize)).toEqual([4096, 4096, 4096, 16384, 16384]);
    // A reader fills the pool's own batches of the chosen size (batches given as such keep theirs).
    const reader = () => {
      const trace = new SyntheticTrace({ kind: 'zipf', packets: 20_000, flows: 50, seed: 5 });
      return { read: (b: PacketBatch) => Promise.resolve(trace.fill(b)) };
    };
    const r = await replay(reader(), { workers: 8, dispatch: { policy: 'rss' }, stages: [{ name: 'flow-accounting' }] });
    expect(r.batchSize).toBe(16384);
    expect(r.packets).toBe(20_000);
    const given = await replay(reader(), { workers: 8, dispatch: { policy: 'rss' }, stages: [{ name: 'flow-accounting' }], batchSize: 1000 });
    expect(given.batchSize).toBe(1000);
    expect(given.packets).toBe(20_000);
  });
});

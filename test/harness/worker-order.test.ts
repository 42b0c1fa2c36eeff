/**
 * The worker runs its batches in `seq` order whatever order they arrive in (the pool posts them
 * without waiting for the previous one, and piscina does not promise submission order).
 */
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { pack, unpack, type InitControl, type ShardReport, type TaskMessage } from '../../src/harness/messages.js';
import task from '../../src/harness/worker.js';
import { PacketBatch } from '../../src/trace/batch.js';
import { repoRoot } from '../support/shared.js';

const orderStage = resolve(repoRoot, 'fixtures/pipeline/order-stage.mjs');

function framesBatch(first: number, count: number): PacketBatch {
  const b = new PacketBatch(count);
  for (let i = 0; i < count; i++) b.frameNo[i] = first + i;
  b.count = count;
  return b;
}

describe('worker batch order', () => {
  it('a batch that arrives early waits for the ones before it', async () => {
    const control: InitControl = { shard: 0, shards: 1, stages: [{ name: 'order' }], stageModules: [orderStage], pinCpu: null, sampleEvery: 64 };
    await task({ kind: 'init', control: pack(control), shared: [] });
    const batches = [framesBatch(1, 50), framesBatch(51, 50), framesBatch(101, 50)];
    const msg = (seq: number): TaskMessage => ({ kind: 'batch', seq, slot: seq, buffer: batches[seq]!.buffer, originSec: 0 });
    const ran: number[] = [];
    const third = task(msg(2)).then(() => ran.push(2));
    const second = task(msg(1)).then(() => ran.push(1));
    await new Promise((r) => setTimeout(r, 20));
    expect(ran).toEqual([]);
    await task(msg(0)).then(() => ran.push(0));
    await Promise.all([second, third]);
    expect(ran).toEqual([0, 1, 2]);
    const report = unpack<ShardReport>(await task({ kind: 'finish', endNs: null }));
    expect(report.results[0]!.counters).toEqual({ bad: 0, n: 150 });
  });
});

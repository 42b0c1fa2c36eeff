import { describe, expect, it } from 'vitest';
import { builtinRegistry } from '../../src/pipeline/builtin.js';
import { formatAddress } from '../../src/pipeline/flow-accounting.js';
import { hashWorkValue } from '../../src/pipeline/hash-work.js';
import { Pipeline } from '../../src/pipeline/pipeline.js';
import type { MergeableStage } from '../../src/pipeline/registry.js';
import { mergeClocks, sumCounters } from '../../src/pipeline/result.js';
import { Verdict, type PacketBatch } from '../../src/trace/batch.js';
import { batchesOf, v6 } from '../cores/packets.js';

/** Records the order of (stage, frame) calls. */
function recorder(name: string, log: string[], cost = 0, tick?: { t: number }): MergeableStage {
  return {
    name,
    packet(b: PacketBatch, i: number) {
      log.push(`${name}:${b.frameNo[i]}`);
      if (tick) tick.t += cost;
    },
    snapshot: () => ({ stage: name, counters: {} }),
  };
}

describe('Pipeline', () => {
  const packets = Array.from({ length: 6 }, (_, k) => ({ src: '10.0.0.1', dst: '10.0.0.2', sport: 1000 + k, dport: 80 }));

  it('walks each packet through every stage before the next packet; indexed runs take only the listed packets', () => {
    const log: string[] = [];
    const p = new Pipeline([recorder('a', log), recorder('b', log)]);
    const [b] = batchesOf(packets, 6);
    p.runIndexed(b!, Uint32Array.of(4, 1), 2, 1_700_000_000);
    expect(log).toEqual(['a:5', 'b:5', 'a:2', 'b:2']);
    expect(p.packets).toBe(2);
  });

  it('times every n-th packet stage by stage and scales the estimate up', () => {
    const tick = { t: 0 };
    const log: string[] = [];
    // Stage a costs 10 "ns" per call, b 30; the clock only moves when a stage runs.
    const p = new Pipeline([recorder('a', log, 10, tick), recorder('b', log, 30, tick)], { sampleEvery: 3, clock: () => tick.t });
    const [b] = batchesOf(packets, 6);
    p.runBatch(b!, 1_700_000_000);
    // Packets 3 and 6 are sampled: a = 2 x 10 over 2 samples -> 10/packet x 6 packets.
    expect(p.clocks()).toEqual([
      { stage: 'a', packets: 6, sampledPackets: 2, estimatedNs: 60 },
      { stage: 'b', packets: 6, sampledPackets: 2, estimatedNs: 180 },
    ]);
    expect(p.busyNs).toBe(240);
    expect(mergeClocks([p.clocks(), p.clocks()])[1]).toEqual({ stage: 'b', packets: 12, sampledPackets: 4, estimatedNs: 360 });
  });

  it('flow-accounting skips packets an earlier stage dropped, counts non-IP apart', () => {
    const registry = builtinRegistry();
    const [b] = batchesOf([...packets.slice(0, 3), { src: '10.0.0.9', dst: '10.0.0.2', sport: 1, dport: 2, len: 60 }], 4);
    b!.verdict[1] = Verdict.DROP;
    b!.l3[3] = 0;
    const p = Pipeline.build(registry, [{ name: 'flow-accounting' }], { shard: 0, shards: 1, shared: [] });
    p.runBatch(b!, 1_700_000_000);
    const r = registry.mergeAll([{ name: 'flow-accounting' }], [p.results()])[0]!;
    expect(r.counters).toEqual({ packets: 3, bytes: 260, nonIpPackets: 1, nonIpBytes: 60, skippedDropped: 1, overflowPackets: 0, overflowBytes: 0 });
    expect((r.data as { flows: number }).flows).toBe(2);
  });

  it('flow-accounting counts packets beyond its capacity as overflow', () => {
    const registry = builtinRegistry();
    const many = Array.from({ length: 20 }, (_, k) => ({ src: '10.0.0.1', dst: '10.0.0.2', sport: k + 1, dport: 80, len: 100 }));
    const p = Pipeline.build(registry, [{ name: 'flow-accounting', config: { capacity: 8 } }], { shard: 0, shards: 1, shared: [] });
    for (const b of batchesOf(many, 20)) p.runBatch(b, 1_700_000_000);
    const r = registry.mergeAll([{ name: 'flow-accounting', config: { capacity: 8 } }], [p.results()])[0]!;
    // 8 slots, 7/8 usable: 7 flows tracked, 13 packets overflow.
    expect((r.data as { flows: number }).flows).toBe(7);
    expect(r.counters.overflowPackets).toBe(13);
    expect(r.counters.overflowBytes).toBe(1300);
  });

  it('hash-work sums are additive and match the chained hash', () => {
    const [b] = batchesOf(packets, 6);
    const registry = builtinRegistry();
    const spec = [{ name: 'hash-work', config: { rounds: 3 } }];
    const p = Pipeline.build(registry, spec, { shard: 0, shards: 1, shared: [] });
    p.runBatch(b!, 1_700_000_000);
    let low = 0;
    let high = 0;
    for (let i = 0; i < 6; i++) {
      const h = hashWorkValue(b!, i, 3);
      low += h & 0xffff;
      high += h >>> 16;
    }
    expect(p.results()[0]!.counters).toEqual({ packets: 6, hashSumLow: low, hashSumHigh: high });
    expect(sumCounters([p.results()[0]!, p.results()[0]!])).toEqual({ packets: 12, hashSumLow: 2 * low, hashSumHigh: 2 * high });
  });

  it('formats addresses as iptables and conntrack print them', () => {
    expect(formatAddress(4, Uint32Array.of(0xc0000201), 0)).toBe('192.0.2.1');
    expect(formatAddress(6, v6('2001:db8::1'), 0)).toBe('2001:db8::1');
    expect(formatAddress(6, v6('fe80::200:f8ff:fe21:67cf'), 0)).toBe('fe80::200:f8ff:fe21:67cf');
    expect(formatAddress(6, v6('2001:db8:0:1:0:0:0:1'), 0)).toBe('2001:db8:0:1::1');
    expect(formatAddress(6, v6('::'), 0)).toBe('::');
    expect(formatAddress(6, v6('1:0:0:2:0:0:0:3'), 0)).toBe('1:0:0:2::3');
  });
});

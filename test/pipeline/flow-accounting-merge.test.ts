import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { builtinRegistry } from '../../src/pipeline/builtin.js';
import type { FlowAccountingData, FlowRow } from '../../src/pipeline/flow-accounting.js';
import { Pipeline } from '../../src/pipeline/pipeline.js';
import { batchesOf, type TestPacket } from '../cores/packets.js';

/** The merge's contract, computed the plain way: sum per 5-tuple, sort every flow, take the first `top`. */
function reference(packets: readonly TestPacket[], top: number): { flows: number; top: FlowRow[] } {
  const byKey = new Map<string, FlowRow>();
  for (const p of packets) {
    const proto = p.proto ?? 6;
    const key = `${p.src}|${p.dst}|${proto}|${p.sport ?? 0}|${p.dport ?? 0}`;
    const e = byKey.get(key);
    if (e) byKey.set(key, { ...e, packets: e.packets + 1, bytes: e.bytes + (p.len ?? 100) });
    else byKey.set(key, { l3: 4, proto, src: p.src, dst: p.dst, sport: p.sport ?? 0, dport: p.dport ?? 0, packets: 1, bytes: p.len ?? 100 });
  }
  // Key order as the table's key words: l3 | proto << 8, then source, destination, ports.
  const words = (r: FlowRow): number[] => [r.l3 | (r.proto << 8), ...r.src.split('.').map(Number), ...r.dst.split('.').map(Number), r.sport * 65536 + r.dport];
  const cmpKey = (a: FlowRow, b: FlowRow): number => {
    const x = words(a);
    const y = words(b);
    for (let k = 0; k < x.length; k++) if (x[k] !== y[k]) return x[k]! - y[k]!;
    return 0;
  };
  const rows = [...byKey.values()].sort((a, b) => b.bytes - a.bytes || b.packets - a.packets || cmpKey(a, b));
  return { flows: rows.length, top: rows.slice(0, top) };
}

const packet = fc.record({
  src: fc.constantFrom('10.0.0.1', '10.0.0.2', '10.1.2.3'),
  dst: fc.constantFrom('192.0.2.1', '192.0.2.200'),
  proto: fc.constantFrom(6, 17),
  sport: fc.integer({ min: 1, max: 4 }),
  dport: fc.constantFrom(53, 80, 443),
  // Few lengths, so that ties are common: equal bytes over different packet counts (300 = 3 x 100
  // = 5 x 60) and equal bytes and packets (then the key decides).
  len: fc.constantFrom(60, 100, 300),
});

describe('flow-accounting merge', () => {
  it('gives the flows and the top list of one table over all packets, whatever the split over shards (ties included)', () => {
    const registry = builtinRegistry();
    fc.assert(
      fc.property(fc.array(packet, { minLength: 1, maxLength: 300 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 0, max: 12 }), (packets, shards, top) => {
        const spec = [{ name: 'flow-accounting', config: { top } }];
        const pipelines = Array.from({ length: shards }, (_, s) => Pipeline.build(registry, spec, { shard: s, shards, shared: [] }));
        // Round-robin: a flow's packets land on several shards and must add up in the merge.
        packets.forEach((p, k) => {
          const [b] = batchesOf([p], 1);
          pipelines[k % shards]!.runBatch(b!, 1_700_000_000);
        });
        const merged = registry.mergeAll(spec, pipelines.map((p) => p.results()))[0]!;
        const want = reference(packets, top);
        const data = merged.data as FlowAccountingData;
        expect(data.flows).toBe(want.flows);
        expect(data.top).toEqual(want.top);
        expect(merged.counters.packets).toBe(packets.length);
      }),
      { numRuns: 150 },
    );
  });

  it('orders equal bytes by packets, then by key, across shards', () => {
    const registry = builtinRegistry();
    const spec = [{ name: 'flow-accounting', config: { top: 3 } }];
    // 300 bytes each: A in 3 packets (over two shards), B in 1, C in 1 with a lower source port than B.
    const a = { src: '10.0.0.2', dst: '192.0.2.1', sport: 9, dport: 80, len: 100 };
    const b = { src: '10.0.0.1', dst: '192.0.2.1', sport: 7, dport: 80, len: 300 };
    const c = { src: '10.0.0.1', dst: '192.0.2.1', sport: 5, dport: 80, len: 300 };
    const shards = [[a, b], [a, a, c]].map((ps, s) => {
      const p = Pipeline.build(registry, spec, { shard: s, shards: 2, shared: [] });
      for (const batch of batchesOf(ps, 4)) p.runBatch(batch, 1_700_000_000);
      return p.results();
    });
    const data = registry.mergeAll(spec, shards)[0]!.data as FlowAccountingData;
    expect(data.flows).toBe(3);
    expect(data.top.map((r) => [r.src, r.sport, r.packets, r.bytes])).toEqual([['10.0.0.2', 9, 3, 300], ['10.0.0.1', 5, 1, 300], ['10.0.0.1', 7, 1, 300]]);
  });
});

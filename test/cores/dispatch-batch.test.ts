/**
 * The pool's batch path (Dispatcher.assignBatch, rssHashRange) against the per-packet reference
 * (Dispatcher.assign, rssHash) on random batches: every packet's flowHash and core, the index
 * lists and the counts must be identical, for every policy and RETA / RPS configuration.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DISPATCH_POLICIES, Dispatcher, rssHash, rssHashRange, type DispatchConfig } from '../../src/cores/dispatch.js';
import { MICROSOFT_RSS_KEY, SYMMETRIC_RSS_KEY, ToeplitzKey } from '../../src/hash/toeplitz.js';
import { PacketBatch, PacketFlag } from '../../src/trace/batch.js';
import { batchesOf } from './packets.js';

interface RandomPacket {
  l3: number;
  flags: number;
  proto: number;
  src: number[];
  dst: number[];
  sport: number;
  dport: number;
}

const word = fc.integer({ min: 0, max: 0xffffffff });
const flagBits = PacketFlag.IP | PacketFlag.PORTS | PacketFlag.FRAGMENT | PacketFlag.LATER_FRAGMENT | PacketFlag.TCP;
const randomPacket: fc.Arbitrary<RandomPacket> = fc.record({
  l3: fc.constantFrom(0, 4, 4, 4, 6),
  // Mostly the common case (IP + ports, not a fragment), sometimes any combination of the bits that matter.
  flags: fc.oneof(fc.constant(PacketFlag.IP | PacketFlag.PORTS), fc.integer({ min: 0, max: 0xffff }).map((f) => f & (flagBits | 0xff00))),
  proto: fc.constantFrom(6, 17, 6, 17, 1, 58, 132, 0),
  src: fc.array(word, { minLength: 4, maxLength: 4 }),
  dst: fc.array(word, { minLength: 4, maxLength: 4 }),
  sport: fc.integer({ min: 0, max: 0xffff }),
  dport: fc.integer({ min: 0, max: 0xffff }),
});

function batchOf(packets: readonly RandomPacket[], capacity: number): PacketBatch {
  const b = new PacketBatch(capacity, 0);
  packets.forEach((p, i) => {
    b.l3[i] = p.l3;
    b.flags[i] = p.flags;
    b.proto[i] = p.proto;
    b.src.set(p.src, i * 4);
    b.dst.set(p.dst, i * 4);
    b.sport[i] = p.sport;
    b.dport[i] = p.dport;
    b.flowHash[i] = 0xdeadbeef; // stale values from a previous use of the slot
    b.core[i] = 0xffff;
  });
  b.count = packets.length;
  return b;
}

function cloneBatch(b: PacketBatch): PacketBatch {
  const c = new PacketBatch(b.capacity, b.headBytes);
  new Uint8Array(c.buffer).set(new Uint8Array(b.buffer));
  return c;
}

const config: fc.Arbitrary<DispatchConfig> = fc
  .record({
    policy: fc.constantFrom(...DISPATCH_POLICIES),
    cores: fc.integer({ min: 1, max: 6 }),
    variant: fc.constantFrom('equal', 'weights', 'queues', 'rps', 'small-reta'),
    seed: fc.integer({ min: 0, max: 1000 }),
  })
  .map(({ policy, cores, variant, seed }): DispatchConfig => {
    switch (variant) {
      case 'weights':
        return { policy, cores, retaWeights: Array.from({ length: cores }, (_, q) => (seed + q) % 4 || 1) };
      case 'queues':
        return { policy, cores, queues: 3, queueToCore: [seed % cores, (seed + 1) % cores, 0] };
      case 'rps':
        return { policy, cores, rpsCpus: Array.from({ length: 1 + (seed % 5) }, (_, k) => (seed + k) % cores) };
      case 'small-reta':
        return { policy, cores, retaSize: 8 };
      default:
        return { policy, cores };
    }
  });

describe('rssHashRange == rssHash per packet', () => {
  for (const [name, key] of [['Microsoft', MICROSOFT_RSS_KEY], ['symmetric', SYMMETRIC_RSS_KEY]] as const) {
    it(`${name} key, random batches`, () => {
      const k = new ToeplitzKey(key);
      fc.assert(
        fc.property(fc.array(randomPacket, { minLength: 1, maxLength: 40 }), fc.nat(), fc.nat(), (packets, x, y) => {
          const b = batchOf(packets, 48);
          const from = x % (packets.length + 1);
          const to = from + (y % (packets.length - from + 1));
          const before = b.flowHash.slice();
          rssHashRange(k, b, from, to);
          for (let i = 0; i < b.capacity; i++) {
            expect(b.flowHash[i]).toBe(i >= from && i < to ? rssHash(k, b, i) : before[i]);
          }
        }),
        { numRuns: 200 },
      );
    });
  }

  it('gives the published values for the Microsoft vectors (both keys, both directions)', () => {
    const flow = { src: '66.9.149.187', sport: 2794, dst: '161.142.100.80', dport: 1766 };
    const udp = { ...flow, proto: 17 };
    const reverse = { src: flow.dst, sport: flow.dport, dst: flow.src, dport: flow.sport };
    const noPorts = { src: flow.src, dst: flow.dst };
    const [b] = batchesOf([flow, reverse, udp, noPorts], 4);
    const ms = new ToeplitzKey(MICROSOFT_RSS_KEY);
    const sym = new ToeplitzKey(SYMMETRIC_RSS_KEY);
    rssHashRange(ms, b!, 0, 4);
    expect([...b!.flowHash]).toEqual([0x51ccc178, 0xfde799b2, 0x51ccc178, 0x323e8fc2]);
    rssHashRange(sym, b!, 0, 3);
    expect([...b!.flowHash.subarray(0, 3)]).toEqual([0x9fcc9fcc, 0x9fcc9fcc, 0x9fcc9fcc]);
  });

  it('refuses a key too short for IPv6 with ports', () => {
    const [b] = batchesOf([{ src: '10.0.0.1', dst: '10.0.0.2' }], 1);
    expect(() => rssHashRange(new ToeplitzKey(MICROSOFT_RSS_KEY.slice(0, 16)), b!, 0, 1)).toThrow(RangeError);
  });
});

describe('Dispatcher.assignBatch == assign per packet', () => {
  it('every policy, RETA weights, queue maps, RPS: same hashes, cores, index lists and counts', () => {
    fc.assert(
      fc.property(config, fc.array(randomPacket, { minLength: 1, maxLength: 40 }), fc.nat(), (cfg, packets, cut) => {
        const reference = batchOf(packets, 48);
        const fast = cloneBatch(reference);
        const one = new Dispatcher(cfg);
        const batch = new Dispatcher(cfg);
        const cores = cfg.cores;
        // Index lists start non-empty: assignBatch appends after what is there.
        const expectIndex = Array.from({ length: cores }, () => [7, 8]);
        const index = Array.from({ length: cores }, () => new Uint32Array(2 + packets.length));
        for (const l of index) l.set([7, 8]);
        const counts = new Int32Array(cores).fill(2);
        const n = packets.length;
        for (let i = 0; i < n; i++) expectIndex[one.assign(reference, i)]!.push(i);
        // Two calls, split at `cut`: the round-robin position carries over between them.
        const mid = cut % (n + 1);
        batch.assignBatch(fast, 0, mid, index, counts);
        batch.assignBatch(fast, mid, n, index, counts);
        expect([...fast.flowHash]).toEqual([...reference.flowHash]);
        expect([...fast.core]).toEqual([...reference.core]);
        expect([...counts]).toEqual(expectIndex.map((l) => l.length));
        expect(index.map((l, c) => [...l.subarray(0, counts[c])])).toEqual(expectIndex);
        // And the next packet continues where the per-packet dispatcher would.
        expect(batch.assignBatch(fast, 0, 1, index.map((l) => new Uint32Array(l.length + 1)), new Int32Array(cores))).toBeUndefined();
        expect(fast.core[0]).toBe(one.assign(reference, 0));
      }),
      { numRuns: 300 },
    );
  });

  it('round-robin over 3 cores: packet n goes to core n mod 3 across calls', () => {
    const [b] = batchesOf(Array.from({ length: 7 }, (_, k) => ({ src: '10.0.0.1', dst: '10.0.0.2', sport: k + 1, dport: 80 })), 7);
    const d = new Dispatcher({ policy: 'round-robin', cores: 3 });
    const index = [new Uint32Array(7), new Uint32Array(7), new Uint32Array(7)];
    const counts = new Int32Array(3);
    d.assignBatch(b!, 0, 4, index, counts);
    d.assignBatch(b!, 4, 7, index, counts);
    expect([...b!.core]).toEqual([0, 1, 2, 0, 1, 2, 0]);
    expect([...counts]).toEqual([3, 2, 2]);
    expect([...index[0]!.subarray(0, 3)]).toEqual([0, 3, 6]);
  });

  it('refuses a range outside the batch and index lists without room', () => {
    const [b] = batchesOf([{ src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2 }], 4);
    const d = new Dispatcher({ policy: 'rss', cores: 2 });
    const ok = [new Uint32Array(4), new Uint32Array(4)];
    expect(() => d.assignBatch(b!, 0, 5, ok, new Int32Array(2))).toThrow(RangeError);
    expect(() => d.assignBatch(b!, 2, 1, ok, new Int32Array(2))).toThrow(RangeError);
    expect(() => d.assignBatch(b!, 0, 1, [ok[0]!], new Int32Array(2))).toThrow('need an index list and a count for each of 2 cores');
    expect(() => d.assignBatch(b!, 0, 4, [new Uint32Array(4), new Uint32Array(3)], new Int32Array(2))).toThrow('index list of core 1 has room for 3 packets, not 4');
    expect(() => d.assignBatch(b!, 0, 4, ok, Int32Array.of(1, 0))).toThrow('index list of core 0 has room for 3 packets, not 4');
  });
});

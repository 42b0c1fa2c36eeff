/**
 * Differential tests for the hot paths made fast for issue 2's decode target: the word-wise head
 * copy (decode.ts copyHead) against a plain slice of the frame, and the one-cache-line FlowCounter
 * against the first implementation (flows-reference.ts), on random inputs.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PacketBatch, PacketFlag } from '../../src/trace/batch.js';
import { decodeFrame } from '../../src/trace/decode.js';
import { FlowCounter } from '../../src/trace/flows.js';
import { ReferenceFlowCounter } from './flows-reference.js';

const SENTINEL = 0xa5;

/** An IPv4 (valid version, IHL 5, total length = the datagram) or IPv6 datagram with random bytes. */
const datagram = fc.record({
  v6: fc.boolean(),
  body: fc.uint8Array({ minLength: 20, maxLength: 300 }),
}).map(({ v6, body }) => {
  const d = Uint8Array.from(body);
  if (v6) {
    d[0] = 0x60 | (d[0]! & 0x0f);
  } else {
    d[0] = 0x45;
    d[2] = d.length >>> 8;
    d[3] = d.length & 0xff;
  }
  return d;
});

describe('head bytes copy (word-wise fast path)', () => {
  it('copies exactly min(headBytes, bytes from the IP header on) into its own slot, at any alignment and head size', () => {
    fc.assert(fc.property(
      datagram,
      fc.integer({ min: 0, max: 255 }),
      fc.integer({ min: 1, max: 6 }),
      fc.nat(),
      fc.integer({ min: 0, max: 7 }),
      fc.constantFrom(1, 101),
      fc.integer({ min: 0, max: 300 }),
      (ip, headBytes, capacity, slotSeed, lead, linkType, cut) => {
        const batch = new PacketBatch(capacity, headBytes);
        const slot = slotSeed % capacity;
        batch.head.fill(SENTINEL);
        const link = linkType === 1 ? [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, ip[0]! >> 4 === 6 ? 0x86 : 0x08, ip[0]! >> 4 === 6 ? 0xdd : 0x00] : [];
        // The frame sits `lead` bytes into a larger buffer, followed by bytes that must not be copied.
        const ipBytes = Math.max(20, Math.min(ip.length, cut));
        const buffer = new Uint8Array(lead + link.length + ip.length + 16).fill(0xee);
        buffer.set(link, lead);
        buffer.set(ip, lead + link.length);
        decodeFrame(buffer, lead, link.length + ipBytes, linkType, batch, slot);
        const n = Math.min(headBytes, ipBytes);
        expect(batch.headLen[slot]).toBe(n);
        const expected = new Uint8Array(batch.head.length).fill(SENTINEL);
        expected.set(ip.subarray(0, n), slot * headBytes);
        // First differing byte (-1: none); toEqual on the whole array is slow in a 400-run property.
        expect(batch.head.findIndex((v, k) => v !== expected[k])).toBe(-1);
      },
    ), { numRuns: 400 });
  });

  it('the default 64-byte head of a TCP/IPv4 frame holds the IP and TCP headers', () => {
    const batch = new PacketBatch(3);
    const ip = Uint8Array.from({ length: 100 }, (_, k) => (k * 7 + 3) & 0xff);
    ip[0] = 0x45; ip[2] = 0; ip[3] = 100; ip[6] = 0; ip[7] = 0; ip[9] = 6;
    decodeFrame(ip, 0, ip.length, 228, batch, 2);
    expect(batch.headLen[2]).toBe(64);
    expect([...batch.head.subarray(128, 192)]).toEqual([...ip.subarray(0, 64)]);
    expect(batch.flags[2]! & PacketFlag.PORTS).toBe(PacketFlag.PORTS);
  });
});

/** One packet of the flow stream: a few distinct values per field so that flows repeat. */
const flowPacket = fc.record({
  ip: fc.boolean(),
  ports: fc.boolean(),
  l3: fc.constantFrom(4, 6),
  proto: fc.constantFrom(1, 6, 17, 58),
  src: fc.integer({ min: 0, max: 5 }),
  dst: fc.integer({ min: 0, max: 40 }),
  sport: fc.constantFrom(0, 53, 443, 65535),
  dport: fc.integer({ min: 0, max: 3 }),
  wireLen: fc.integer({ min: 0, max: 9000 }),
});

describe('FlowCounter (one cache line per flow)', () => {
  it('gives the same size and the same top list, tie order included, as the first implementation', () => {
    fc.assert(fc.property(fc.array(flowPacket, { minLength: 0, maxLength: 600 }), fc.constantFrom(2, 4, 1024), (packets, initialSlots) => {
      const fast = new FlowCounter(initialSlots);
      const reference = new ReferenceFlowCounter(initialSlots);
      const batch = new PacketBatch(8, 0);
      packets.forEach((p, k) => {
        const i = k % 8;
        batch.resetSlot(i);
        batch.flags[i] = (p.ip ? PacketFlag.IP : 0) | (p.ports ? PacketFlag.PORTS : 0);
        batch.l3[i] = p.l3;
        batch.proto[i] = p.proto;
        const w = i * 4;
        batch.src[w] = (0xc0000200 + p.src) >>> 0;
        if (p.l3 === 6) { batch.src[w + 3] = p.src * 0x01010101; batch.dst[w + 1] = p.dst; }
        batch.dst[w] = (0x0a000000 + p.dst * 0x10001) >>> 0;
        batch.sport[i] = p.sport;
        batch.dport[i] = p.dport;
        batch.wireLen[i] = p.wireLen;
        fast.add(batch, i);
        reference.add(batch, i);
      });
      expect(fast.size).toBe(reference.size);
      expect(fast.top(1e9)).toEqual(reference.top(1e9));
      expect(fast.top(3)).toEqual(reference.top(3));
    }), { numRuns: 200 });
  });

  it('counts by hand: two flows, a later fragment of one of them (no ports) apart, non-IP ignored', () => {
    const batch = new PacketBatch(5, 0);
    const set = (i: number, flags: number, sport: number, len: number): void => {
      batch.flags[i] = flags; batch.l3[i] = 4; batch.proto[i] = 17; batch.src[i * 4] = 0xc0000201; batch.dst[i * 4] = 0xc6336407;
      batch.sport[i] = sport; batch.dport[i] = 53; batch.wireLen[i] = len;
    };
    set(0, PacketFlag.IP | PacketFlag.PORTS, 5353, 100);
    set(1, PacketFlag.IP | PacketFlag.PORTS, 5353, 50);
    set(2, PacketFlag.IP | PacketFlag.PORTS, 5354, 70);
    set(3, PacketFlag.IP | PacketFlag.LATER_FRAGMENT, 0, 1500);
    set(4, 0, 0, 60);
    const flows = new FlowCounter(2);
    for (let i = 0; i < 5; i++) flows.add(batch, i);
    expect(flows.size).toBe(3);
    expect(flows.top(10).map((f) => [f.sport, f.dport, f.hasPorts, f.packets, f.bytes])).toEqual([
      [5353, 53, true, 2, 150], [0, 0, false, 1, 1500], [5354, 53, true, 1, 70],
    ]);
  });
});

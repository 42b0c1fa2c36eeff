import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jhash2 } from '../../src/hash/jhash.js';
import { siphash, sipKeyFromBytes } from '../../src/hash/siphash.js';
import { reciprocalScale, TupleHasher } from '../../src/conntrack/tuple.js';
import { ipv4 } from './helpers.js';

/** The first 39 bytes of struct nf_conntrack_tuple for an IPv4 tuple, laid out by hand. */
function tupleBytes(src: string, dst: string, sport: number, dport: number, proto: number): Uint8Array {
  const b = new Uint8Array(40);
  b.set(src.split('.').map(Number), 0); // src.u3 (network order)
  b[16] = sport >> 8; b[17] = sport & 0xff; // src.u.all (network order)
  b[18] = 2; b[19] = 0; // src.l3num = NFPROTO_IPV4, little-endian u16
  b.set(dst.split('.').map(Number), 20); // dst.u3
  b[36] = dport >> 8; b[37] = dport & 0xff; // dst.u.all
  b[38] = proto; // dst.protonum
  return b;
}

const le32 = (b: Uint8Array, o: number): number => (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;

describe('reciprocal_scale', () => {
  it('maps the hash proportionally onto the table (kernel-reference 1.4)', () => {
    expect(reciprocalScale(0x80000000, 65536)).toBe(32768);
    expect(reciprocalScale(0xffffffff, 65536)).toBe(65535);
    expect(reciprocalScale(0, 1000)).toBe(0);
    expect(reciprocalScale(0xffffffff, 3)).toBe(2);
    // Sizes above 2^21 (products beyond 2^53): exact for the table's sizes; compare with BigInt.
    for (const [h, size] of [[0xdeadbeef, 16777216], [0x12345678, 50331648], [0xffffffff, 67108864], [0xffffffff, 67108352]] as const) {
      expect(reciprocalScale(h, size)).toBe(Number((BigInt(h) * BigInt(size)) >> 32n));
    }
  });

  it('is exact for every size whose odd part is below 2^21 (all table sizes) and any u32 or int32 hash', () => {
    fc.assert(fc.property(fc.integer({ min: -0x80000000, max: 0xffffffff }), fc.integer({ min: 1, max: (1 << 21) - 1 }), fc.integer({ min: 0, max: 11 }), (h, odd, shift) => {
      const size = odd * 2 ** shift;
      expect(reciprocalScale(h, size)).toBe(Number((BigInt(h >>> 0) * BigInt(size)) >> 32n));
    }), { numRuns: 2000 });
    // The conntrack table's sizes: multiples of 512 up to 2^26, at the hash values nearest a bucket edge.
    for (const size of [512, 65536, 1048576, 67108864, 67108352, 33554944, 513 * 512]) {
      for (const h of [0, 1, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, Math.ceil(2 ** 32 / size) * 7 - 1]) {
        expect(reciprocalScale(h, size)).toBe(Number((BigInt(h >>> 0) * BigInt(size)) >> 32n));
      }
    }
  });
});

describe('hash_conntrack_raw', () => {
  const tuple = { src: '192.0.2.1', dst: '198.51.100.7', sport: 40000, dport: 443, proto: 6 };
  const bytes = tupleBytes(tuple.src, tuple.dst, tuple.sport, tuple.dport, tuple.proto);

  it('siphash: SipHash-2-4 over the 39 tuple bytes, key (seed, seed), low 32 bits kept', () => {
    const seed = 0x01020304;
    const keyBytes = new Uint8Array(16);
    new DataView(keyBytes.buffer).setUint32(0, seed, true);
    new DataView(keyBytes.buffer).setUint32(8, seed, true);
    const expected = Number(siphash(bytes.subarray(0, 39), sipKeyFromBytes(keyBytes)) & 0xffffffffn);
    const h = new TupleHasher('siphash', seed).hash(4, 6, ipv4(tuple.src), 0, 0, 0, ipv4(tuple.dst), 0, 0, 0, tuple.sport, tuple.dport);
    expect(h).toBe(expected);
    // The hand-computed bucket index at 65536 buckets, (h * 65536) >> 32 in exact arithmetic.
    expect(reciprocalScale(h, 65536)).toBe(Number((BigInt(expected) * 65536n) >> 32n));
    expect(h).toBe(0x333cce2c);
    expect(reciprocalScale(h, 65536)).toBe(0x333c);
  });

  it('siphash: the zone is folded into key[0]', () => {
    const keyBytes = new Uint8Array(16);
    new DataView(keyBytes.buffer).setUint32(0, 7 ^ 5, true);
    new DataView(keyBytes.buffer).setUint32(8, 7, true);
    const expected = Number(siphash(bytes.subarray(0, 39), sipKeyFromBytes(keyBytes)) & 0xffffffffn);
    expect(new TupleHasher('siphash', 7, 5).hash(4, 6, ipv4(tuple.src), 0, 0, 0, ipv4(tuple.dst), 0, 0, 0, tuple.sport, tuple.dport)).toBe(expected);
  });

  it('jhash2: nine host-order words, initval = seed ^ (native dst port << 16 | protonum)', () => {
    const words = Array.from({ length: 9 }, (_, k) => le32(bytes, k * 4));
    const nativeDport = bytes[36]! | (bytes[37]! << 8); // 443 = 0x01bb read little-endian: 0xbb01
    expect(nativeDport).toBe(0xbb01);
    const seed = 0xcafe;
    const expected = jhash2(words, 9, (seed ^ ((nativeDport << 16) | 6)) >>> 0);
    expect(new TupleHasher('jhash', seed).hash(4, 6, ipv4(tuple.src), 0, 0, 0, ipv4(tuple.dst), 0, 0, 0, tuple.sport, tuple.dport)).toBe(expected);
  });

  it('the two directions of a flow hash differently', () => {
    const h = new TupleHasher();
    expect(h.hash(4, 17, 1, 0, 0, 0, 2, 0, 0, 0, 53, 5353)).not.toBe(h.hash(4, 17, 2, 0, 0, 0, 1, 0, 0, 0, 5353, 53));
  });
});

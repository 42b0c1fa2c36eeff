/**
 * Differential tests for the optimised hash code: the int32, branch-free SipHash and jhash2 must
 * equal plain reference implementations written from the papers (BigInt u64 / unsigned u32
 * arithmetic, no tricks) on random keys and messages; and the conntrack tuple hash must equal the
 * generic byte-oriented hashes over the 39/36 tuple bytes laid out as struct nf_conntrack_tuple.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jhash2, jhash2Words9 } from '../../src/hash/jhash.js';
import { siphash, sipKeyFromBytes } from '../../src/hash/siphash.js';
import { HASH_RUN_CAPACITY, jhash2Ipv4Tuple, TupleHasher } from '../../src/conntrack/tuple.js';

const M64 = (1n << 64n) - 1n;
const rotl64 = (x: bigint, b: bigint): bigint => ((x << b) | (x >> (64n - b))) & M64;

/** SipHash-2-4 straight from the paper (Aumasson, Bernstein 2012), u64 as BigInt. */
function sipRef(data: Uint8Array, key: Uint8Array): bigint {
  const le64 = (b: Uint8Array, o: number): bigint => {
    let v = 0n;
    for (let i = 7; i >= 0; i--) v = (v << 8n) | BigInt(b[o + i] ?? 0);
    return v;
  };
  const k0 = le64(key, 0), k1 = le64(key, 8);
  let v0 = k0 ^ 0x736f6d6570736575n, v1 = k1 ^ 0x646f72616e646f6dn;
  let v2 = k0 ^ 0x6c7967656e657261n, v3 = k1 ^ 0x7465646279746573n;
  const round = (): void => {
    v0 = (v0 + v1) & M64; v1 = rotl64(v1, 13n) ^ v0; v0 = rotl64(v0, 32n);
    v2 = (v2 + v3) & M64; v3 = rotl64(v3, 16n) ^ v2;
    v0 = (v0 + v3) & M64; v3 = rotl64(v3, 21n) ^ v0;
    v2 = (v2 + v1) & M64; v1 = rotl64(v1, 17n) ^ v2; v2 = rotl64(v2, 32n);
  };
  const full = data.length - (data.length % 8);
  const last = new Uint8Array(8);
  last.set(data.subarray(full));
  last[7] = data.length & 0xff;
  for (let o = 0; o <= full; o += 8) {
    const m = o < full ? le64(data, o) : le64(last, 0);
    v3 ^= m; round(); round(); v0 ^= m;
  }
  v2 ^= 0xffn;
  round(); round(); round(); round();
  return v0 ^ v1 ^ v2 ^ v3;
}

/** lookup3 hashword() = jhash2, unsigned arithmetic spelled out with >>> 0 at every step. */
function jhash2Ref(k: ArrayLike<number>, length: number, initval: number): number {
  const rot = (x: number, r: number): number => ((x << r) | (x >>> (32 - r))) >>> 0;
  let a = (0xdeadbeef + length * 4 + initval) >>> 0, b = a, c = a;
  let i = 0, n = length;
  const mix = (): void => {
    a = (a - c) >>> 0; a = (a ^ rot(c, 4)) >>> 0; c = (c + b) >>> 0;
    b = (b - a) >>> 0; b = (b ^ rot(a, 6)) >>> 0; a = (a + c) >>> 0;
    c = (c - b) >>> 0; c = (c ^ rot(b, 8)) >>> 0; b = (b + a) >>> 0;
    a = (a - c) >>> 0; a = (a ^ rot(c, 16)) >>> 0; c = (c + b) >>> 0;
    b = (b - a) >>> 0; b = (b ^ rot(a, 19)) >>> 0; a = (a + c) >>> 0;
    c = (c - b) >>> 0; c = (c ^ rot(b, 4)) >>> 0; b = (b + a) >>> 0;
  };
  while (n > 3) { a = (a + k[i]!) >>> 0; b = (b + k[i + 1]!) >>> 0; c = (c + k[i + 2]!) >>> 0; mix(); n -= 3; i += 3; }
  if (n === 0) return c;
  if (n === 3) c = (c + k[i + 2]!) >>> 0;
  if (n >= 2) b = (b + k[i + 1]!) >>> 0;
  a = (a + k[i]!) >>> 0;
  c = (c ^ b) >>> 0; c = (c - rot(b, 14)) >>> 0;
  a = (a ^ c) >>> 0; a = (a - rot(c, 11)) >>> 0;
  b = (b ^ a) >>> 0; b = (b - rot(a, 25)) >>> 0;
  c = (c ^ b) >>> 0; c = (c - rot(b, 16)) >>> 0;
  a = (a ^ c) >>> 0; a = (a - rot(c, 4)) >>> 0;
  b = (b ^ a) >>> 0; b = (b - rot(a, 14)) >>> 0;
  c = (c ^ b) >>> 0; c = (c - rot(b, 24)) >>> 0;
  return c;
}

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u16 = fc.integer({ min: 0, max: 0xffff });

describe('optimised hashes equal the reference implementations', () => {
  it('the BigInt reference reproduces a published SipHash-2-4 vector (so it can judge)', () => {
    const seq = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => i);
    expect(sipRef(seq(15), seq(16))).toBe(0xa129ca6149be45e5n);
    expect(jhash2Ref([1, 2, 3, 4, 5, 6, 7, 8, 9], 9, 0)).toBe(0x47353aad);
  });

  it('siphash == reference SipHash-2-4 on random keys and messages (0..80 bytes)', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.uint8Array({ maxLength: 80 }), (key, data) => {
      expect(siphash(data, sipKeyFromBytes(key))).toBe(sipRef(data, key));
    }), { numRuns: 300 });
  });

  it('jhash2 == reference hashword on random words, lengths 0..13 and initvals', () => {
    fc.assert(fc.property(fc.array(u32, { maxLength: 13 }), u32, (words, initval) => {
      expect(jhash2(Uint32Array.from(words), words.length, initval)).toBe(jhash2Ref(words, words.length, initval));
    }), { numRuns: 300 });
  });

  it('jhash2Words9 (unrolled, int32 arguments) == reference hashword over the same nine words', () => {
    fc.assert(fc.property(fc.array(u32, { minLength: 9, maxLength: 9 }), u32, (w, initval) => {
      const i = w.map((x) => x | 0);
      expect(jhash2Words9(i[0]!, i[1]!, i[2]!, i[3]!, i[4]!, i[5]!, i[6]!, i[7]!, i[8]!, initval | 0) >>> 0).toBe(jhash2Ref(w, 9, initval));
    }), { numRuns: 300 });
  });

  it('jhash2Ipv4Tuple (the six zero words left out) == jhash2Words9 with those words zero', () => {
    fc.assert(fc.property(u32, u32, u32, u32, (a, w4, d, initval) => {
      expect(jhash2Ipv4Tuple(a | 0, w4 | 0, d | 0, initval | 0)).toBe(jhash2Words9(a | 0, 0, 0, 0, w4 | 0, d | 0, 0, 0, 0, initval | 0));
    }), { numRuns: 300 });
  });

  /** struct nf_conntrack_tuple bytes (40) for addresses given as 4 big-endian words each. */
  function tupleBytes(l3: number, proto: number, s: number[], d: number[], sport: number, dport: number): Uint8Array {
    const b = new Uint8Array(40);
    const dv = new DataView(b.buffer);
    for (let k = 0; k < 4; k++) { dv.setUint32(4 * k, s[k]!, false); dv.setUint32(20 + 4 * k, d[k]!, false); }
    dv.setUint16(16, sport, false);
    dv.setUint16(18, l3 === 6 ? 10 : 2, true);
    dv.setUint16(36, dport, false);
    b[38] = proto;
    return b;
  }

  const tupleArb = fc.record({
    l3: fc.constantFrom(4, 6),
    proto: fc.constantFrom(1, 6, 17, 58, 132, 136),
    s: fc.array(u32, { minLength: 4, maxLength: 4 }),
    d: fc.array(u32, { minLength: 4, maxLength: 4 }),
    sport: u16,
    dport: u16,
    seed: fc.oneof(u32, fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })),
    zone: u16,
  });

  it('TupleHasher siphash == reference SipHash over the first 39 tuple bytes (key seed,seed; key[0] ^= zone)', () => {
    fc.assert(fc.property(tupleArb, (t) => {
      const s = t.l3 === 4 ? [t.s[0]!, 0, 0, 0] : t.s;
      const d = t.l3 === 4 ? [t.d[0]!, 0, 0, 0] : t.d;
      const key = new Uint8Array(16);
      const kv = new DataView(key.buffer);
      const lo = t.seed >>> 0, hi = Math.floor(t.seed / 4294967296) >>> 0;
      kv.setUint32(0, (lo ^ t.zone) >>> 0, true); kv.setUint32(4, hi, true);
      kv.setUint32(8, lo, true); kv.setUint32(12, hi, true);
      const expected = Number(sipRef(tupleBytes(t.l3, t.proto, s, d, t.sport, t.dport).subarray(0, 39), key) & 0xffffffffn);
      expect(new TupleHasher('siphash', t.seed, t.zone).hash(t.l3, t.proto, s[0]!, s[1]!, s[2]!, s[3]!, d[0]!, d[1]!, d[2]!, d[3]!, t.sport, t.dport)).toBe(expected);
    }), { numRuns: 300 });
  });

  it('TupleHasher jhash == reference hashword over the first 9 tuple words (host order), initval from seed, zone, port, proto', () => {
    fc.assert(fc.property(tupleArb, (t) => {
      const s = t.l3 === 4 ? [t.s[0]!, 0, 0, 0] : t.s;
      const d = t.l3 === 4 ? [t.d[0]!, 0, 0, 0] : t.d;
      const b = tupleBytes(t.l3, t.proto, s, d, t.sport, t.dport);
      const dv = new DataView(b.buffer);
      const words = Array.from({ length: 9 }, (_, k) => dv.getUint32(4 * k, true));
      const initval = ((((t.seed >>> 0) ^ t.zone) >>> 0) ^ ((dv.getUint16(36, true) << 16) | t.proto)) >>> 0;
      expect(new TupleHasher('jhash', t.seed, t.zone).hash(t.l3, t.proto, s[0]!, s[1]!, s[2]!, s[3]!, d[0]!, d[1]!, d[2]!, d[3]!, t.sport, t.dport)).toBe(jhash2Ref(words, 9, initval));
    }), { numRuns: 300 });
  });

  it('TupleHasher.hashRun (both hashes in WebAssembly) == the references, tuple by tuple, over whole runs', () => {
    const runArb = fc.record({
      algorithm: fc.constantFrom('siphash' as const, 'jhash' as const),
      seed: fc.oneof(u32, fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })),
      zone: u16,
      tuples: fc.array(tupleArb, { minLength: 1, maxLength: 48 }),
    });
    fc.assert(fc.property(runArb, (r) => {
      const hasher = new TupleHasher(r.algorithm, r.seed, r.zone);
      const key = new Uint8Array(16);
      const kv = new DataView(key.buffer);
      const lo = r.seed >>> 0, hi = Math.floor(r.seed / 4294967296) >>> 0;
      kv.setUint32(0, (lo ^ r.zone) >>> 0, true); kv.setUint32(4, hi, true);
      kv.setUint32(8, lo, true); kv.setUint32(12, hi, true);
      // Two runs through the same hasher: the second must not see the first's records.
      for (const run of [r.tuples, r.tuples.slice().reverse().slice(0, Math.ceil(r.tuples.length / 2))]) {
        run.forEach((t, k) => {
          const s = t.l3 === 4 ? [t.s[0]!, 0, 0, 0] : t.s;
          const d = t.l3 === 4 ? [t.d[0]!, 0, 0, 0] : t.d;
          hasher.setRunTuple(k, t.l3, t.proto, s[0]! | 0, s[1]! | 0, s[2]! | 0, s[3]! | 0, d[0]! | 0, d[1]! | 0, d[2]! | 0, d[3]! | 0, t.sport, t.dport);
        });
        hasher.hashRun(run.length);
        run.forEach((t, k) => {
          const s = t.l3 === 4 ? [t.s[0]!, 0, 0, 0] : t.s;
          const d = t.l3 === 4 ? [t.d[0]!, 0, 0, 0] : t.d;
          const b = tupleBytes(t.l3, t.proto, s, d, t.sport, t.dport);
          const dv = new DataView(b.buffer);
          const expected = r.algorithm === 'siphash'
            ? Number(sipRef(b.subarray(0, 39), key) & 0xffffffffn)
            : jhash2Ref(Array.from({ length: 9 }, (_, w) => dv.getUint32(4 * w, true)), 9, ((((r.seed >>> 0) ^ r.zone) >>> 0) ^ ((dv.getUint16(36, true) << 16) | t.proto)) >>> 0);
          expect(hasher.runHashes[k]! >>> 0).toBe(expected);
        });
      }
    }), { numRuns: 150 });
  });

  it('an IPv4 tuple hashes alike whatever an earlier IPv6 tuple left in its record (address words 1..3 are not read)', () => {
    for (const algorithm of ['siphash', 'jhash'] as const) {
      const hasher = new TupleHasher(algorithm, 99, 3);
      for (let k = 0; k < 64; k++) hasher.setRunTuple(k, 6, 17, 0x20010db8, -1, 0x12345678, k, 0x20010db8, 0x7fffffff, -k, 9, 4000 + k, 53);
      hasher.hashRun(64);
      for (let k = 0; k < 64; k++) hasher.setRunTuple(k, 4, k % 2 ? 6 : 17, 0x0a000000 + k, 0, 0, 0, 0xc0000201 | 0, 0, 0, 0, 1024 + k, 443);
      expect(Array.from(hasher.runInput.subarray(1, 4))).not.toEqual([0, 0, 0]); // the IPv6 words are still there
      hasher.hashRun(64);
      for (let k = 0; k < 64; k++) {
        expect(hasher.runHashes[k]).toBe(new TupleHasher(algorithm, 99, 3).hashIpv4(k % 2 ? 6 : 17, 0x0a000000 + k, 0xc0000201 | 0, 1024 + k, 443));
      }
    }
  });

  it('TupleHasher.hashRun takes a full run of HASH_RUN_CAPACITY tuples and refuses more', () => {
    for (const algorithm of ['siphash', 'jhash'] as const) {
      const hasher = new TupleHasher(algorithm, 7, 0);
      for (let k = 0; k < HASH_RUN_CAPACITY; k++) hasher.setRunTuple(k, 4, 17, 0x0a000000 + k, 0, 0, 0, 0xc0000201, 0, 0, 0, 1024 + k, 53);
      hasher.hashRun(HASH_RUN_CAPACITY);
      for (const k of [0, 1, 511, HASH_RUN_CAPACITY - 1]) {
        expect(hasher.runHashes[k]).toBe(hasher.hashInt32(4, 17, 0x0a000000 + k, 0, 0, 0, 0xc0000201 | 0, 0, 0, 0, 1024 + k, 53));
      }
      expect(() => hasher.hashRun(HASH_RUN_CAPACITY + 1)).toThrow(RangeError);
    }
  });
});

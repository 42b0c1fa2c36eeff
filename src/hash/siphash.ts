/**
 * SipHash-2-4 (Aumasson and Bernstein) as the kernel's siphash() (lib/siphash.c): 128-bit key as
 * two little-endian u64, u64 result. JavaScript has no fast u64, so every 64-bit lane is a pair
 * of 32-bit halves; `siphash24Words` takes the message as little-endian (lo, hi) word pairs and
 * allocates nothing. The conntrack tuple hash runs in WebAssembly instead (tuple-hash.wat, 64-bit
 * arithmetic, ~4x faster); this is the library version, held to the paper's vectors.
 */

/** Key as four 32-bit words: k0 lo, k0 hi, k1 lo, k1 hi. */
export type SipKey = Uint32Array;

/** Builds a key from its 16 bytes (the kernel reads key[0] and key[1] little-endian). */
export function sipKeyFromBytes(bytes: Uint8Array): SipKey {
  if (bytes.length !== 16) throw new RangeError(`a SipHash key is 16 bytes, got ${bytes.length}`);
  const k = new Uint32Array(4);
  for (let w = 0; w < 4; w++) k[w] = (bytes[w * 4]! | (bytes[w * 4 + 1]! << 8) | (bytes[w * 4 + 2]! << 16) | (bytes[w * 4 + 3]! << 24)) >>> 0;
  return k;
}

/**
 * SipHash-2-4 of a message given as `words` 64-bit little-endian words (`msg[2i]` low half,
 * `msg[2i+1]` high half). The caller builds the last word itself: leftover bytes little-endian
 * with (byte length mod 256) in the top byte. Writes the u64 result as [lo, hi] into `out` and
 * returns the low 32 bits (what conntrack keeps).
 *
 * Speed: every half is kept as an int32 (`| 0`, never `>>> 0` until the end, so V8 keeps them in
 * registers instead of boxing values above 2^31 as doubles), and the carry of each 64-bit add is
 * an unsigned compare turned into 0/1 by unary plus (V8 keeps it a flag, no branch: a
 * data-dependent `? 1 : 0` mispredicts half the time, 56 times per conntrack tuple).
 */
export function siphash24Words(key: SipKey, msg: Uint32Array, words: number, out: Uint32Array): number {
  const k0l = key[0]! | 0, k0h = key[1]! | 0, k1l = key[2]! | 0, k1h = key[3]! | 0;
  // "somepseudorandomlygeneratedbytes"
  let v0l = k0l ^ 0x70736575, v0h = k0h ^ 0x736f6d65;
  let v1l = k1l ^ 0x6e646f6d, v1h = k1h ^ 0x646f7261;
  let v2l = k0l ^ 0x6e657261, v2h = k0h ^ 0x6c796765;
  let v3l = k1l ^ 0x79746573, v3h = k1h ^ 0x74656462;
  let s = 0, tl = 0, th = 0;
  // 2 rounds per message word (v3 ^= m before, v0 ^= m after), then v2 ^= 0xff and 4 rounds.
  for (let w = 0; ; w++) {
    let ml = 0, mh = 0, rounds = 4;
    if (w < words) {
      ml = msg[2 * w]! | 0;
      mh = msg[2 * w + 1]! | 0;
      v3l ^= ml; v3h ^= mh;
      rounds = 2;
    } else {
      v2l ^= 0xff;
    }
    for (let r = 0; r < rounds; r++) {
      // SIPROUND on (lo, hi) halves. The carry out of lo = a + b is (sum < a) as unsigned numbers.
      // v0 += v1; v1 = rotl(v1, 13) ^ v0; v0 = rotl(v0, 32)
      s = (v0l + v1l) | 0; v0h = (v0h + v1h + +((s >>> 0) < (v0l >>> 0))) | 0; v0l = s;
      tl = (v1l << 13) | (v1h >>> 19); th = (v1h << 13) | (v1l >>> 19);
      v1l = tl ^ v0l; v1h = th ^ v0h;
      tl = v0l; v0l = v0h; v0h = tl;
      // v2 += v3; v3 = rotl(v3, 16) ^ v2
      s = (v2l + v3l) | 0; v2h = (v2h + v3h + +((s >>> 0) < (v2l >>> 0))) | 0; v2l = s;
      tl = (v3l << 16) | (v3h >>> 16); th = (v3h << 16) | (v3l >>> 16);
      v3l = tl ^ v2l; v3h = th ^ v2h;
      // v0 += v3; v3 = rotl(v3, 21) ^ v0
      s = (v0l + v3l) | 0; v0h = (v0h + v3h + +((s >>> 0) < (v0l >>> 0))) | 0; v0l = s;
      tl = (v3l << 21) | (v3h >>> 11); th = (v3h << 21) | (v3l >>> 11);
      v3l = tl ^ v0l; v3h = th ^ v0h;
      // v2 += v1; v1 = rotl(v1, 17) ^ v2; v2 = rotl(v2, 32)
      s = (v2l + v1l) | 0; v2h = (v2h + v1h + +((s >>> 0) < (v2l >>> 0))) | 0; v2l = s;
      tl = (v1l << 17) | (v1h >>> 15); th = (v1h << 17) | (v1l >>> 15);
      v1l = tl ^ v2l; v1h = th ^ v2h;
      tl = v2l; v2l = v2h; v2h = tl;
    }
    if (w === words) break;
    v0l ^= ml; v0h ^= mh;
  }
  const lo = (v0l ^ v1l ^ v2l ^ v3l) >>> 0;
  out[0] = lo;
  out[1] = v0h ^ v1h ^ v2h ^ v3h;
  return lo;
}

/** siphash(data, len, key) over bytes; returns the u64 result. For tests and tools (allocates). */
export function siphash(data: Uint8Array, key: SipKey): bigint {
  const words = (data.length >> 3) + 1;
  const msg = new Uint32Array(words * 2);
  for (let i = 0; i < data.length; i++) msg[i >> 2] = (msg[i >> 2]! | (data[i]! << (8 * (i & 3)))) >>> 0;
  msg[words * 2 - 1] = (msg[words * 2 - 1]! | ((data.length & 0xff) << 24)) >>> 0;
  const out = new Uint32Array(2);
  siphash24Words(key, msg, words, out);
  return (BigInt(out[1]!) << 32n) | BigInt(out[0]!);
}

/**
 * Bob Jenkins' lookup3 as the kernel carries it (include/linux/jhash.h): `jhash`, `jhash2`,
 * `jhash_3words`. All arithmetic is unsigned 32-bit; nothing allocates.
 */

export const JHASH_INITVAL = 0xdeadbeef;

function rol32(x: number, r: number): number {
  return ((x << r) | (x >>> (32 - r))) >>> 0;
}

// __jhash_final and __jhash_mix work on these three registers (module state: no allocation).
let a = 0;
let b = 0;
let c = 0;

/** __jhash_mix(a, b, c). */
function mix(): void {
  a = (a - c) >>> 0; a = (a ^ rol32(c, 4)) >>> 0; c = (c + b) >>> 0;
  b = (b - a) >>> 0; b = (b ^ rol32(a, 6)) >>> 0; a = (a + c) >>> 0;
  c = (c - b) >>> 0; c = (c ^ rol32(b, 8)) >>> 0; b = (b + a) >>> 0;
  a = (a - c) >>> 0; a = (a ^ rol32(c, 16)) >>> 0; c = (c + b) >>> 0;
  b = (b - a) >>> 0; b = (b ^ rol32(a, 19)) >>> 0; a = (a + c) >>> 0;
  c = (c - b) >>> 0; c = (c ^ rol32(b, 4)) >>> 0; b = (b + a) >>> 0;
}

/** __jhash_final(a, b, c). */
function final(): void {
  c = (c ^ b) >>> 0; c = (c - rol32(b, 14)) >>> 0;
  a = (a ^ c) >>> 0; a = (a - rol32(c, 11)) >>> 0;
  b = (b ^ a) >>> 0; b = (b - rol32(a, 25)) >>> 0;
  c = (c ^ b) >>> 0; c = (c - rol32(b, 16)) >>> 0;
  a = (a ^ c) >>> 0; a = (a - rol32(c, 4)) >>> 0;
  b = (b ^ a) >>> 0; b = (b - rol32(a, 14)) >>> 0;
  c = (c ^ b) >>> 0; c = (c - rol32(b, 24)) >>> 0;
}

/**
 * jhash2(k, length, initval): hashes `length` 32-bit words of `k` from `offset`. The conntrack
 * hot path calls this, so mix and final are written out on locals here.
 */
export function jhash2(k: ArrayLike<number>, length: number, initval: number, offset = 0): number {
  // Int32 throughout (`| 0`): a `>>> 0` value above 2^31 would make V8 keep x, y, z as doubles.
  let x = (JHASH_INITVAL + (length << 2) + initval) | 0;
  let y = x;
  let z = x;
  let i = offset;
  let n = length;
  while (n > 3) {
    x = (x + (k[i]! | 0)) | 0;
    y = (y + (k[i + 1]! | 0)) | 0;
    z = (z + (k[i + 2]! | 0)) | 0;
    // __jhash_mix
    x = ((x - z) | 0) ^ ((z << 4) | (z >>> 28)); z = (z + y) | 0;
    y = ((y - x) | 0) ^ ((x << 6) | (x >>> 26)); x = (x + z) | 0;
    z = ((z - y) | 0) ^ ((y << 8) | (y >>> 24)); y = (y + x) | 0;
    x = ((x - z) | 0) ^ ((z << 16) | (z >>> 16)); z = (z + y) | 0;
    y = ((y - x) | 0) ^ ((x << 19) | (x >>> 13)); x = (x + z) | 0;
    z = ((z - y) | 0) ^ ((y << 4) | (y >>> 28)); y = (y + x) | 0;
    n -= 3;
    i += 3;
  }
  if (n === 0) return z >>> 0;
  // The last 1..3 words: 3rd into c, 2nd into b, 1st into a, then the final mix.
  if (n === 3) z = (z + (k[i + 2]! | 0)) | 0;
  if (n >= 2) y = (y + (k[i + 1]! | 0)) | 0;
  x = (x + (k[i]! | 0)) | 0;
  // __jhash_final
  z = ((z ^ y) - ((y << 14) | (y >>> 18))) | 0;
  x = ((x ^ z) - ((z << 11) | (z >>> 21))) | 0;
  y = ((y ^ x) - ((x << 25) | (x >>> 7))) | 0;
  z = ((z ^ y) - ((y << 16) | (y >>> 16))) | 0;
  x = ((x ^ z) - ((z << 4) | (z >>> 28))) | 0;
  y = ((y ^ x) - ((x << 14) | (x >>> 18))) | 0;
  z = ((z ^ y) - ((y << 24) | (y >>> 8))) | 0;
  return z >>> 0;
}

/**
 * jhash2 of exactly nine words given as int32 arguments (the conntrack tuple, hashed once per
 * packet): jhash2's arithmetic with the loop and the word array gone. Returns the hash as an
 * int32 (`>>> 0` gives the u32): a u32 above 2^31 returned from a call that is not inlined is boxed.
 */
export function jhash2Words9(k0: number, k1: number, k2: number, k3: number, k4: number, k5: number, k6: number, k7: number, k8: number, initval: number): number {
  let x = (JHASH_INITVAL + 36 + initval) | 0;
  let y = x;
  let z = x;
  x = (x + k0) | 0; y = (y + k1) | 0; z = (z + k2) | 0;
  x = ((x - z) | 0) ^ ((z << 4) | (z >>> 28)); z = (z + y) | 0;
  y = ((y - x) | 0) ^ ((x << 6) | (x >>> 26)); x = (x + z) | 0;
  z = ((z - y) | 0) ^ ((y << 8) | (y >>> 24)); y = (y + x) | 0;
  x = ((x - z) | 0) ^ ((z << 16) | (z >>> 16)); z = (z + y) | 0;
  y = ((y - x) | 0) ^ ((x << 19) | (x >>> 13)); x = (x + z) | 0;
  z = ((z - y) | 0) ^ ((y << 4) | (y >>> 28)); y = (y + x) | 0;
  x = (x + k3) | 0; y = (y + k4) | 0; z = (z + k5) | 0;
  x = ((x - z) | 0) ^ ((z << 4) | (z >>> 28)); z = (z + y) | 0;
  y = ((y - x) | 0) ^ ((x << 6) | (x >>> 26)); x = (x + z) | 0;
  z = ((z - y) | 0) ^ ((y << 8) | (y >>> 24)); y = (y + x) | 0;
  x = ((x - z) | 0) ^ ((z << 16) | (z >>> 16)); z = (z + y) | 0;
  y = ((y - x) | 0) ^ ((x << 19) | (x >>> 13)); x = (x + z) | 0;
  z = ((z - y) | 0) ^ ((y << 4) | (y >>> 28)); y = (y + x) | 0;
  x = (x + k6) | 0; y = (y + k7) | 0; z = (z + k8) | 0;
  z = ((z ^ y) - ((y << 14) | (y >>> 18))) | 0;
  x = ((x ^ z) - ((z << 11) | (z >>> 21))) | 0;
  y = ((y ^ x) - ((x << 25) | (x >>> 7))) | 0;
  z = ((z ^ y) - ((y << 16) | (y >>> 16))) | 0;
  x = ((x ^ z) - ((z << 4) | (z >>> 28))) | 0;
  y = ((y ^ x) - ((x << 14) | (x >>> 18))) | 0;
  z = ((z ^ y) - ((y << 24) | (y >>> 8))) | 0;
  return z;
}

/**
 * jhash(key, length, initval) over bytes, as on a little-endian CPU (= lookup3 hashlittle()):
 * 12-byte blocks read as three little-endian words, the tail added byte by byte.
 */
export function jhash(key: Uint8Array, length: number = key.length, initval = 0): number {
  a = b = c = (JHASH_INITVAL + length + initval) >>> 0;
  let i = 0;
  let n = length;
  const le = (p: number): number => (key[p]! | (key[p + 1]! << 8) | (key[p + 2]! << 16) | (key[p + 3]! << 24)) >>> 0;
  while (n > 12) {
    a = (a + le(i)) >>> 0;
    b = (b + le(i + 4)) >>> 0;
    c = (c + le(i + 8)) >>> 0;
    mix();
    n -= 12;
    i += 12;
  }
  if (n === 0) return c;
  // The tail: byte t goes into word t/4 at bit 8*(t%4).
  for (let t = n - 1; t >= 0; t--) {
    const v = (key[i + t]! << (8 * (t & 3))) >>> 0;
    if (t >= 8) c = (c + v) >>> 0;
    else if (t >= 4) b = (b + v) >>> 0;
    else a = (a + v) >>> 0;
  }
  final();
  return c;
}

/** jhash_3words(a, b, c, initval): final mix only, = jhash2([a, b, c], 3, initval). */
export function jhash3Words(x: number, y: number, z: number, initval: number): number {
  const iv = (initval + JHASH_INITVAL + 12) >>> 0;
  a = (x + iv) >>> 0;
  b = (y + iv) >>> 0;
  c = (z + iv) >>> 0;
  final();
  return c;
}

/** jhash_1word(a, initval). */
export function jhash1Word(x: number, initval: number): number {
  const iv = (initval + JHASH_INITVAL + 4) >>> 0;
  a = (x + iv) >>> 0;
  b = iv;
  c = iv;
  final();
  return c;
}

import { describe, expect, it } from 'vitest';
import { jhash, jhash1Word, jhash2, jhash3Words } from '../../src/hash/jhash.js';
import { siphash, sipKeyFromBytes } from '../../src/hash/siphash.js';

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);
const seq = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => i);

describe('jhash (lookup3)', () => {
  it('matches the published lookup3.c self-test values', () => {
    expect(jhash(new Uint8Array(0), 0, 0)).toBe(0xdeadbeef);
    expect(jhash(new Uint8Array(0), 0, 0xdeadbeef)).toBe(0xbd5b7dde);
    expect(jhash(ascii('Four score and seven years ago'), 30, 0)).toBe(0x17770551);
    expect(jhash(ascii('Four score and seven years ago'), 30, 1)).toBe(0xcd628161);
  });

  it('matches the derived vectors of kernel-reference 2.3', () => {
    expect(jhash2([1, 2, 3], 3, 0)).toBe(0xa46158f5);
    expect(jhash3Words(1, 2, 3, 0)).toBe(0xa46158f5);
    expect(jhash2([0x01020304], 1, 0)).toBe(0xec5b1971);
    expect(jhash2([1, 2, 3, 4, 5, 6, 7, 8, 9], 9, 0)).toBe(0x47353aad);
    expect(jhash(ascii('abc'), 3, 0)).toBe(0x0e397631);
  });

  it('jhash2 over words equals jhash over the same bytes little-endian (12-byte multiple)', () => {
    const words = [0x03020100, 0x07060504, 0x0b0a0908, 0x0f0e0d0c, 0x13121110, 0x17161514];
    expect(jhash2(words, 6, 7)).toBe(jhash(seq(24), 24, 7));
    expect(jhash1Word(5, 9)).toBe(jhash2([5], 1, 9));
  });
});

describe('siphash (SipHash-2-4)', () => {
  const key = sipKeyFromBytes(seq(16));
  it('matches the reference vectors (key 00..0f, message 00..n-1)', () => {
    expect(siphash(seq(0), key)).toBe(0x726fdb47dd0e0e31n);
    expect(siphash(seq(1), key)).toBe(0x74f839c593dc67fdn);
    expect(siphash(seq(8), key)).toBe(0x93f5f5799a932462n);
    expect(siphash(seq(15), key)).toBe(0xa129ca6149be45e5n);
  });
  it('matches further vectors of the reference implementation (vectors.h, n = 7, 63)', () => {
    expect(siphash(seq(7), key)).toBe(0xab0200f58b01d137n);
    expect(siphash(seq(63), key)).toBe(0x958a324ceb064572n);
  });
});

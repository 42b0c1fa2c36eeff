import { describe, expect, it } from 'vitest';
import { MICROSOFT_RSS_KEY, SYMMETRIC_RSS_KEY, ToeplitzKey, toeplitzReference } from '../../src/hash/toeplitz.js';
import { v4, v6 } from '../cores/packets.js';

// Microsoft RSS verification suite (kernel-reference §6.3; DPDK app/test/test_thash.c).
const V4: [string, number, string, number, number, number][] = [
  ['66.9.149.187', 2794, '161.142.100.80', 1766, 0x323e8fc2, 0x51ccc178],
  ['199.92.111.2', 14230, '65.69.140.83', 4739, 0xd718262a, 0xc626b0ea],
  ['24.19.198.95', 12898, '12.22.207.184', 38024, 0xd2d0a5de, 0x5c2b394a],
  ['38.27.205.30', 48228, '209.142.163.6', 2217, 0x82989176, 0xafc7327f],
  ['153.39.163.191', 44251, '202.188.127.2', 1303, 0x5d1809c5, 0x10e828a2],
];
const V6: [string, number, string, number, number, number][] = [
  ['3ffe:2501:200:1fff::7', 2794, '3ffe:2501:200:3::1', 1766, 0x2cc18cd5, 0x40207d3d],
  ['3ffe:501:8::260:97ff:fe40:efab', 14230, 'ff02::1', 4739, 0x0f0c461c, 0xdde51bbf],
  ['3ffe:1900:4545:3:200:f8ff:fe21:67cf', 44251, 'fe80::200:f8ff:fe21:67cf', 38024, 0x4b61e985, 0x02d1feef],
];

function bytesOf(words: Uint32Array): number[] {
  const out: number[] = [];
  for (const w of words) out.push(w >>> 24, (w >>> 16) & 255, (w >>> 8) & 255, w & 255);
  return out;
}

describe('Toeplitz hash (Microsoft verification suite)', () => {
  const key = new ToeplitzKey(MICROSOFT_RSS_KEY);

  it.each(V4)('IPv4 %s:%d -> %s:%d', (s, sp, d, dp, ipOnly, withTcp) => {
    expect(key.hashV4(v4(s), v4(d), sp, dp, false)).toBe(ipOnly);
    expect(key.hashV4(v4(s), v4(d), sp, dp, true)).toBe(withTcp);
    const input = [...bytesOf(Uint32Array.of(v4(s), v4(d))), sp >> 8, sp & 255, dp >> 8, dp & 255];
    expect(toeplitzReference(MICROSOFT_RSS_KEY, input)).toBe(withTcp);
    expect(key.hashBytes(Uint8Array.from(input))).toBe(withTcp);
  });

  it.each(V6)('IPv6 [%s]:%d -> [%s]:%d', (s, sp, d, dp, ipOnly, withTcp) => {
    const src = v6(s);
    const dst = v6(d);
    expect(key.hashV6(src, dst, 0, sp, dp, false)).toBe(ipOnly);
    expect(key.hashV6(src, dst, 0, sp, dp, true)).toBe(withTcp);
    const input = [...bytesOf(src), ...bytesOf(dst), sp >> 8, sp & 255, dp >> 8, dp & 255];
    expect(toeplitzReference(MICROSOFT_RSS_KEY, input)).toBe(withTcp);
    expect(toeplitzReference(MICROSOFT_RSS_KEY, input.slice(0, 32))).toBe(ipOnly);
  });

  it('is direction-dependent with the Microsoft key', () => {
    expect(key.hashV4(v4('161.142.100.80'), v4('66.9.149.187'), 1766, 2794, true)).toBe(0xfde799b2);
  });

  it('hashes both directions alike with the symmetric key (0x9fcc9fcc, §6.5)', () => {
    const sym = new ToeplitzKey(SYMMETRIC_RSS_KEY);
    expect(sym.hashV4(v4('66.9.149.187'), v4('161.142.100.80'), 2794, 1766, true)).toBe(0x9fcc9fcc);
    expect(sym.hashV4(v4('161.142.100.80'), v4('66.9.149.187'), 1766, 2794, true)).toBe(0x9fcc9fcc);
    for (const [s, sp, d, dp] of V6) {
      expect(sym.hashV6(v6(s), v6(d), 0, sp, dp, true)).toBe(sym.hashV6(v6(d), v6(s), 0, dp, sp, true));
    }
  });

  it('folds to 16 bits only for a key that repeats every 16 bits (the symmetric key)', () => {
    const sym = new ToeplitzKey(SYMMETRIC_RSS_KEY);
    expect(sym.halfPeriodic).toBe(true);
    expect(key.halfPeriodic).toBe(false);
    // 0x6d5b breaks the period at byte 3: rows 1 and 3 differ.
    expect(new ToeplitzKey([...SYMMETRIC_RSS_KEY.slice(0, 3), 0x5b, ...SYMMETRIC_RSS_KEY.slice(4)]).halfPeriodic).toBe(false);
    // The published symmetric value (0x9fcc9fcc for 66.9.149.187:2794 -> 161.142.100.80:1766): the
    // 16-bit halves 0x4209 ^ 0x95bb ^ 0xa18e ^ 0x6450 ^ 0x0aea ^ 0x06e6 fold (by hand) to 0x1e60.
    expect(sym.foldedHash(0x1e60)).toBe(0x9fcc9fcc);
  });

  it('the 16-bit fold equals the bit-by-bit definition on random inputs of every even length', () => {
    const sym = new ToeplitzKey(SYMMETRIC_RSS_KEY);
    let seed = 12345;
    const next = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 24;
    for (let len = 2; len <= 36; len += 2) {
      for (let n = 0; n < 20; n++) {
        const input = Array.from({ length: len }, next);
        let fold = 0;
        for (let k = 0; k < len; k += 2) fold ^= (input[k]! << 8) | input[k + 1]!;
        expect(sym.foldedHash(fold)).toBe(toeplitzReference(SYMMETRIC_RSS_KEY, input));
      }
    }
  });

  it('refuses inputs longer than the key covers', () => {
    const short = new ToeplitzKey(MICROSOFT_RSS_KEY.slice(0, 16));
    expect(short.maxInputBytes).toBe(12);
    expect(() => short.hashBytes(new Uint8Array(13))).toThrow(RangeError);
  });
});

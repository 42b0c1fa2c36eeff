import { describe, expect, it } from 'vitest';
import { formatAddress, parseIPv4, parseIPv6, parsePrefix } from '../../src/trace/prefix.js';
import { Xoshiro128 } from '../../src/trace/prng.js';

describe('Xoshiro128 (xoshiro128**)', () => {
  it('matches the reference implementation from state {1, 2, 3, 4}', () => {
    // The vector rand_xoshiro checks against Vigna's xoshiro128starstar.c v1.1.
    const r = Xoshiro128.fromState(1, 2, 3, 4);
    expect(Array.from({ length: 10 }, () => r.nextU32())).toEqual([
      11520, 0, 5927040, 70819200, 2031721883, 1637235492, 1287239034, 3734860849, 3729100597, 4258142804,
    ]);
  });

  it('is reproducible per seed, uses the seed high bits, and stays in range', () => {
    const take = (seed: number): number[] => {
      const r = new Xoshiro128(seed);
      return Array.from({ length: 8 }, () => r.nextU32());
    };
    expect(take(12345)).toEqual(take(12345));
    expect(take(12345)).not.toEqual(take(12346));
    expect(take(1)).not.toEqual(take(1 + 2 ** 32));
    const r = new Xoshiro128(9);
    for (let i = 0; i < 1000; i++) {
      const x = r.int(7);
      expect(Number.isInteger(x) && x >= 0 && x < 7).toBe(true);
    }
  });
});

describe('prefixes', () => {
  it('parses IPv4 and IPv6 text, refusing malformed forms', () => {
    expect(parseIPv4('198.51.100.7')).toBe(0xc6336407);
    expect(parseIPv4('256.0.0.1')).toBe(-1);
    expect(parseIPv4('1.2.3')).toBe(-1);
    expect([...parseIPv6('2001:db8::1')!]).toEqual([0x20010db8, 0, 0, 1]);
    expect([...parseIPv6('::')!]).toEqual([0, 0, 0, 0]);
    expect([...parseIPv6('::ffff:192.0.2.1')!]).toEqual([0, 0, 0xffff, 0xc0000201]);
    expect([...parseIPv6('fd00:1:2:3:4:5:6:7')!]).toEqual([0xfd000001, 0x00020003, 0x00040005, 0x00060007]);
    for (const bad of ['1::2::3', '1:2:3:4:5:6:7', '12345::', 'fd00::g', '1:2:3:4:5:6:7:8::']) expect(parseIPv6(bad)).toBeNull();
  });

  it('clears host bits and checks the length', () => {
    const p = parsePrefix('10.1.2.3/16', 4);
    expect([p.words[0], p.length]).toEqual([0x0a010000, 16]);
    const q = parsePrefix('2001:db8:aaaa:bbbb:cccc::1/56', 6);
    expect([...q.words]).toEqual([0x20010db8, 0xaaaabb00, 0, 0]);
    expect(() => parsePrefix('10.0.0.0/33', 4)).toThrow(/0..32/);
    expect(() => parsePrefix('fd00::/129', 6)).toThrow(/0..128/);
    expect(() => parsePrefix('fd00::/24', 4)).toThrow(/not an IPv4 prefix/);
  });

  it('formats addresses as RFC 5952 says (longest zero run, first on ties)', () => {
    expect(formatAddress(4, [0xc6336407])).toBe('198.51.100.7');
    expect(formatAddress(6, [0x20010db8, 0, 0, 1])).toBe('2001:db8::1');
    expect(formatAddress(6, [0x20010db8, 0x00000001, 0x00000000, 0x00000001])).toBe('2001:db8:0:1::1');
    expect(formatAddress(6, [0x20010000, 0x00010000, 0x00010000, 0x00000001])).toBe('2001:0:1:0:1::1');
    expect(formatAddress(6, [0x20010db8, 0, 0x00010000, 0x00000001])).toBe('2001:db8::1:0:0:1');
    expect(formatAddress(6, [0, 0, 0, 0])).toBe('::');
  });
});

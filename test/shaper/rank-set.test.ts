import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RankSet } from '../../src/shaper/rank-set.js';
import { l2tNs, ratecfgPrecompute } from '../../src/shaper/htb.js';

describe('RankSet (the classid-ordered rbtree stand-in)', () => {
  it('answers nextFrom like a sorted list, across word and level boundaries', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40000 }), fc.array(fc.tuple(fc.boolean(), fc.nat()), { maxLength: 200 }), fc.array(fc.nat(), { maxLength: 50 }), (cap, ops, probes) => {
        const set = new RankSet(cap);
        const ref = new Set<number>();
        for (const [add, v] of ops) {
          const r = v % cap;
          if (add) { set.add(r); ref.add(r); } else { set.delete(r); ref.delete(r); }
        }
        expect(set.size).toBe(ref.size);
        const sorted = [...ref].sort((a, b) => a - b);
        expect(set.first()).toBe(sorted[0] ?? -1);
        for (const p of probes) {
          const r = p % (cap + 2);
          expect(set.nextFrom(r)).toBe(sorted.find((x) => x >= r) ?? -1);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('psched_ratecfg (sch_generic.c psched_ratecfg_precompute__, psched_l2t_ns)', () => {
  it('computes mult/shift so that mult has bit 31 set', () => {
    // 1e6 B/s: 1000 × 2^22 = 4,194,304,000; 12.5e6 B/s (100mbit): 80 × 2^25 = 2,684,354,560.
    expect(ratecfgPrecompute(1_000_000)).toEqual([4_194_304_000, 22]);
    expect(ratecfgPrecompute(12_500_000)).toEqual([2_684_354_560, 25]);
    const [m, s] = ratecfgPrecompute(12_500_000);
    expect(l2tNs(1514, m, 2 ** -s, 0, 0, false)).toBe(121_120);
    // overhead and mpu; ATM cells: 100 + 10 = 110 B → 3 cells of 53 B.
    expect(l2tNs(50, m, 2 ** -s, 0, 64, false)).toBe(64 * 80);
    expect(l2tNs(100, m, 2 ** -s, 10, 0, true)).toBe(159 * 80);
  });
});

import { describe, expect, it } from 'vitest';
import { erfc, geomean, mannWhitney, median, medianInterval, normalCdf, summarize } from '../../src/results/stats.js';

describe('summaries', () => {
  it('median, MAD, min, max, mean by hand', () => {
    const s = summarize([3, 1, 4, 1, 5, 9, 2, 6]);
    // sorted 1 1 2 3 4 5 6 9: median (3+4)/2 = 3.5; |x−3.5| = .5 2.5 1.5 2.5 .5 5.5 2.5 1.5 → median 2
    expect(s).toMatchObject({ n: 8, median: 3.5, mad: 2, min: 1, max: 9, mean: 31 / 8 });
    expect(median([])).toBeNaN();
  });
  it('median CI from order statistics (n = 10 → x(2)..x(9), coverage 1 − 2·11/1024)', () => {
    const ci = medianInterval([10, 1, 9, 2, 8, 3, 7, 4, 6, 5]);
    expect(ci).toEqual({ low: 2, high: 9, level: 1 - 22 / 1024 });
    // n = 5 cannot reach 95 %: [min, max] with 1 − 2/32.
    expect(medianInterval([5, 4, 3, 2, 1])).toEqual({ low: 1, high: 5, level: 0.9375 });
    // n = 20: x(6)..x(15), coverage 1 − 2·P(Bin(20,½) ≤ 5) = 1 − 2·21700/1048576.
    const n20 = medianInterval(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(n20.low).toBe(6);
    expect(n20.high).toBe(15);
    expect(n20.level).toBeCloseTo(1 - (2 * 21700) / 1048576, 12);
  });
  it('geometric mean', () => {
    expect(geomean([2, 8])).toBeCloseTo(4, 12);
    expect(geomean([1.1, 1 / 1.1])).toBeCloseTo(1, 12);
    expect(geomean([])).toBeNaN();
  });
});

describe('normal distribution', () => {
  it('matches published erfc and Φ values', () => {
    expect(erfc(0.5)).toBeCloseTo(0.4795001221869535, 14);
    expect(erfc(1)).toBeCloseTo(0.15729920705028513, 14);
    expect(erfc(2)).toBeCloseTo(0.004677734981047266, 15);
    expect(normalCdf(1.959963984540054)).toBeCloseTo(0.975, 12);
    expect(normalCdf(0)).toBeCloseTo(0.5, 15);
    expect(normalCdf(-3)).toBeCloseTo(0.0013498980316301, 14);
  });
});

describe('Mann–Whitney U', () => {
  it("R's wilcox.test example (Hollander & Wolfe): W = 35, one-sided p = 0.1272", () => {
    const x = [0.8, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46];
    const y = [1.15, 0.88, 0.9, 0.74, 1.21];
    const r = mannWhitney(x, y);
    expect(r.u).toBe(35);
    expect(r.method).toBe('exact');
    expect(r.p / 2).toBeCloseTo(0.1272, 4);
  });
  it('exact p for complete separation: 2/C(n1+n2, n1)', () => {
    expect(mannWhitney([1, 2, 3], [4, 5, 6])).toEqual({ u: 0, p: 2 / 20, method: 'exact' });
    expect(mannWhitney([6, 7, 8, 9, 10], [1, 2, 3, 4, 5]).p).toBeCloseTo(2 / 252, 15);
    // U = 0 + 1 + 2 = 3; counts of U for m = n = 3: 1 1 2 3 3 3 3 2 1 1 (of 20) → P(U ≤ 3) = 7/20.
    expect(mannWhitney([1, 3, 5], [2, 4, 6])).toEqual({ u: 3, p: 14 / 20, method: 'exact' });
  });
  it('exact counts stay accurate at the largest exact sizes (49 + 49)', () => {
    const x = Array.from({ length: 49 }, (_, i) => i);
    const y = Array.from({ length: 49 }, (_, i) => i + 100);
    // 2 / C(98, 49); C(98, 49) = 25477612258980856902730428600 (beyond 2^53: doubles keep ~16 digits).
    expect(mannWhitney(x, y).p / (2 / Number('25477612258980856902730428600'))).toBeCloseTo(1, 9);
    // Interleaved samples (U = mn/2 ± a little) are far from significant.
    const a = Array.from({ length: 49 }, (_, i) => 2 * i);
    const b = Array.from({ length: 49 }, (_, i) => 2 * i + 1);
    const r = mannWhitney(a, b);
    expect(r.method).toBe('exact');
    expect(r.p).toBeGreaterThan(0.8);
    expect(r.p).toBeLessThanOrEqual(1);
  });
  it('symmetric arrangement gives p = 1 (U = mn/2 exactly)', () => {
    // x = 1 4 5 8, y = 2 3 6 7: U = 0+2+2+4 = 8 = 16/2
    const r = mannWhitney([1, 4, 5, 8], [2, 3, 6, 7]);
    expect(r.u).toBe(8);
    expect(r.p).toBe(1);
  });
  it('ties: normal approximation with tie and continuity correction (hand-computed)', () => {
    // ranks of x = 1 2 3 4 5 among y = 3 4 5 6 7: 1 + 2 + 3.5 + 5.5 + 7.5 = 19.5 → W = 4.5.
    // Three pairs of ties: Σ(t³−t) = 18; σ² = 25/12·(11 − 18/90) = 22.5; z = (4.5 − 12.5 + 0.5)/√22.5.
    const r = mannWhitney([1, 2, 3, 4, 5], [3, 4, 5, 6, 7]);
    expect(r.method).toBe('normal');
    expect(r.u).toBe(4.5);
    expect(r.p).toBeCloseTo(2 * normalCdf(-7.5 / Math.sqrt(22.5)), 15);
    expect(r.p).toBeCloseTo(0.11385, 4);
  });
  it('large samples agree between exact and normal approximation', () => {
    const x = Array.from({ length: 30 }, (_, i) => i * 1.01);
    const y = Array.from({ length: 30 }, (_, i) => i * 1.01 + 7.3);
    const exact = mannWhitney(x, y);
    expect(exact.method).toBe('exact');
    // No ties: the normal approximation is z = (U − mn/2 + ½)/√(mn(N+1)/12).
    const z = (exact.u - 450 + 0.5) / Math.sqrt((900 * 61) / 12);
    expect(exact.p).toBeGreaterThan(0.8 * 2 * normalCdf(z));
    expect(exact.p).toBeLessThan(1.2 * 2 * normalCdf(z));
    expect(mannWhitney([...x, 1000, 1000], [...y, 1000.5]).method).toBe('normal');
  });
});

/**
 * Pure statistics over benchmark samples: summaries, a distribution-free confidence interval of
 * the median, and the Mann–Whitney U test (as R's wilcox.test computes it: exact distribution for
 * small samples without ties, normal approximation with tie and continuity correction otherwise).
 */

export interface Summary {
  n: number;
  median: number;
  /** Median absolute deviation from the median (unscaled). */
  mad: number;
  min: number;
  max: number;
  mean: number;
  /** Confidence interval of the median from order statistics (binomial, distribution-free). */
  ciLow: number;
  ciHigh: number;
  /** The interval's actual coverage (≥ 0.95 when n ≥ 6; [min, max] with its lower level below). */
  ciLevel: number;
}

function sorted(values: readonly number[]): number[] {
  return [...values].sort((a, b) => a - b);
}

export function median(values: readonly number[]): number {
  const s = sorted(values);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** log C(n, k) via log-gamma-free summation (n is a sample count, small). */
function logChoose(n: number, k: number): number {
  let r = 0;
  for (let i = 1; i <= k; i++) r += Math.log(n - k + i) - Math.log(i);
  return r;
}

/** P(X ≤ k) for X ~ Binomial(n, 1/2). */
function binomialHalfCdf(n: number, k: number): number {
  let p = 0;
  for (let i = 0; i <= k; i++) p += Math.exp(logChoose(n, i) - n * Math.LN2);
  return Math.min(1, p);
}

/**
 * The order-statistic interval [x(j), x(n+1-j)] with the largest j whose coverage
 * 1 − 2·P(Bin(n, ½) ≤ j−1) is still ≥ `level`.
 */
export function medianInterval(values: readonly number[], level = 0.95): { low: number; high: number; level: number } {
  const s = sorted(values);
  const n = s.length;
  if (n === 0) return { low: NaN, high: NaN, level: 0 };
  let j = 1;
  while (j + 1 <= n + 1 - (j + 1) && 1 - 2 * binomialHalfCdf(n, j) >= level) j++;
  return { low: s[j - 1]!, high: s[n - j]!, level: n === 1 ? 0 : 1 - 2 * binomialHalfCdf(n, j - 1) };
}

export function summarize(values: readonly number[]): Summary {
  const n = values.length;
  const med = median(values);
  const ci = medianInterval(values);
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
  }
  return {
    n,
    median: med,
    mad: median(values.map((v) => Math.abs(v - med))),
    min: n ? min : NaN,
    max: n ? max : NaN,
    mean: n ? sum / n : NaN,
    ciLow: ci.low,
    ciHigh: ci.high,
    ciLevel: ci.level,
  };
}

/** Geometric mean of positive ratios (NaN when empty or any is ≤ 0). */
export function geomean(values: readonly number[]): number {
  if (values.length === 0 || values.some((v) => !(v > 0))) return NaN;
  return Math.exp(values.reduce((s, v) => s + Math.log(v), 0) / values.length);
}

/** Standard normal CDF, Φ(z) = ½·erfc(−z/√2). */
export function normalCdf(z: number): number {
  return 0.5 * erfc(-z / Math.SQRT2);
}

const ERFC_COF = [
  -1.3026537197817094, 0.6419697923564902, 1.9476473204185836e-2, -9.561514786808631e-3, -9.46595344482036e-4,
  3.66839497852761e-4, 4.2523324806907e-5, -2.0278578112534e-5, -1.624290004647e-6, 1.30365583558e-6,
  1.5626441722e-8, -8.5238095915e-8, 6.529054439e-9, 5.059343495e-9, -9.91364156e-10, -2.27365122e-10,
  9.6467911e-11, 2.394038e-12, -6.886027e-12, 8.94487e-13, 3.13092e-13, -1.12708e-13, 3.81e-16, 7.106e-15,
  -1.523e-15, -9.4e-17, 1.21e-16, -2.8e-17,
];

/** erfc(x) by Chebyshev expansion (Numerical Recipes 3rd ed. §6.2, Erf::erfccheb), |error| < 1.2e-16. */
export function erfc(x: number): number {
  if (x < 0) return 2 - erfc(-x);
  const t = 2 / (2 + x);
  const ty = 4 * t - 2;
  let d = 0;
  let dd = 0;
  for (let j = ERFC_COF.length - 1; j > 0; j--) {
    const tmp = d;
    d = ty * d - dd + ERFC_COF[j]!;
    dd = tmp;
  }
  return t * Math.exp(-x * x + 0.5 * (ERFC_COF[0]! + ty * d) - dd);
}

export interface MannWhitney {
  /** R's W: the Mann–Whitney U of the first sample (pairs x > y, ties counting ½). */
  u: number;
  /** Two-sided p-value. */
  p: number;
  method: 'exact' | 'normal';
}

/**
 * Number of arrangements with U = u for sample sizes m, n (no ties): counts[u], u = 0..m·n. These
 * are the coefficients of the Gaussian binomial [m+n choose m]_q = Π_{i=1..m} (1 − q^(n+i)) / (1 − q^i),
 * built in one array: multiply by (1 − q^(n+i)), then divide by (1 − q^i). Doubles are exact up
 * to 2^53 and lose only relative precision beyond, which p-values do not notice.
 */
function exactUCounts(m: number, n: number): Float64Array {
  const top = m * n;
  const c = new Float64Array(top + 1);
  c[0] = 1;
  for (let i = 1; i <= m; i++) {
    const up = n + i;
    for (let k = top; k >= up; k--) c[k]! -= c[k - up]!;
    for (let k = i; k <= top; k++) c[k]! += c[k - i]!;
  }
  return c;
}

/** Two-sided Mann–Whitney U test of x against y. */
export function mannWhitney(x: readonly number[], y: readonly number[]): MannWhitney {
  const m = x.length;
  const n = y.length;
  if (m === 0 || n === 0) return { u: NaN, p: NaN, method: 'exact' };
  const all = [...x.map((v) => ({ v, s: 0 })), ...y.map((v) => ({ v, s: 1 }))].sort((a, b) => a.v - b.v);
  const ranks = new Float64Array(all.length);
  let tieTerm = 0;
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j + 1 < all.length && all[j + 1]!.v === all[i]!.v) j++;
    const t = j - i + 1;
    for (let k = i; k <= j; k++) ranks[k] = (i + j + 2) / 2;
    tieTerm += t * t * t - t;
    i = j + 1;
  }
  let rankSumX = 0;
  all.forEach((e, i) => {
    if (e.s === 0) rankSumX += ranks[i]!;
  });
  const u = rankSumX - (m * (m + 1)) / 2;
  if (m < 50 && n < 50 && tieTerm === 0) {
    const counts = exactUCounts(m, n);
    let total = 0;
    for (const c of counts) total += c;
    let le = 0;
    for (let k = 0; k <= u; k++) le += counts[k]!;
    let ge = 0;
    for (let k = u; k < counts.length; k++) ge += counts[k]!;
    return { u, p: Math.min(1, (2 * Math.min(le, ge)) / total), method: 'exact' };
  }
  const N = m + n;
  const sigma = Math.sqrt(((m * n) / 12) * (N + 1 - tieTerm / (N * (N - 1))));
  const d = u - (m * n) / 2;
  if (sigma === 0) return { u, p: 1, method: 'normal' };
  const z = (d - 0.5 * Math.sign(d)) / sigma;
  return { u, p: Math.min(1, 2 * Math.min(normalCdf(z), normalCdf(-z))), method: 'normal' };
}

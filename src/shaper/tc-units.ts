/**
 * tc's number and unit parsing, mirroring iproute2 tc/tc_util.c (get_rate64, get_size,
 * get_size_and_cell, get_tc_classid, print_rate, print_size), tc/tc_core.c (tc_calc_xmittime,
 * tc_calc_xmitsize) and lib/utils.c (get_u32, matches). Every function returns `undefined`
 * where tc returns -1, so the caller can phrase tc's own complaint.
 */

/** TC_H_ROOT: the `root` pseudo handle. */
export const TC_H_ROOT = 0xffffffff;

/**
 * The prefix that C's strtod consumes: optional space and sign, then a decimal number with an
 * optional exponent, a hex number (0x..., with an optional binary p exponent), inf/infinity or nan.
 * Returns [value, charsConsumed]; consumed 0 means strtod found no number.
 */
export function strtod(str: string): [number, number] {
  const m = /^\s*([+-]?)(?:(0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?\d+)?)|((?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(inf(?:inity)?|nan))/i.exec(str);
  if (!m) return [0, 0];
  const sign = m[1] === '-' ? -1 : 1;
  let v: number;
  if (m[2] !== undefined) {
    const body = m[2].slice(2);
    const [mant = '', exp] = body.split(/[pP]/);
    const [int = '', frac = ''] = mant.split('.');
    v = (int ? parseInt(int, 16) : 0) + (frac ? parseInt(frac, 16) / 16 ** frac.length : 0);
    if (exp !== undefined) v *= 2 ** Number(exp);
  } else if (m[3] !== undefined) {
    v = Number(m[3]);
  } else {
    v = (m[4] ?? '').toLowerCase() === 'nan' ? NaN : Infinity;
  }
  return [sign * v, m[0].length];
}

/** Rate suffixes in tc's order; matched case-insensitively, first hit wins (tc_util.c `suffixes`). */
const RATE_SUFFIXES: readonly (readonly [string, number])[] = [
  ['bit', 1], ['Kibit', 1024], ['kbit', 1000], ['mibit', 1024 * 1024], ['mbit', 1e6],
  ['gibit', 1024 ** 3], ['gbit', 1e9], ['tibit', 1024 ** 4], ['tbit', 1e12],
  ['Bps', 8], ['KiBps', 8 * 1024], ['KBps', 8000], ['MiBps', 8 * 1024 * 1024], ['MBps', 8e6],
  ['GiBps', 8 * 1024 ** 3], ['GBps', 8e9], ['TiBps', 8 * 1024 ** 4], ['TBps', 8e12],
];

/**
 * get_rate64: a rate in bytes per second. A bare number is bits per second; suffixes are SI
 * (kbit = 1000 bit) or IEC (Kibit = 1024 bit); `Bps` forms are bytes (so `kbps` = KBps = 8000 bit/s).
 * The result is truncated to an integer as tc's `*rate = bps` into a __u64 does.
 */
export function getRate64(str: string): number | undefined {
  const [bps0, used] = strtod(str);
  if (used === 0) return undefined;
  let bps = bps0;
  const rest = str.slice(used);
  if (rest !== '') {
    const lower = rest.toLowerCase();
    const hit = RATE_SUFFIXES.find(([name]) => name.toLowerCase() === lower);
    if (!hit) return undefined;
    bps *= hit[1];
  }
  bps /= 8;
  if (!Number.isFinite(bps) || bps < 0 || bps >= 2 ** 64) return undefined;
  return Math.trunc(bps);
}

/** get_size: bytes; k/kb = 1024, m/mb = 2^20, g/gb = 2^30, kbit/mbit/gbit as bits of those, b. */
export function getSize(str: string): number | undefined {
  const [sz0, used] = strtod(str);
  if (used === 0) return undefined;
  let sz = sz0;
  const p = str.slice(used).toLowerCase();
  if (p !== '') {
    if (p === 'kb' || p === 'k') sz *= 1024;
    else if (p === 'gb' || p === 'g') sz *= 1024 * 1024 * 1024;
    else if (p === 'gbit') sz *= (1024 * 1024 * 1024) / 8;
    else if (p === 'mb' || p === 'm') sz *= 1024 * 1024;
    else if (p === 'mbit') sz *= (1024 * 1024) / 8;
    else if (p === 'kbit') sz *= 1024 / 8;
    else if (p !== 'b') return undefined;
  }
  if (!Number.isFinite(sz) || sz < 0 || sz >= 2 ** 32) return undefined;
  return Math.trunc(sz);
}

/** get_size_and_cell: `SIZE[/CELL]` with CELL a power of two; returns [size, cellLog or -1]. */
export function getSizeAndCell(str: string): [number, number] | undefined {
  const slash = str.indexOf('/');
  const size = getSize(slash >= 0 ? str.slice(0, slash) : str);
  if (size === undefined) return undefined;
  if (slash < 0) return [size, -1];
  const cell = getInteger(str.slice(slash + 1), 0);
  if (cell === undefined) return undefined;
  for (let i = 0; i < 31; i++) if (1 << i === cell) return [size, i];
  return undefined;
}

/** strtoul-style digits in `base` (0 = auto: 0x hex, 0 octal, else decimal); whole string. */
function parseUnsigned(str: string, base: number): number | undefined {
  let s = str;
  let b = base;
  if (b === 0) {
    if (/^0[xX]/.test(s)) { b = 16; s = s.slice(2); }
    else if (/^0\d/.test(s)) { b = 8; s = s.slice(1); }
    else b = 10;
  } else if (b === 16 && /^0[xX]/.test(s)) s = s.slice(2);
  const digits = b === 16 ? /^[0-9a-fA-F]+$/ : b === 8 ? /^[0-7]+$/ : /^[0-9]+$/;
  if (!digits.test(s)) return undefined;
  const v = parseInt(s, b);
  return Number.isSafeInteger(v) ? v : undefined;
}

/** get_u32 (lib/utils.c): a whole unsigned number up to 0xFFFFFFFF in `base`. */
export function getU32(str: string, base: number): number | undefined {
  const v = parseUnsigned(str, base);
  return v !== undefined && v <= 0xffffffff ? v : undefined;
}

/** get_integer: a signed int (strtol) in `base`. */
export function getInteger(str: string, base: number): number | undefined {
  const neg = str.startsWith('-');
  const v = parseUnsigned(neg || str.startsWith('+') ? str.slice(1) : str, base);
  if (v === undefined || v > 0x7fffffff + (neg ? 1 : 0)) return undefined;
  return neg ? -v : v;
}

/** get_qdisc_handle: `1:` or `1` (hex major) → 0x00010000. */
export function getQdiscHandle(str: string): number | undefined {
  if (str === 'none') return 0;
  const m = /^([0-9a-fA-F]+)(:?)$/.exec(str);
  if (!m) return undefined;
  const maj = parseInt(m[1]!, 16);
  if (maj >= 1 << 16) return undefined;
  return maj * 65536;
}

/** get_tc_classid: `root`, `none`, `MAJ:MIN`, `MAJ:`, `:MIN` or a bare hex number, all hex. */
export function getTcClassid(str: string): number | undefined {
  if (str === 'root') return TC_H_ROOT;
  if (str === 'none') return 0;
  const m = /^([0-9a-fA-F]*)(?::([0-9a-fA-F]*))?$/.exec(str);
  if (!m || (m[1] === '' && m[2] === undefined)) return undefined;
  const maj = m[1] === '' ? 0 : parseInt(m[1]!, 16);
  if (m[2] === undefined) return maj <= 0xffffffff ? maj : undefined;
  if (maj >= 1 << 16) return undefined;
  const min = m[2] === '' ? 0 : parseInt(m[2], 16);
  if (min >= 1 << 16) return undefined;
  return (maj * 65536 + min) >>> 0;
}

/** print_tc_classid: `1:10`, `1:`, `:5`, `root`, `none`. */
export function formatClassid(h: number): string {
  if (h === TC_H_ROOT) return 'root';
  if (h === 0) return 'none';
  const maj = h >>> 16;
  const min = h & 0xffff;
  if (maj === 0) return `:${min.toString(16)}`;
  if (min === 0) return `${maj.toString(16)}:`;
  return `${maj.toString(16)}:${min.toString(16)}`;
}

/** matches(): tc accepts any non-empty prefix of a keyword. */
export function matches(arg: string, keyword: string): boolean {
  return arg.length > 0 && keyword.startsWith(arg);
}

/** /proc/net/psched on current kernels: 1 tick = 64 ns, so tick_in_usec = 1000 / 64. */
export const TICK_IN_USEC = 1000 / 64;
export const NS_PER_TICK = 64;

/** tc_calc_xmittime: psched ticks to send `size` bytes at `rate` B/s (usec truncated, then ticks truncated). */
export function tcCalcXmittime(rate: number, size: number): number {
  const usec = Math.trunc((1e6 * size) / rate) >>> 0;
  return Math.trunc(usec * TICK_IN_USEC) >>> 0;
}

/** tc_calc_xmitsize: bytes sent in `ticks` at `rate` B/s (what tc prints back as burst). */
export function tcCalcXmitsize(rate: number, ticks: number): number {
  const usec = Math.trunc(ticks / TICK_IN_USEC) >>> 0;
  return Math.trunc((rate * usec) / 1e6) >>> 0;
}

/** sprint_rate: `rate` in B/s printed as tc prints it (SI: 100Mbit, 1514bit, 1234Kbit). */
export function formatRate(bytesPerSec: number): string {
  const units = ['', 'K', 'M', 'G', 'T'];
  const kilo = 1000;
  let rate = Math.trunc(bytesPerSec) * 8;
  let i = 0;
  for (; i < units.length - 1; i++) {
    if (rate < kilo) break;
    if (rate % kilo !== 0 && rate < 1000 * kilo) break;
    rate = Math.floor(rate / kilo);
  }
  return `${rate.toFixed(0)}${units[i]}bit`;
}

/** C's %g for the small integers print_size feeds it. */
function cG(x: number): string {
  return Number.isInteger(x) && Math.abs(x) < 1e6 ? String(x) : x.toPrecision(6).replace(/\.?0+(e|$)/, '$1');
}

/** C rint(): round half to even. */
function rint(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** sprint_size: 15360 → `15Kb`, 1600 → `1600b`, 2 MiB → `2Mb` (tc's tolerance rules). */
export function formatSize(sz: number): string {
  const mega = 1024 * 1024;
  if (sz >= mega && Math.abs(mega * rint(sz / mega) - sz) < 1024) return `${cG(rint(sz / mega))}Mb`;
  if (sz >= 1024 && Math.abs(1024 * rint(sz / 1024) - sz) < 16) return `${cG(rint(sz / 1024))}Kb`;
  return `${sz >>> 0}b`;
}

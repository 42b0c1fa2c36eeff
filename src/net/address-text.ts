/**
 * Address text, one implementation for every output: IPv4 dotted quad; IPv6 as inet_ntop (glibc
 * and BSD) writes it, which is what tshark, `conntrack -L` and `iptables-save` print: the longest
 * run (at least two) of zero groups as `::`, lower-case hex, embedded IPv4 for ::ffff:a.b.c.d and
 * ::a.b.c.d. Addresses are words read big-endian (192.0.2.1 is 0xc0000201), as in PacketBatch.
 * Pure: imports nothing.
 */

export function formatIPv4(word: number): string {
  return `${word >>> 24}.${(word >>> 16) & 0xff}.${(word >>> 8) & 0xff}.${word & 0xff}`;
}

/** IPv6 text as inet_ntop writes it: longest run (≥ 2) of zero groups as `::`, embedded IPv4 for ::ffff:a.b.c.d and ::a.b.c.d. */
export function formatIPv6(w0: number, w1: number, w2: number, w3: number): string {
  const g = [w0 >>> 16, w0 & 0xffff, w1 >>> 16, w1 & 0xffff, w2 >>> 16, w2 & 0xffff, w3 >>> 16, w3 & 0xffff];
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) bestStart = -1;
  const embedIPv4 = bestStart === 0 && (bestLen === 6 || (bestLen === 5 && g[5] === 0xffff));
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      out += '::';
      i += bestLen - 1;
      continue;
    }
    if (embedIPv4 && i === 6) {
      if (!out.endsWith(':')) out += ':';
      out += formatIPv4(w3 >>> 0);
      break;
    }
    if (out.length > 0 && !out.endsWith(':')) out += ':';
    out += g[i]!.toString(16);
  }
  return out;
}

/** Four address words from `at` (IPv4 uses the first) as text. */
export function formatAddress(family: number, w: ArrayLike<number>, at = 0): string {
  return family === 4 ? formatIPv4(w[at]! >>> 0) : formatIPv6(w[at]! >>> 0, w[at + 1]! >>> 0, w[at + 2]! >>> 0, w[at + 3]! >>> 0);
}

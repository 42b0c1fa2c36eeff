/** IPv4/IPv6 prefixes as four 32-bit words (the PacketBatch address layout). */
import { formatAddress } from '../net/address-text.js';

export interface Prefix {
  readonly family: 4 | 6;
  /** Network address, host bits cleared; IPv4 in word 0. */
  readonly words: Uint32Array;
  readonly length: number;
}

/** Parses dotted IPv4 into a 32-bit number, or returns -1. */
export function parseIPv4(text: string): number {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return -1;
  let v = 0;
  for (let i = 1; i <= 4; i++) {
    const b = Number(m[i]);
    if (b > 255) return -1;
    v = v * 256 + b;
  }
  return v;
}

/** Parses IPv6 text (with `::` and an optional dotted IPv4 tail) into four words, or null. */
export function parseIPv6(text: string): Uint32Array | null {
  if (!/^[0-9a-fA-F:.]+$/.test(text)) return null;
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const groups = (part: string): number[] | null => {
    if (part === '') return [];
    const out: number[] = [];
    const items = part.split(':');
    for (let i = 0; i < items.length; i++) {
      const g = items[i]!;
      if (i === items.length - 1 && g.includes('.')) {
        const v4 = parseIPv4(g);
        if (v4 < 0) return null;
        out.push(Math.floor(v4 / 65536), v4 % 65536);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(g)) out.push(parseInt(g, 16));
      else return null;
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const all = [...head, ...new Array<number>(missing).fill(0), ...tail];
  const words = new Uint32Array(4);
  for (let i = 0; i < 4; i++) words[i] = all[2 * i]! * 65536 + all[2 * i + 1]!;
  return words;
}

/** Parses `A.B.C.D/N` or `X:Y::/N` of the given family; throws RangeError with the reason. */
export function parsePrefix(text: string, family: 4 | 6): Prefix {
  const slash = text.lastIndexOf('/');
  const addr = slash < 0 ? text : text.slice(0, slash);
  const lenText = slash < 0 ? String(family === 4 ? 32 : 128) : text.slice(slash + 1);
  const max = family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(lenText) || Number(lenText) > max) throw new RangeError(`${text}: prefix length must be 0..${max}`);
  const length = Number(lenText);
  const words = new Uint32Array(4);
  if (family === 4) {
    const v = parseIPv4(addr);
    if (v < 0) throw new RangeError(`${text}: not an IPv4 prefix`);
    words[0] = v;
  } else {
    const w = parseIPv6(addr);
    if (!w) throw new RangeError(`${text}: not an IPv6 prefix`);
    words.set(w);
  }
  for (let i = 0; i < 4; i++) words[i] = (words[i]! & prefixMask(family, length, i)) >>> 0;
  return { family, words, length };
}

/** Mask of the network bits of word i. */
export function prefixMask(family: 4 | 6, length: number, i: number): number {
  if (family === 4 && i > 0) return 0xffffffff; // unused words stay zero
  const bits = Math.min(32, Math.max(0, length - 32 * i));
  return bits === 0 ? 0 : bits === 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
}

export { formatAddress };

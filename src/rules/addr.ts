/**
 * Address parsing for rulesets and ipset files. Addresses are four 32-bit words in network order
 * read as big-endian numbers, as in PacketBatch (IPv4 uses word 0, words 1..3 zero).
 */
import { formatIPv4 as formatIpv4 } from '../net/address-text.js';

/** Parses dotted-quad IPv4; returns -1 when the text is not one. */
export function parseIpv4(text: string): number {
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let k = 0; k < text.length; k++) {
    const c = text.charCodeAt(k);
    if (c >= 48 && c <= 57) {
      part = part * 10 + (c - 48);
      digits++;
      if (digits > 3 || part > 255) return -1;
    } else if (c === 46) {
      if (digits === 0 || dots === 3) return -1;
      value = value * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else {
      return -1;
    }
  }
  if (digits === 0 || dots !== 3) return -1;
  return value * 256 + part;
}

/** Parses IPv6 text (with `::` and an optional trailing dotted quad) into `out[0..3]`; false if invalid. */
export function parseIpv6(text: string, out: Uint32Array | number[]): boolean {
  const halves = text.split('::');
  if (halves.length > 2 || text.length === 0) return false;
  const groups: number[] = [];
  const parseGroups = (s: string, into: number[]): boolean => {
    if (s === '') return true;
    const parts = s.split(':');
    for (let k = 0; k < parts.length; k++) {
      const p = parts[k]!;
      if (k === parts.length - 1 && p.includes('.')) {
        const v4 = parseIpv4(p);
        if (v4 < 0) return false;
        into.push(v4 >>> 16, v4 & 0xffff);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return false;
        into.push(parseInt(p, 16));
      }
    }
    return true;
  };
  const head: number[] = [];
  const tail: number[] = [];
  if (!parseGroups(halves[0]!, head)) return false;
  if (halves.length === 2) {
    if (!parseGroups(halves[1]!, tail)) return false;
    if (head.length + tail.length > 7) return false;
    groups.push(...head);
    for (let k = head.length + tail.length; k < 8; k++) groups.push(0);
    groups.push(...tail);
  } else {
    if (head.length !== 8) return false;
    groups.push(...head);
  }
  for (let w = 0; w < 4; w++) out[w] = ((groups[2 * w]! << 16) | groups[2 * w + 1]!) >>> 0;
  return true;
}

/** Mask word w (0..3) of a prefix length over a 32- or 128-bit address. */
export function prefixMaskWord(prefix: number, w: number): number {
  const bits = prefix - 32 * w;
  if (bits <= 0) return 0;
  if (bits >= 32) return 0xffffffff;
  return (0xffffffff << (32 - bits)) >>> 0;
}

export { formatIpv4 };

/**
 * The common IPv4 `A.B.C.D` / `A.B.C.D/NN` (NN of 1 or 2 digits, <= 32) read in place from
 * `text[start, end)`, without slicing a string: true when it was that form and the words are
 * written (exactly what parseCidr writes for it), false to fall back to parseCidr.
 */
export function parseCidr4At(text: string, start: number, end: number, addr: Uint32Array, mask: Uint32Array, offset: number): boolean {
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  let k = start;
  for (; k < end; k++) {
    const c = text.charCodeAt(k);
    if (c >= 48 && c <= 57) {
      part = part * 10 + (c - 48);
      digits++;
      if (digits > 3 || part > 255) return false;
    } else if (c === 46) {
      if (digits === 0 || dots === 3) return false;
      value = value * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else if (c === 47 /* / */) {
      break;
    } else {
      return false;
    }
  }
  if (digits === 0 || dots !== 3) return false;
  const host = value * 256 + part;
  let prefix = 32;
  if (k < end) {
    const n = end - k - 1;
    if (n < 1 || n > 2) return false;
    prefix = 0;
    for (let j = k + 1; j < end; j++) {
      const c = text.charCodeAt(j) - 48;
      if (c < 0 || c > 9) return false;
      prefix = prefix * 10 + c;
    }
    if (prefix > 32) return false;
  }
  const m = prefixMaskWord(prefix, 0);
  mask[offset] = m;
  mask[offset + 1] = 0; mask[offset + 2] = 0; mask[offset + 3] = 0;
  addr[offset] = (host & m) >>> 0;
  addr[offset + 1] = 0; addr[offset + 2] = 0; addr[offset + 3] = 0;
  return true;
}

/**
 * Parses `ADDR`, `ADDR/PREFIX` or `ADDR/MASK` into address and mask words (addr already masked).
 * Returns an error message or null.
 */
export function parseCidr(text: string, family: 4 | 6, addr: Uint32Array, mask: Uint32Array, offset: number): string | null {
  const slash = text.indexOf('/');
  if (family === 4) {
    // Fast path for the common ADDR and ADDR/PREFIX forms (no temporary arrays).
    const host4 = parseIpv4(slash < 0 ? text : text.slice(0, slash));
    let prefix = slash < 0 ? 32 : -1;
    if (slash >= 0 && text.length - slash - 1 <= 2 && text.length - slash - 1 >= 1) {
      prefix = 0;
      for (let k = slash + 1; k < text.length; k++) {
        const c = text.charCodeAt(k) - 48;
        if (c < 0 || c > 9) { prefix = -1; break; }
        prefix = prefix * 10 + c;
      }
    }
    if (host4 >= 0 && prefix >= 0 && prefix <= 32) {
      const m = prefixMaskWord(prefix, 0);
      mask[offset] = m;
      mask[offset + 1] = 0; mask[offset + 2] = 0; mask[offset + 3] = 0;
      addr[offset] = (host4 & m) >>> 0;
      addr[offset + 1] = 0; addr[offset + 2] = 0; addr[offset + 3] = 0;
      return null;
    }
  }
  const host = slash < 0 ? text : text.slice(0, slash);
  const maxBits = family === 4 ? 32 : 128;
  const words = [0, 0, 0, 0];
  if (family === 4) {
    const v = parseIpv4(host);
    if (v < 0) return `bad IPv4 address "${host}"`;
    words[0] = v;
  } else if (!parseIpv6(host, words)) {
    return `bad IPv6 address "${host}"`;
  }
  const m = [0, 0, 0, 0];
  if (slash < 0) {
    for (let w = 0; w < 4; w++) m[w] = prefixMaskWord(maxBits, w);
  } else {
    const p = text.slice(slash + 1);
    if (/^\d{1,3}$/.test(p)) {
      const prefix = Number(p);
      if (prefix > maxBits) return `bad prefix length /${p} (0..${maxBits})`;
      for (let w = 0; w < 4; w++) m[w] = prefixMaskWord(prefix, w);
    } else if (family === 4 && parseIpv4(p) >= 0) {
      m[0] = parseIpv4(p);
    } else if (family === 6 && parseIpv6(p, m)) {
      // explicit IPv6 mask
    } else {
      return `bad mask "/${p}"`;
    }
  }
  for (let w = 0; w < 4; w++) {
    mask[offset + w] = m[w]!;
    addr[offset + w] = (words[w]! & m[w]!) >>> 0;
  }
  return null;
}

/** True when the text looks like an IPv6 address (with or without prefix). */
export function looksIpv6(text: string): boolean {
  return text.includes(':');
}

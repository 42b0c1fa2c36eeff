/** Hand-built pcap / pcapng bytes for the reader tests. */

function u16(v: number, be: boolean): number[] {
  return be ? [(v >>> 8) & 0xff, v & 0xff] : [v & 0xff, (v >>> 8) & 0xff];
}
function u32(v: number, be: boolean): number[] {
  const b = [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
  return be ? b : b.reverse();
}

export interface PcapRecord {
  sec: number;
  sub: number;
  data: readonly number[];
  wireLen?: number;
}

/**
 * A pcap file; `kuznetzov`: Alexey Kuznetsov's patched format (magic 0xa1b2cd34, 24-byte record
 * headers: ifindex, protocol, pkt_type and a pad byte after the usual four words).
 */
export function pcapFile(opts: { bigEndian?: boolean; nano?: boolean; kuznetzov?: boolean; linkType: number; snaplen?: number }, records: readonly PcapRecord[]): Uint8Array {
  const be = opts.bigEndian ?? false;
  const magic = opts.kuznetzov ? 0xa1b2cd34 : opts.nano ? 0xa1b23c4d : 0xa1b2c3d4;
  const out: number[] = [
    ...u32(magic, be), ...u16(2, be), ...u16(4, be), ...u32(0, be), ...u32(0, be),
    ...u32(opts.snaplen ?? 262144, be), ...u32(opts.linkType, be),
  ];
  for (const r of records) {
    out.push(...u32(r.sec, be), ...u32(r.sub, be), ...u32(r.data.length, be), ...u32(r.wireLen ?? r.data.length, be));
    if (opts.kuznetzov) out.push(...u32(3, be), ...u16(0x0800, be), 0, 0);
    for (const byte of r.data) out.push(byte);
  }
  return Uint8Array.from(out);
}

function pad4(data: readonly number[]): number[] {
  const out = [...data];
  while (out.length % 4) out.push(0);
  return out;
}

export function block(type: number, body: readonly number[], be = false): number[] {
  const padded = pad4(body);
  const len = 12 + padded.length;
  return [...u32(type, be), ...u32(len, be), ...padded, ...u32(len, be)];
}

export function shb(be = false): number[] {
  return block(0x0a0d0d0a, [...u32(0x1a2b3c4d, be), ...u16(1, be), ...u16(0, be), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], be);
}

/** tsresol: the if_tsresol byte, or undefined for the default (µs). */
export function idb(linkType: number, opts: { be?: boolean; tsresol?: number; tsoffset?: number; snaplen?: number } = {}): number[] {
  const be = opts.be ?? false;
  const options: number[] = [];
  if (opts.tsresol !== undefined) options.push(...u16(9, be), ...u16(1, be), opts.tsresol, 0, 0, 0);
  if (opts.tsoffset !== undefined) {
    // if_tsoffset: a signed 64-bit count of seconds, in the section's byte order.
    const hi = Math.floor(opts.tsoffset / 2 ** 32) >>> 0, lo = opts.tsoffset >>> 0;
    options.push(...u16(14, be), ...u16(8, be), ...(be ? [...u32(hi, be), ...u32(lo, be)] : [...u32(lo, be), ...u32(hi, be)]));
  }
  if (options.length > 0) options.push(...u16(0, be), ...u16(0, be));
  return block(1, [...u16(linkType, be), ...u16(0, be), ...u32(opts.snaplen ?? 0, be), ...options], be);
}

/** Enhanced packet block; `ts` is a count of interface units split into high/low words. */
export function epb(ifId: number, tsHigh: number, tsLow: number, data: readonly number[], be = false, wireLen?: number): number[] {
  return block(6, [...u32(ifId, be), ...u32(tsHigh, be), ...u32(tsLow, be), ...u32(data.length, be), ...u32(wireLen ?? data.length, be), ...pad4(data)], be);
}

export function spb(data: readonly number[], be = false, wireLen?: number): number[] {
  return block(3, [...u32(wireLen ?? data.length, be), ...pad4(data)], be);
}

export function obsoletePb(ifId: number, tsHigh: number, tsLow: number, data: readonly number[], be = false): number[] {
  return block(2, [...u16(ifId, be), ...u16(0, be), ...u32(tsHigh, be), ...u32(tsLow, be), ...u32(data.length, be), ...u32(data.length, be), ...pad4(data)], be);
}

/** IPv4 + TCP, 40 bytes: 192.0.2.1:1234 -> 198.51.100.7:80, SYN (0x002), id 0x1c46, ttl 64. */
export const IPV4_TCP_SYN: readonly number[] = [
  0x45, 0x00, 0x00, 0x28, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00, 192, 0, 2, 1, 198, 51, 100, 7,
  0x04, 0xd2, 0x00, 0x50, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x50, 0x02, 0x72, 0x10, 0x00, 0x00, 0x00, 0x00,
];

/** IPv6 + UDP, 48 bytes: 2001:db8::1 port 5353 -> ff02::fb port 53, hop limit 255. */
export const IPV6_UDP: readonly number[] = [
  0x60, 0, 0, 0, 0x00, 0x08, 17, 255,
  0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
  0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xfb,
  0x14, 0xe9, 0x00, 0x35, 0x00, 0x08, 0x00, 0x00,
];

export const ETH_HEADER = (type: number): number[] => [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, type >>> 8, type & 0xff];

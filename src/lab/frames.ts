/**
 * A tiny frame builder and header reader for the lab: Ethernet + IPv4/IPv6 + TCP/UDP/ICMP with
 * correct checksums. It exists so that lab scenarios can describe their packets before the trace
 * generator (src/trace/generate.ts) lands; the generator replaces the builder at merge.
 */

export type L4Proto = 'tcp' | 'udp' | 'icmp';

export interface FrameSpec {
  src: string;
  dst: string;
  proto: L4Proto;
  sport?: number;
  dport?: number;
  /** TCP flags as letters: S, A, F, R, P, U (e.g. "SA"). */
  flags?: string;
  seq?: number;
  ack?: number;
  /** Transport payload bytes (zero-filled with a per-frame marker). */
  payload?: number;
  /** ICMP/ICMPv6 type and code (default echo request). */
  icmpType?: number;
  icmpCode?: number;
  ipId?: number;
  ttl?: number;
}

export const ETH_HEADER = 14;
const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;

/** Parses a dotted IPv4 or an IPv6 address into bytes; undefined when it is neither. */
export function parseAddress(text: string): Uint8Array | undefined {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4) {
    const b = v4.slice(1).map(Number);
    if (b.some((x) => x > 255)) return undefined;
    return Uint8Array.from(b);
  }
  if (!text.includes(':') || !/^[0-9a-fA-F:.]+$/.test(text)) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups = (s: string | undefined): number[] | undefined => {
    if (!s) return [];
    const out: number[] = [];
    for (const g of s.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = groups(halves[0]);
  const tail = groups(halves[1]);
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const all = [...head, ...new Array<number>(halves.length === 1 ? 0 : missing).fill(0), ...tail];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  });
  return out;
}

/** Canonical text of address bytes (IPv6 compressed as `ip` prints it). */
export function formatAddress(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join('.');
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((bytes[i]! << 8) | bytes[i + 1]!);
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

function sum16(bytes: Uint8Array, start: number, end: number, acc: number): number {
  for (let i = start; i < end; i += 2) acc += (bytes[i]! << 8) | (i + 1 < end ? bytes[i + 1]! : 0);
  return acc;
}

function fold(acc: number): number {
  while (acc > 0xffff) acc = (acc & 0xffff) + (acc >>> 16);
  return ~acc & 0xffff;
}

const TCP_FLAG_BITS: Record<string, number> = { F: 0x01, S: 0x02, R: 0x04, P: 0x08, A: 0x10, U: 0x20, E: 0x40, C: 0x80 };

export function tcpFlagBits(letters: string): number {
  let bits = 0;
  for (const ch of letters.toUpperCase()) {
    const b = TCP_FLAG_BITS[ch];
    if (b === undefined) throw new RangeError(`unknown TCP flag letter '${ch}' in "${letters}"`);
    bits |= b;
  }
  return bits;
}

/** Builds one Ethernet frame (MACs zero; the sender rewrites them). */
export function buildFrame(spec: FrameSpec, marker = 0): Uint8Array {
  const src = parseAddress(spec.src);
  const dst = parseAddress(spec.dst);
  if (!src || !dst) throw new RangeError(`bad address in ${spec.src} -> ${spec.dst}`);
  if (src.length !== dst.length) throw new RangeError(`mixed IPv4/IPv6 in ${spec.src} -> ${spec.dst}`);
  const v6 = src.length === 16;
  const payloadLen = spec.payload ?? 0;
  const l4Len = (spec.proto === 'tcp' ? 20 : 8) + payloadLen;
  const ipHeader = v6 ? 40 : 20;
  const frame = new Uint8Array(ETH_HEADER + ipHeader + l4Len);
  const view = new DataView(frame.buffer);
  view.setUint16(12, v6 ? ETHERTYPE_IPV6 : ETHERTYPE_IPV4);
  const ip = ETH_HEADER;
  const protoNumber = spec.proto === 'tcp' ? 6 : spec.proto === 'udp' ? 17 : v6 ? 58 : 1;
  if (v6) {
    view.setUint32(ip, 0x60000000);
    view.setUint16(ip + 4, l4Len);
    frame[ip + 6] = protoNumber;
    frame[ip + 7] = spec.ttl ?? 64;
    frame.set(src, ip + 8);
    frame.set(dst, ip + 24);
  } else {
    frame[ip] = 0x45;
    view.setUint16(ip + 2, 20 + l4Len);
    view.setUint16(ip + 4, (spec.ipId ?? marker) & 0xffff);
    view.setUint16(ip + 6, 0x4000);
    frame[ip + 8] = spec.ttl ?? 64;
    frame[ip + 9] = protoNumber;
    frame.set(src, ip + 12);
    frame.set(dst, ip + 16);
    view.setUint16(ip + 10, fold(sum16(frame, ip, ip + 20, 0)));
  }
  const l4 = ip + ipHeader;
  if (spec.proto === 'tcp') {
    view.setUint16(l4, spec.sport ?? 0);
    view.setUint16(l4 + 2, spec.dport ?? 0);
    view.setUint32(l4 + 4, (spec.seq ?? 0) >>> 0);
    view.setUint32(l4 + 8, (spec.ack ?? 0) >>> 0);
    frame[l4 + 12] = 5 << 4;
    frame[l4 + 13] = tcpFlagBits(spec.flags ?? 'S');
    view.setUint16(l4 + 14, 65535);
  } else if (spec.proto === 'udp') {
    view.setUint16(l4, spec.sport ?? 0);
    view.setUint16(l4 + 2, spec.dport ?? 0);
    view.setUint16(l4 + 4, l4Len);
  } else {
    frame[l4] = spec.icmpType ?? (v6 ? 128 : 8);
    frame[l4 + 1] = spec.icmpCode ?? 0;
    view.setUint16(l4 + 4, spec.sport ?? 0); // echo identifier
    view.setUint16(l4 + 6, spec.dport ?? 0); // echo sequence
  }
  // A marker in the payload keeps otherwise identical frames apart when matching captures.
  const payloadStart = l4 + (spec.proto === 'tcp' ? 20 : 8);
  if (payloadLen >= 4) view.setUint32(payloadStart, marker >>> 0);
  // Transport checksum over the pseudo-header (ICMPv4 has none).
  let acc = 0;
  if (v6 || spec.proto !== 'icmp') {
    acc = sum16(src, 0, src.length, acc);
    acc = sum16(dst, 0, dst.length, acc);
    acc += protoNumber + l4Len;
  }
  acc = sum16(frame, l4, frame.length, acc);
  let check = fold(acc);
  if (spec.proto === 'udp' && check === 0) check = 0xffff;
  view.setUint16(l4 + (spec.proto === 'tcp' ? 16 : spec.proto === 'udp' ? 6 : 2), check);
  return frame;
}

/** What the lab needs to know of a frame's headers. */
export interface FrameHeaders {
  /** 4 or 6. */
  readonly l3: 4 | 6;
  /** Offset of the IP header in the frame. */
  readonly ipOffset: number;
  readonly src: string;
  readonly dst: string;
  readonly proto: number;
  readonly sport: number;
  readonly dport: number;
  /** Bytes from the IP header on that identify the packet whatever NAT did (see fingerprint). */
  readonly fingerprint: string;
}

/**
 * Reads the IP and transport headers of an Ethernet (or raw IP, offset 0) frame. Returns a reason
 * string when the frame cannot be replayed through a routed firewall.
 */
export function readHeaders(frame: Uint8Array, ipOffset: number): FrameHeaders | string {
  let ip = ipOffset;
  if (ipOffset === ETH_HEADER) {
    if (frame.length < ETH_HEADER) return 'shorter than an Ethernet header';
    let type = (frame[12]! << 8) | frame[13]!;
    // Skip VLAN tags: the firewall's veth carries untagged frames.
    while ((type === 0x8100 || type === 0x88a8) && frame.length >= ip + 4) {
      type = (frame[ip + 2]! << 8) | frame[ip + 3]!;
      ip += 4;
    }
    if (type !== ETHERTYPE_IPV4 && type !== ETHERTYPE_IPV6) return `not IP (ethertype 0x${type.toString(16).padStart(4, '0')})`;
  }
  if (frame.length < ip + 20) return 'IP header truncated';
  const version = frame[ip]! >> 4;
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  let proto: number;
  let l4: number;
  let src: Uint8Array;
  let dst: Uint8Array;
  let idPart: string;
  let ipLen: number;
  if (version === 4) {
    const ihl = (frame[ip]! & 0x0f) * 4;
    if (ihl < 20 || frame.length < ip + ihl) return 'IPv4 header truncated or malformed';
    proto = frame[ip + 9]!;
    src = frame.subarray(ip + 12, ip + 16);
    dst = frame.subarray(ip + 16, ip + 20);
    l4 = ip + ihl;
    ipLen = view.getUint16(ip + 2);
    idPart = `${view.getUint16(ip + 4)}/${view.getUint16(ip + 6) & 0x1fff}`;
  } else if (version === 6) {
    if (frame.length < ip + 40) return 'IPv6 header truncated';
    proto = frame[ip + 6]!;
    src = frame.subarray(ip + 8, ip + 24);
    dst = frame.subarray(ip + 24, ip + 40);
    l4 = ip + 40;
    ipLen = 40 + view.getUint16(ip + 4);
    idPart = '';
  } else {
    return `IP version ${version}`;
  }
  let sport = 0;
  let dport = 0;
  let transportId = '';
  let payloadStart = l4;
  if ((proto === 6 || proto === 17) && frame.length >= l4 + 8) {
    sport = view.getUint16(l4);
    dport = view.getUint16(l4 + 2);
    if (proto === 6 && frame.length >= l4 + 20) {
      transportId = `${view.getUint32(l4 + 4)}/${view.getUint32(l4 + 8)}/${frame[l4 + 13]}`;
      payloadStart = l4 + ((frame[l4 + 12]! >> 4) * 4);
    } else payloadStart = l4 + 8;
  } else if ((proto === 1 || proto === 58) && frame.length >= l4 + 8) {
    transportId = `${frame[l4]}/${frame[l4 + 1]}`;
    payloadStart = l4 + 8;
  }
  // NAT rewrites addresses, ports and checksums, forwarding rewrites TTL: none of these are in
  // the fingerprint. Payload bytes (up to 32), lengths, IPv4 id and TCP seq/ack/flags are.
  const payload = Buffer.from(frame.subarray(Math.min(payloadStart, frame.length), Math.min(payloadStart + 32, frame.length))).toString('hex');
  return {
    l3: version === 4 ? 4 : 6,
    ipOffset: ip,
    src: formatAddress(src),
    dst: formatAddress(dst),
    proto,
    sport,
    dport,
    fingerprint: `${version}|${proto}|${ipLen}|${idPart}|${transportId}|${payload}`,
  };
}

/**
 * ICMP and ICMPv6 after net/netfilter/nf_conntrack_proto_icmp.c and nf_conntrack_proto_icmpv6.c:
 * queries are connections keyed by their id (request types only may create one, `valid_new[]`;
 * 30 s timeout), and error messages are RELATED to the connection of the header they quote
 * (`nf_conntrack_inet_error` / `icmp_error_message`): the quoted tuple is inverted and looked up.
 *
 * The quoted header is read from the batch's `head` bytes. ICMPv4 errors fit the default 64; an
 * ICMPv6 error needs 92 (40 + 8 + 40 + 4), so with a shorter head the model counts it as an
 * `error` where the kernel would find it RELATED. IPv6 extension headers before the ICMPv6 header
 * or inside the quote are not walked (same outcome).
 */
import type { PacketBatch } from '../trace/batch.js';
import { PacketResult, type ConntrackTable, type PacketResultValue } from './table.js';
import { IPPROTO_ICMP, IPPROTO_ICMPV6, carriesPorts, icmpMayCreate, icmpReplyType } from './tuple.js';

/** NR_ICMP_TYPES: ICMPv4 types above it are refused by icmp_error. */
export const NR_ICMP_TYPES = 18;

/** icmp_is_err (v4) / type < 128 (v6). */
export function icmpIsError(l3: number, type: number): boolean {
  if (l3 === 4) return type === 3 || type === 4 || type === 5 || type === 11 || type === 12;
  return type < 128;
}

/** nf_conntrack_icmp_packet / icmpv6_packet: only request types may create; refresh with the ICMP timeout. */
export function icmpPacket(t: ConntrackTable, c: number, nowMs: number, confirmed: boolean): PacketResultValue {
  const l3 = t.l3Of(c);
  if (!confirmed && !icmpMayCreate(l3, t.portsOf(2 * c) >>> 8 & 0xff)) return PacketResult.INVALID;
  t.refresh(c, nowMs, l3 === 4 ? t.timeouts.icmp : t.timeouts.icmpv6);
  return PacketResult.ACCEPT;
}

function be16(h: Uint8Array, o: number): number {
  return (h[o]! << 8) | h[o + 1]!;
}

function be32(h: Uint8Array, o: number): number {
  return ((h[o]! << 24) | (h[o + 1]! << 16) | (h[o + 2]! << 8) | h[o + 3]!) >>> 0;
}

/**
 * Reads the header an ICMP error quotes in packet i and sets the table's packet tuple to its
 * inversion (what the quoted packet's connection would hold for the error's direction). Returns
 * the tuple's hash as a u32, or -1 when the quote cannot be read or inverted.
 */
export function setQuotedTuple(t: ConntrackTable, batch: PacketBatch, i: number): number {
  const h = batch.head;
  const base = i * batch.headBytes;
  const len = batch.headLen[i]!;
  let l3: number;
  let proto: number;
  let l4: number;
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0, d0 = 0, d1 = 0, d2 = 0, d3 = 0;
  if (batch.l3[i] === 4) {
    if (len < 20) return -1;
    const ihl = (h[base]! & 0x0f) * 4;
    const inner = ihl + 8;
    if (ihl < 20 || len < inner + 20 || h[base + inner]! >> 4 !== 4) return -1;
    const innerIhl = (h[base + inner]! & 0x0f) * 4;
    if (innerIhl < 20) return -1;
    if ((be16(h, base + inner + 6) & 0x1fff) !== 0) return -1; // a quoted non-first fragment has no ports
    l3 = 4;
    proto = h[base + inner + 9]!;
    s0 = be32(h, base + inner + 12);
    d0 = be32(h, base + inner + 16);
    l4 = inner + innerIhl;
  } else {
    const inner = 48;
    if (len < inner + 40 || h[base + 6]! !== IPPROTO_ICMPV6 || h[base + inner]! >> 4 !== 6) return -1;
    l3 = 6;
    proto = h[base + inner + 6]!;
    s0 = be32(h, base + inner + 8); s1 = be32(h, base + inner + 12); s2 = be32(h, base + inner + 16); s3 = be32(h, base + inner + 20);
    d0 = be32(h, base + inner + 24); d1 = be32(h, base + inner + 28); d2 = be32(h, base + inner + 32); d3 = be32(h, base + inner + 36);
    l4 = inner + 40;
  }
  let sport = 0;
  let dport = 0;
  if (carriesPorts(proto)) {
    if (len < l4 + 4) return -1;
    // Inverted: the reply's source port is the quoted destination port.
    sport = be16(h, base + l4 + 2);
    dport = be16(h, base + l4);
  } else if ((proto === IPPROTO_ICMP && l3 === 4) || (proto === IPPROTO_ICMPV6 && l3 === 6)) {
    if (len < l4 + 8) return -1;
    const type = h[base + l4]!;
    const reply = icmpReplyType(l3, type);
    if (reply < 0) return -1;
    sport = be16(h, base + l4 + 4);
    dport = (reply << 8) | h[base + l4 + 1]!;
  }
  return t.setTuple(l3, proto, d0, d1, d2, d3, s0, s1, s2, s3, sport, dport) >>> 0;
}

/**
 * Text forms of decoded packets, in tshark's formats (the corpus truth's 14 columns): IPv4 dotted
 * quad, IPv6 compressed as RFC 5952 / BSD inet_ntop, timestamps with 9 fraction digits.
 */
import { MAX_VLAN_TAGS, PacketFlag, type PacketBatch } from './batch.js';
import { isDecodedLinkType, linkTypeName } from './decode.js';
import { formatIPv4, formatIPv6 } from '../net/address-text.js';

export { formatIPv4, formatIPv6 };

export const TUPLE_COLUMNS = [
  'frame', 'caplen', 'len', 'ts_epoch', 'linktype', 'l3', 'src', 'dst', 'proto',
  'sport', 'dport', 'tcp_flags', 'vlan_ids', 'ip_frag',
] as const;
export type TupleColumn = (typeof TUPLE_COLUMNS)[number];

/** Seconds and nanoseconds as tshark prints frame.time_epoch. */
export function formatEpoch(sec: number, nsec: number): string {
  return `${sec}.${String(nsec).padStart(9, '0')}`;
}

export function formatAddress(batch: PacketBatch, slot: number, words: Uint32Array): string {
  const w = slot * 4;
  if (batch.l3[slot] === 4) return formatIPv4(words[w]!);
  return formatIPv6(words[w]!, words[w + 1]!, words[w + 2]!, words[w + 3]!);
}

/**
 * The 14 truth columns of slot `slot` as strings (`-` where absent). Frames of link types the
 * decoder does not handle carry only the record columns.
 */
export function tupleFields(batch: PacketBatch, slot: number, out: string[]): string[] {
  const flags = batch.flags[slot]!;
  const linkType = batch.linkType[slot]!;
  out.length = 0;
  out.push(String(batch.frameNo[slot]), String(batch.caplen[slot]), String(batch.wireLen[slot]),
    formatEpoch(batch.tsSec[slot]!, batch.tsNsec[slot]!), linkTypeName(linkType));
  if (!isDecodedLinkType(linkType) || (flags & PacketFlag.LINK_NOT_DECODED) !== 0) {
    for (let i = 0; i < 9; i++) out.push('-');
    return out;
  }
  const l3 = batch.l3[slot]!;
  out.push(l3 === 0 ? '-' : String(l3));
  out.push((flags & PacketFlag.IP_HAS_SRC) !== 0 ? formatAddress(batch, slot, batch.src) : '-');
  out.push((flags & PacketFlag.IP_HAS_DST) !== 0 ? formatAddress(batch, slot, batch.dst) : '-');
  out.push((flags & PacketFlag.IP_HAS_PROTO) !== 0 ? String(batch.proto[slot]) : '-');
  const ports = (flags & PacketFlag.PORTS) !== 0;
  out.push(ports ? String(batch.sport[slot]) : '-');
  out.push(ports ? String(batch.dport[slot]) : '-');
  out.push((flags & PacketFlag.TCP) !== 0 ? `0x${batch.tcpFlags[slot]!.toString(16).padStart(4, '0')}` : '-');
  const nv = batch.vlanCount[slot]!;
  if (nv === 0) {
    out.push('-');
  } else {
    let v = '';
    for (let k = 0; k < nv; k++) v += (k ? ',' : '') + batch.vlan[slot * MAX_VLAN_TAGS + k]!;
    out.push(v);
  }
  out.push((flags & PacketFlag.IP_HAS_FRAG) !== 0 ? ((flags & PacketFlag.FRAGMENT) !== 0 ? '1' : '0') : '-');
  return out;
}

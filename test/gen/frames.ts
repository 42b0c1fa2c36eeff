/**
 * A deliberately simple, independent reader for what the generator writes (little-endian pcap
 * and pcapng, Ethernet, IPv4/IPv6, TCP/UDP/ICMP/ICMPv6), with its own checksum code, so the
 * tests do not check the generator against itself.
 */
import { execFileSync } from 'node:child_process';

export interface Frame {
  tsSec: number;
  /** Fraction of the second in the file's units (us or ns). */
  tsFrac: number;
  caplen: number;
  wireLen: number;
  data: Uint8Array;
}

export function readPcap(bytes: Uint8Array): { magic: number; snaplen: number; linkType: number; frames: Frame[] } {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = v.getUint32(0, true);
  const frames: Frame[] = [];
  let p = 24;
  while (p < bytes.length) {
    const caplen = v.getUint32(p + 8, true);
    frames.push({ tsSec: v.getUint32(p, true), tsFrac: v.getUint32(p + 4, true), caplen, wireLen: v.getUint32(p + 12, true), data: bytes.subarray(p + 16, p + 16 + caplen) });
    p += 16 + caplen;
  }
  return { magic, snaplen: v.getUint32(16, true), linkType: v.getUint32(20, true), frames };
}

export interface PcapngBlock {
  type: number;
  body: Uint8Array;
}

export function readPcapngBlocks(bytes: Uint8Array): PcapngBlock[] {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: PcapngBlock[] = [];
  let p = 0;
  while (p < bytes.length) {
    const len = v.getUint32(p + 4, true);
    if (len % 4 !== 0 || v.getUint32(p + len - 4, true) !== len) throw new Error(`bad block length at ${p}`);
    out.push({ type: v.getUint32(p, true), body: bytes.subarray(p + 8, p + len - 4) });
    p += len;
  }
  return out;
}

/** Frames of a pcapng file (EPBs), with the 64-bit timestamp in BigInt units. */
export function readPcapng(bytes: Uint8Array): { frames: (Frame & { ts: bigint; ifIndex: number })[] } {
  const frames: (Frame & { ts: bigint; ifIndex: number })[] = [];
  for (const b of readPcapngBlocks(bytes)) {
    if (b.type !== 6) continue;
    const v = new DataView(b.body.buffer, b.body.byteOffset, b.body.byteLength);
    const ts = (BigInt(v.getUint32(4, true)) << 32n) | BigInt(v.getUint32(8, true));
    const caplen = v.getUint32(12, true);
    frames.push({ ts, ifIndex: v.getUint32(0, true), tsSec: 0, tsFrac: 0, caplen, wireLen: v.getUint32(16, true), data: b.body.subarray(20, 20 + caplen) });
  }
  return { frames };
}

/** RFC 1071 checksum of a byte range, straightforward. */
export function internetChecksum(parts: Uint8Array[]): number {
  let sum = 0;
  for (const part of parts) {
    const even = part.length & ~1;
    for (let i = 0; i < even; i += 2) sum += part[i]! * 256 + part[i + 1]!;
    if (part.length & 1) sum += part[part.length - 1]! * 256;
  }
  while (sum > 0xffff) sum = (sum % 65536) + Math.floor(sum / 65536);
  return 0xffff - sum;
}

export interface Packet {
  family: 4 | 6;
  src: string;
  dst: string;
  proto: number;
  sport: number;
  dport: number;
  tcpFlags: number;
  seq: number;
  ack: number;
  window: number;
  payload: number;
  icmpType: number;
  icmpId: number;
  icmpSeq: number;
  ttl: number;
  ipId: number;
  ipLen: number;
  /** Both the IP header checksum (IPv4) and the transport checksum verify. */
  checksumsOk: boolean;
}

function hex16(b: Uint8Array, at: number): string {
  return ((b[at]! << 8) | b[at + 1]!).toString(16);
}

function addrText(b: Uint8Array, at: number, family: 4 | 6): string {
  if (family === 4) return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
  const g: string[] = [];
  for (let i = 0; i < 16; i += 2) g.push(hex16(b, at + i));
  return g.join(':'); // uncompressed, fine for equality
}

export function parseFrame(f: Uint8Array): Packet {
  const ethType = (f[12]! << 8) | f[13]!;
  const family = ethType === 0x0800 ? 4 : ethType === 0x86dd ? 6 : 0;
  if (family === 0) throw new Error(`ethertype ${ethType.toString(16)}`);
  const l3 = 14;
  let l4: number;
  let proto: number;
  let ipOk = true;
  let pseudo: Uint8Array;
  let ttl: number;
  let ipId = 0;
  let ipLen: number;
  if (family === 4) {
    const ihl = (f[l3]! & 15) * 4;
    l4 = l3 + ihl;
    proto = f[l3 + 9]!;
    ttl = f[l3 + 8]!;
    ipId = (f[l3 + 4]! << 8) | f[l3 + 5]!;
    ipLen = (f[l3 + 2]! << 8) | f[l3 + 3]!;
    ipOk = internetChecksum([f.subarray(l3, l3 + ihl)]) === 0;
    const l4Len = ipLen - ihl;
    pseudo = new Uint8Array(12);
    pseudo.set(f.subarray(l3 + 12, l3 + 20));
    pseudo[9] = proto; pseudo[10] = l4Len >> 8; pseudo[11] = l4Len & 255;
  } else {
    l4 = l3 + 40;
    proto = f[l3 + 6]!;
    ttl = f[l3 + 7]!;
    const l4Len = (f[l3 + 4]! << 8) | f[l3 + 5]!;
    ipLen = 40 + l4Len;
    pseudo = new Uint8Array(40);
    pseudo.set(f.subarray(l3 + 8, l3 + 40));
    pseudo[34] = l4Len >> 8; pseudo[35] = l4Len & 255; pseudo[39] = proto;
  }
  const end = l3 + ipLen;
  const seg = f.subarray(l4, end);
  const l4Ok = proto === 1 ? internetChecksum([seg]) === 0 : internetChecksum([pseudo, seg]) === 0;
  const p: Packet = {
    family, src: addrText(f, family === 4 ? l3 + 12 : l3 + 8, family), dst: addrText(f, family === 4 ? l3 + 16 : l3 + 24, family),
    proto, sport: 0, dport: 0, tcpFlags: 0, seq: 0, ack: 0, window: 0, payload: 0, icmpType: 0, icmpId: 0, icmpSeq: 0, ttl, ipId, ipLen,
    checksumsOk: ipOk && l4Ok,
  };
  const dv = new DataView(f.buffer, f.byteOffset, f.byteLength);
  if (proto === 6 || proto === 17) {
    p.sport = dv.getUint16(l4);
    p.dport = dv.getUint16(l4 + 2);
  }
  if (proto === 6) {
    p.seq = dv.getUint32(l4 + 4);
    p.ack = dv.getUint32(l4 + 8);
    p.tcpFlags = f[l4 + 13]!;
    p.window = dv.getUint16(l4 + 14);
    p.payload = end - l4 - (f[l4 + 12]! >> 4) * 4;
  } else if (proto === 17) {
    p.payload = end - l4 - 8;
    if (dv.getUint16(l4 + 6) === 0) p.checksumsOk = false; // we always fill it
  } else {
    p.icmpType = f[l4]!;
    p.icmpId = dv.getUint16(l4 + 4);
    p.icmpSeq = dv.getUint16(l4 + 6);
    p.payload = end - l4 - 8;
  }
  return p;
}

/** Direction-free flow key: the same for both directions of a connection. */
export function flowKey(p: Packet): string {
  const a = `${p.src}|${p.sport}`;
  const b = `${p.dst}|${p.dport}`;
  const id = p.proto === 1 || p.proto === 58 ? `|${p.icmpId}` : '';
  return `${p.proto}|${a < b ? `${a}|${b}` : `${b}|${a}`}${id}`;
}

export function hasTcpdump(): boolean {
  try {
    execFileSync('tcpdump', ['--version'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

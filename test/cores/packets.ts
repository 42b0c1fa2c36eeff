import { PacketBatch, PacketFlag } from '../../src/trace/batch.js';

/** Dotted quad to the big-endian number PacketBatch stores. */
export function v4(addr: string): number {
  const p = addr.split('.').map(Number);
  return ((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0;
}

/** IPv6 text (with ::) to four big-endian words. */
export function v6(addr: string): Uint32Array {
  const [head, tail] = addr.includes('::') ? addr.split('::') : [addr, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t].map((g) => parseInt(g, 16));
  const out = new Uint32Array(4);
  for (let k = 0; k < 4; k++) out[k] = ((groups[2 * k]! << 16) | groups[2 * k + 1]!) >>> 0;
  return out;
}

export interface TestPacket {
  src: string;
  dst: string;
  sport?: number;
  dport?: number;
  proto?: number;
  len?: number;
  /** Trace time in ns from second 1_700_000_000. */
  ns?: number;
}

/** Writes packet `i` of a batch as a decoded IPv4/IPv6 packet. */
export function putPacket(b: PacketBatch, i: number, p: TestPacket, frameNo: number): void {
  b.resetSlot(i);
  const isV6 = p.src.includes(':');
  b.l3[i] = isV6 ? 6 : 4;
  if (isV6) {
    b.src.set(v6(p.src), i * 4);
    b.dst.set(v6(p.dst), i * 4);
  } else {
    b.src[i * 4] = v4(p.src);
    b.dst[i * 4] = v4(p.dst);
  }
  b.proto[i] = p.proto ?? 6;
  const hasPorts = p.sport !== undefined;
  b.flags[i] = PacketFlag.IP | (hasPorts ? PacketFlag.PORTS : 0);
  b.sport[i] = p.sport ?? 0;
  b.dport[i] = p.dport ?? 0;
  const len = p.len ?? 100;
  b.wireLen[i] = len;
  b.caplen[i] = len;
  b.ipLen[i] = len - 14;
  const ns = p.ns ?? frameNo * 1000;
  b.tsSec[i] = 1_700_000_000 + Math.floor(ns / 1e9);
  b.tsNsec[i] = ns % 1e9;
  b.frameNo[i] = frameNo;
}

/** Packs packets into batches of `capacity`, numbering frames from 1. */
export function batchesOf(packets: readonly TestPacket[], capacity: number): PacketBatch[] {
  const out: PacketBatch[] = [];
  for (let start = 0; start < packets.length; start += capacity) {
    const b = new PacketBatch(capacity, 0);
    const n = Math.min(capacity, packets.length - start);
    for (let i = 0; i < n; i++) putPacket(b, i, packets[start + i]!, start + i + 1);
    b.count = n;
    b.batchId = out.length;
    out.push(b);
  }
  return out;
}

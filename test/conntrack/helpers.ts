import { ConntrackStage } from '../../src/conntrack/stage.js';
import { ConntrackTable, resolveConfig, type ConntrackOptions } from '../../src/conntrack/table.js';
import { PacketBatch, PacketFlag } from '../../src/trace/batch.js';

export const FIN = 0x01, SYN = 0x02, RST = 0x04, PSH = 0x08, ACK = 0x10;

export function ipv4(text: string): number {
  const p = text.split('.').map(Number);
  return ((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0;
}

export interface PacketSpec {
  src: string;
  dst: string;
  proto?: number;
  sport?: number;
  dport?: number;
  tcp?: number;
  icmpType?: number;
  icmpCode?: number;
  icmpId?: number;
  /** Bytes from the IP header on (ICMP errors). */
  head?: Uint8Array;
  flags?: number;
  /** TCP sequence and acknowledgement numbers and payload bytes (IPv4 and TCP headers of 20 bytes). */
  seq?: number;
  ack?: number;
  payload?: number;
}

/** Fills slot i of the batch the way the decoder would for an IPv4 packet. */
export function fillSlot(b: PacketBatch, i: number, p: PacketSpec): void {
  b.resetSlot(i);
  const proto = p.proto ?? 6;
  b.l3[i] = 4;
  b.src[i * 4] = ipv4(p.src);
  b.dst[i * 4] = ipv4(p.dst);
  b.proto[i] = proto;
  let flags = PacketFlag.IP;
  if (proto === 6 || proto === 17) {
    flags |= PacketFlag.PORTS;
    b.sport[i] = p.sport ?? 0;
    b.dport[i] = p.dport ?? 0;
  }
  if (proto === 6) {
    flags |= PacketFlag.TCP;
    b.tcpFlags[i] = p.tcp ?? ACK;
    b.tcpSeq[i] = p.seq ?? 0;
    b.tcpAck[i] = p.ack ?? 0;
    b.ipLen[i] = 40 + (p.payload ?? 0);
  }
  if (proto === 1) {
    flags |= PacketFlag.ICMP;
    b.icmpType[i] = p.icmpType ?? 8;
    b.icmpCode[i] = p.icmpCode ?? 0;
    b.icmpId[i] = p.icmpId ?? 0;
  }
  if (p.head) {
    b.head.set(p.head.subarray(0, b.headBytes), i * b.headBytes);
    b.headLen[i] = Math.min(p.head.length, b.headBytes);
  }
  b.flags[i] = p.flags ?? flags;
}

/** A table and a combined stage, fed one packet at a time at a given trace second. */
export class Harness {
  readonly table: ConntrackTable;
  readonly stage: ConntrackStage;
  readonly batch = new PacketBatch(1, 64);

  constructor(options: ConntrackOptions = {}) {
    this.table = new ConntrackTable(resolveConfig({ buckets: 1024, ...options }));
    this.stage = new ConntrackStage(this.table);
  }

  /** Runs one packet at trace time `sec`; returns [ctState, ctReply, ctId]. */
  send(sec: number, p: PacketSpec): { state: number; reply: number; id: number; verdict: number } {
    fillSlot(this.batch, 0, p);
    this.stage.packet(this.batch, 0, Math.round(sec * 1e9));
    return { state: this.batch.ctState[0]!, reply: this.batch.ctReply[0]!, id: this.batch.ctId[0]!, verdict: this.batch.verdict[0]! };
  }

  /** Seconds left for entry id at trace time `sec` (floor, as conntrack -L shows). */
  left(id: number, sec: number): number {
    return Math.floor(this.table.remainingMs(id, Math.round(sec * 1000)) / 1000);
  }
}

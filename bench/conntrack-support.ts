/**
 * Synthetic flows for the conntrack benchmarks: deterministic (xorshift), IPv4 TCP, clients in
 * 10.0.0.0/8 talking to 1000 servers in 198.18.0.0/15 on ports 443 and 80.
 */
import { PacketBatch, PacketFlag } from '../src/trace/batch.js';

export interface Flows {
  count: number;
  src: Uint32Array;
  dst: Uint32Array;
  sport: Uint16Array;
  dport: Uint16Array;
}

export function makeFlows(count: number, seed = 12345): Flows {
  let x = seed >>> 0 || 1;
  const rnd = (): number => {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    return x;
  };
  const f: Flows = { count, src: new Uint32Array(count), dst: new Uint32Array(count), sport: new Uint16Array(count), dport: new Uint16Array(count) };
  const seen = new Set<string>();
  for (let i = 0; i < count; i++) {
    for (;;) {
      const src = (0x0a000000 | (rnd() & 0xffffff)) >>> 0;
      const dst = (0xc6120000 + (rnd() % 1000)) >>> 0;
      const sport = 1024 + (rnd() % 64000);
      const dport = rnd() & 1 ? 443 : 80;
      const key = `${src}:${dst}:${sport}:${dport}`;
      if (seen.has(key)) continue;
      seen.add(key);
      f.src[i] = src; f.dst[i] = dst; f.sport[i] = sport; f.dport[i] = dport;
      break;
    }
  }
  return f;
}

const SYN = 0x02, ACK = 0x10, PSH = 0x08;

/** Writes one TCP packet of flow i (reply: the server's direction) into slot `slot`. */
export function writePacket(b: PacketBatch, slot: number, f: Flows, i: number, reply: boolean, tcpFlags: number, ns: number): void {
  b.resetSlot(slot);
  b.l3[slot] = 4;
  b.proto[slot] = 6;
  b.flags[slot] = PacketFlag.IP | PacketFlag.PORTS | PacketFlag.TCP;
  b.src[slot * 4] = reply ? f.dst[i]! : f.src[i]!;
  b.dst[slot * 4] = reply ? f.src[i]! : f.dst[i]!;
  b.sport[slot] = reply ? f.dport[i]! : f.sport[i]!;
  b.dport[slot] = reply ? f.sport[i]! : f.dport[i]!;
  b.tcpFlags[slot] = tcpFlags;
  b.tsSec[slot] = Math.floor(ns / 1e9);
  b.tsNsec[slot] = ns % 1e9;
}

/** The handshake (SYN, SYN/ACK, ACK) of every flow, 1 us apart, then `dataPackets` ACK|PSH packets of random flows in either direction. */
export function* tracePackets(f: Flows, dataPackets: number, seed = 777): Generator<[number, boolean, number]> {
  for (let i = 0; i < f.count; i++) {
    yield [i, false, SYN];
    yield [i, true, SYN | ACK];
    yield [i, false, ACK];
  }
  let x = seed;
  for (let k = 0; k < dataPackets; k++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    yield [x % f.count, (x & 0x80000000) !== 0, ACK | PSH];
  }
}

export { SYN, ACK, PSH };

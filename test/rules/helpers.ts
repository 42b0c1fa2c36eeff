import type { ConntrackView } from '../../src/conntrack/view.js';
import { parseIpv4, parseIpv6 } from '../../src/rules/addr.js';
import { parseIptablesSave } from '../../src/rules/parse.js';
import { parseIpsetSave } from '../../src/rules/ipset.js';
import type { Ruleset } from '../../src/rules/ruleset.js';
import { RuleEngine, type EngineOptions } from '../../src/rules/traverse.js';
import { InputError } from '../../src/errors.js';
import { CtState, NO_CONNECTION, PacketBatch, PacketFlag, type CtStateValue } from '../../src/trace/batch.js';

/** A conntrack stand-in: marks and NAT bindings in maps. */
export class TestConntrack implements ConntrackView {
  readonly marks = new Map<number, number>();
  readonly nat: { ctId: number; isSource: boolean; addr: number[]; port: number }[] = [];
  getMark(ctId: number): number {
    return this.marks.get(ctId) ?? 0;
  }
  setMark(ctId: number, mark: number): void {
    this.marks.set(ctId, mark);
  }
  setNat(ctId: number, isSource: boolean, a0: number, a1: number, a2: number, a3: number, port: number): void {
    this.nat.push({ ctId, isSource, addr: [a0, a1, a2, a3], port });
  }
}

export interface Pkt {
  src?: string;
  dst?: string;
  proto?: number;
  sport?: number;
  dport?: number;
  /** TCP flag names, e.g. 'SYN' or 'SYN,ACK'. */
  tcp?: string;
  icmp?: [number, number];
  ipLen?: number;
  ct?: CtStateValue;
  ctId?: number;
  reply?: boolean;
  mark?: number;
  laterFragment?: boolean;
  tsSec?: number;
}

const FLAG_BITS: Record<string, number> = { FIN: 1, SYN: 2, RST: 4, PSH: 8, ACK: 16, URG: 32 };

export function writePacket(b: PacketBatch, i: number, p: Pkt): void {
  b.resetSlot(i);
  const v6 = (p.src ?? '').includes(':') || (p.dst ?? '').includes(':');
  b.l3[i] = v6 ? 6 : 4;
  const put = (arr: Uint32Array, text: string): void => {
    if (v6) {
      const w = [0, 0, 0, 0];
      if (!parseIpv6(text, w)) throw new Error(`bad ${text}`);
      for (let k = 0; k < 4; k++) arr[i * 4 + k] = w[k]!;
    } else {
      arr[i * 4] = parseIpv4(text);
    }
  };
  put(b.src, p.src ?? (v6 ? '2001:db8::1' : '10.0.0.1'));
  put(b.dst, p.dst ?? (v6 ? '2001:db8::2' : '192.0.2.1'));
  const proto = p.proto ?? (p.icmp ? (v6 ? 58 : 1) : 6);
  b.proto[i] = proto;
  let flags = PacketFlag.IP;
  if (p.laterFragment) flags |= PacketFlag.FRAGMENT | PacketFlag.LATER_FRAGMENT;
  else if (proto === 6 || proto === 17) {
    flags |= PacketFlag.PORTS;
    b.sport[i] = p.sport ?? 40000;
    b.dport[i] = p.dport ?? 80;
    if (proto === 6) {
      flags |= PacketFlag.TCP;
      let f = 0;
      for (const n of (p.tcp ?? 'ACK').split(',')) f |= FLAG_BITS[n] ?? 0;
      b.tcpFlags[i] = f;
    }
  } else if (p.icmp) {
    flags |= PacketFlag.ICMP;
    b.icmpType[i] = p.icmp[0];
    b.icmpCode[i] = p.icmp[1];
  }
  b.flags[i] = flags;
  b.ipLen[i] = p.ipLen ?? 100;
  b.ctState[i] = p.ct ?? CtState.NEW;
  b.ctId[i] = p.ctId ?? (p.ct === CtState.INVALID ? NO_CONNECTION : 1);
  b.ctReply[i] = p.reply ? 1 : 0;
  b.mark[i] = p.mark ?? 0;
  b.tsSec[i] = p.tsSec ?? 0;
}

export function batchOf(pkts: Pkt[]): PacketBatch {
  const b = new PacketBatch(Math.max(1, pkts.length), 0);
  pkts.forEach((p, i) => writePacket(b, i, p));
  b.count = pkts.length;
  return b;
}

export function parse(text: string, ipset?: string, lenient = false): Ruleset {
  const sets = ipset === undefined ? undefined : parseIpsetSave(ipset, (line, m) => {
    throw new InputError(`sets:${line}`, m);
  });
  return parseIptablesSave(text, { file: 'rules', sets, lenient });
}

/** A filter table with FORWARD policy `policy` and the given -A FORWARD specs. */
export function filterForward(specs: string[], policy = 'ACCEPT', extraChains = ''): string {
  return ['*filter', ':INPUT ACCEPT [0:0]', `:FORWARD ${policy} [0:0]`, ':OUTPUT ACCEPT [0:0]', ...extraChains.split('\n').filter(Boolean),
    ...specs.map((s) => (s.startsWith('-A ') ? s : `-A FORWARD ${s}`)), 'COMMIT', ''].join('\n');
}

/** Runs packets one by one through an engine; returns verdicts. */
export function run(rs: Ruleset, pkts: Pkt[], options: Partial<EngineOptions> = {}): { engine: RuleEngine; batch: PacketBatch; verdicts: number[] } {
  const engine = new RuleEngine(rs, { path: 'forward', inIface: 'eth0', outIface: 'eth1', ...options });
  const batch = batchOf(pkts);
  const verdicts: number[] = [];
  for (let i = 0; i < batch.count; i++) {
    engine.packet(batch, i, (batch.tsSec[i] ?? 0) * 1e9);
    verdicts.push(batch.verdict[i]!);
  }
  return { engine, batch, verdicts };
}

/** True when the single FORWARD rule matches packet p (rule counter says so). */
export function matches(spec: string, p: Pkt, ipset?: string, options: Partial<EngineOptions> = {}): boolean {
  const rs = parse(filterForward([spec]), ipset);
  const { engine } = run(rs, [p], options);
  return engine.rulePackets[0] === 1;
}

/**
 * The model side of the lab: the same frames the kernel replayed (the same skipped-frame list),
 * through the project's models with the lab's settings, read back in the kernel tools' shapes.
 *
 * Per packet, in the firewall's hook order for a forwarded packet (kernel-reference §3.2):
 *   RuleEngine.beforeConntrack (raw PREROUTING) -> ConntrackInStage (nf_conntrack_in) ->
 *   RuleEngine.afterConntrack (mangle/nat PREROUTING, routing, mangle/filter FORWARD, mangle/nat
 *   POSTROUTING) -> ConntrackConfirmStage (__nf_conntrack_confirm) -> Shaper (the tc tree on the
 *   firewall's egress towards the receiver, f1) for packets routed out of f1.
 * The lab's firewall forwards both ways, so the devices are per packet: in = the side the packet
 * was sent from (f0 for the inside addresses, f1 for the others), out = the side its destination
 * after DNAT (or after un-SNAT for a reply) is routed to, as the lab's routes put it.
 *
 * Conntrack runs for a family only when that family's ruleset needs it (a conntrack/state/connmark
 * match, a CONNMARK/NAT/NOTRACK target, or a nat table): the kernel registers its conntrack hooks
 * per namespace and family only then (nf_ct_netns_get), so a MARK-only ruleset leaves the table
 * empty. The pipeline's `netfilter` stage composes the same models with fixed -i/-o devices; the
 * lab needs them per packet (EngineOptions.devices), hence this one-thread loop.
 */
import { existsSync, readFileSync } from 'node:fs';
import { formatIpv4, formatIpv6, protoName, statsCounters } from '../conntrack/format.js';
import { ConntrackConfirmStage, ConntrackInStage } from '../conntrack/stage.js';
import { ConntrackTable, CtStatus, resolveConfig, type ConntrackOptions } from '../conntrack/table.js';
import { isTimeoutName, TCP_STATE_NAMES, Timeouts, type TimeoutName } from '../conntrack/timeouts.js';
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP } from '../conntrack/tuple.js';
import { InputError, UsageError } from '../errors.js';
import { parseIpv4, parseIpv6 } from '../rules/addr.js';
import { parseIpsetSave, type IpSet } from '../rules/ipset.js';
import { parseIptablesSave } from '../rules/parse.js';
import { MatchKind, Target, type Ruleset } from '../rules/ruleset.js';
import { RuleEngine, type PacketDevices } from '../rules/traverse.js';
import { classReports } from '../shaper/format.js';
import { Shaper } from '../shaper/shaper.js';
import { parseTcScript } from '../shaper/tc-parse.js';
import { NO_CONNECTION, PacketBatch, Verdict } from '../trace/batch.js';
import { readTraceBytes } from '../trace/reader.js';
import type { ModelInput, ModelSide } from './diff.js';
import { TRANSIT } from './netns.js';
import type { ClassCounter, ConntrackEntry, ConntrackProto, ConntrackTuple, LabObservation, RuleCounter } from './types.js';

const INSIDE_DEV = TRANSIT.fwInside.iface;
const OUTSIDE_DEV = TRANSIT.fwOutside.iface;
/** veth has no line rate; the shaper's device takes a packet as soon as HTB hands it over. */
const VETH_RATE_BYTES_PER_S = 12.5e9;

/** One route of the firewall: prefix (four words, IPv4 in word 0) → side. */
interface Route {
  readonly family: 4 | 6;
  readonly words: Uint32Array;
  readonly plen: number;
  readonly inside: boolean;
}

function parseWords(text: string): { family: 4 | 6; words: Uint32Array } | undefined {
  const words = new Uint32Array(4);
  if (text.includes(':')) return parseIpv6(text, words) ? { family: 6, words } : undefined;
  try {
    words[0] = parseIpv4(text);
  } catch {
    return undefined;
  }
  return /^\d+\.\d+\.\d+\.\d+$/.test(text) ? { family: 4, words } : undefined;
}

/** The lab's firewall routes: host routes for the inside addresses, the --route prefixes, default outside. */
export class LabRoutes {
  private readonly routes: Route[] = [];

  constructor(insideAddresses: readonly string[], prefixes: readonly { readonly prefix: string; readonly side: 'inside' | 'outside' }[] = []) {
    for (const a of insideAddresses) {
      const p = parseWords(a);
      if (!p) throw new UsageError(`inside address "${a}" is not an IPv4 or IPv6 address`);
      this.routes.push({ ...p, plen: p.family === 4 ? 32 : 128, inside: true });
    }
    for (const r of prefixes) {
      const [addr, len] = r.prefix.split('/');
      const p = parseWords(addr ?? '');
      const plen = Number(len);
      if (!p || !Number.isInteger(plen) || plen < 0 || plen > (p.family === 4 ? 32 : 128)) throw new UsageError(`route prefix "${r.prefix}" is not ADDRESS/LENGTH`);
      this.routes.push({ ...p, plen, inside: r.side === 'inside' });
    }
    // Longest prefix first: the first match is the route the kernel's FIB picks.
    this.routes.sort((a, b) => b.plen - a.plen);
  }

  /** True when the address (four words at `off` of `words`, IPv4 in the first) is routed to the inside. */
  isInside(family: number, words: ArrayLike<number>, off: number): boolean {
    for (const r of this.routes) {
      if (r.family !== family) continue;
      let left = r.plen;
      let hit = true;
      for (let k = 0; k < 4 && left > 0; k++, left -= 32) {
        const mask = left >= 32 ? 0xffffffff : (0xffffffff << (32 - left)) >>> 0;
        if (((words[off + k]! ^ r.words[k]!) & mask) >>> 0 !== 0) {
          hit = false;
          break;
        }
      }
      if (hit) return r.inside;
    }
    return false;
  }
}

/** Rulesets whose family needs conntrack hooks (nf_ct_netns_get from a match, a target or nat). */
export function needsConntrack(rs: Ruleset): boolean {
  if (rs.tables.some((t) => t.name === 'nat')) return true;
  for (const r of rs.rules) {
    if (r.target === Target.CONNMARK || r.target === Target.SNAT || r.target === Target.DNAT || r.target === Target.MASQUERADE || r.target === Target.REDIRECT || r.target === Target.NOTRACK) return true;
    for (const m of r.matches ?? []) {
      if (m.kind === MatchKind.CTSTATE || m.kind === MatchKind.CTDIR || m.kind === MatchKind.CTORIG_ADDR || m.kind === MatchKind.CTPROTO || m.kind === MatchKind.CTORIG_PORT || m.kind === MatchKind.CONNMARK) return true;
    }
  }
  return false;
}

/** The conntrack settings the lab applied, as model options (sysctl suffix → value). */
export function conntrackOptions(settings: Readonly<Record<string, string>>, host: { max?: number; buckets?: number } = {}): ConntrackOptions {
  const timeouts: Partial<Record<TimeoutName, number>> = {};
  const o: ConntrackOptions = {};
  const num = (k: string, v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new UsageError(`conntrack setting ${k}=${v}: not a whole number`);
    return n;
  };
  for (const [k, v] of Object.entries(settings)) {
    if (k === 'max') o.max = num(k, v);
    else if (k === 'buckets') o.buckets = num(k, v);
    else if (k === 'tcp_loose') o.tcpLoose = num(k, v) !== 0;
    else if (k === 'tcp_be_liberal') o.tcpBeLiberal = num(k, v) !== 0;
    else if (isTimeoutName(k)) timeouts[k] = num(k, v);
    // checksum, acct, timestamp...: no effect on what the model counts.
  }
  if (o.buckets === undefined && host.buckets !== undefined) o.buckets = host.buckets;
  // Without an explicit max the kernel keeps the machine's (not 8 x buckets as for hashsize=).
  if (o.max === undefined) o.max = host.max ?? o.buckets;
  o.timeouts = new Timeouts(timeouts);
  return o;
}

function readHostSysctl(name: string): number | undefined {
  const path = `/proc/sys/net/netfilter/nf_conntrack_${name}`;
  if (!existsSync(path)) return undefined;
  const n = Number(readFileSync(path, 'utf8').trim());
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

const CT_PROTOS: Readonly<Record<string, ConntrackProto>> = { tcp: 'tcp', udp: 'udp', icmp: 'icmp', icmpv6: 'icmpv6', sctp: 'sctp', udplite: 'udplite', gre: 'gre', dccp: 'dccp' };

function tupleOf(t: ConntrackTable, n: number): ConntrackTuple {
  const c = n >>> 1;
  const proto = t.protoOf(c);
  let src: string;
  let dst: string;
  if (t.l3Of(c) === 6 && t.ext) {
    const x = n * 6;
    src = formatIpv6(t.srcOf(n), t.ext[x]!, t.ext[x + 1]!, t.ext[x + 2]!);
    dst = formatIpv6(t.dstOf(n), t.ext[x + 3]!, t.ext[x + 4]!, t.ext[x + 5]!);
  } else {
    src = formatIpv4(t.srcOf(n));
    dst = formatIpv4(t.dstOf(n));
  }
  const p = t.portsOf(n);
  if (proto === IPPROTO_ICMP || proto === IPPROTO_ICMPV6) return { src, dst, type: (p & 0xffff) >>> 8, code: p & 0xff, id: p >>> 16 };
  if (proto === 6 || proto === 17 || proto === 33 || proto === 132 || proto === 136) return { src, dst, sport: p >>> 16, dport: p & 0xffff };
  return { src, dst };
}

/** One confirmed entry as `conntrack -L` lists it (remaining seconds at `nowMs`). */
export function entryOf(t: ConntrackTable, c: number, nowMs: number): ConntrackEntry {
  const proto = t.protoOf(c);
  const st = t.status[c]!;
  const flags: string[] = [];
  if ((st & CtStatus.SEEN_REPLY) === 0) flags.push('UNREPLIED');
  if (st & CtStatus.ASSURED) flags.push('ASSURED');
  return {
    family: t.l3Of(c) === 6 ? 6 : 4,
    proto: CT_PROTOS[protoName(proto)] ?? 'unknown',
    protoNumber: proto,
    timeout: Math.floor(t.remainingMs(c, nowMs) / 1000),
    state: proto === IPPROTO_TCP ? (TCP_STATE_NAMES[t.protoState[c]!] ?? 'NONE') : '',
    original: tupleOf(t, 2 * c),
    reply: tupleOf(t, 2 * c + 1),
    flags,
    mark: t.mark[c]!,
    zone: 0,
  };
}

/** Rule and policy counters keyed as the kernel side keys `iptables-save -c`. */
export function ruleCounters(e: RuleEngine): RuleCounter[] {
  const rs = e.rs;
  const out: RuleCounter[] = [];
  for (const table of rs.tables) {
    for (const id of table.chains) {
      const ch = rs.chains[id]!;
      if (ch.builtin) out.push({ family: rs.family, table: table.name, chain: ch.name, index: 0, text: `policy ${ch.policy === Target.DROP ? 'DROP' : 'ACCEPT'}`, packets: e.policyPackets[id]!, bytes: e.policyBytes[id]! });
      ch.rules.forEach((rid, k) => {
        const r = rs.rules[rid]!;
        out.push({ family: rs.family, table: table.name, chain: ch.name, index: k + 1, text: `-A ${ch.name} ${r.text}`, packets: e.rulePackets[rid]!, bytes: e.ruleBytes[rid]! });
      });
    }
  }
  return out;
}

/** The lab's settings the model needs besides ModelInput's (routes given with --route). */
export interface ModelSideOptions {
  readonly routes?: readonly { readonly prefix: string; readonly side: 'inside' | 'outside' }[];
  /** Host values of the global nf_conntrack_max/buckets when the lab did not set them (default: read from /proc). */
  readonly host?: { readonly max?: number; readonly buckets?: number };
}

/** Runs the frames through the models; the result is what the kernel side reads back. */
export function runModel(input: ModelInput, trace: Uint8Array, options: ModelSideOptions = {}): LabObservation {
  let sets: Map<string, IpSet> | undefined;
  const ipset = input.ipset;
  if (ipset) sets = parseIpsetSave(ipset.text, (line, message) => {
    throw new InputError(`${ipset.name}:${line}`, message);
  });
  const rulesets: Ruleset[] = [];
  if (input.ruleset) rulesets.push(parseIptablesSave(input.ruleset.text, { file: input.ruleset.name, sets, family: 4 }));
  if (input.ruleset6) rulesets.push(parseIptablesSave(input.ruleset6.text, { file: input.ruleset6.name, sets, family: 6 }));
  const host = options.host ?? { max: readHostSysctl('max'), buckets: readHostSysctl('buckets') };
  const table = new ConntrackTable(resolveConfig(conntrackOptions(input.conntrack, host)));
  const ctIn = new ConntrackInStage(table);
  const ctConfirm = new ConntrackConfirmStage(ctIn);
  const routes = new LabRoutes(input.insideAddresses, options.routes);
  const devices: PacketDevices = {
    inIface: (b, i) => (routes.isInside(b.l3[i]!, b.src, i * 4) ? INSIDE_DEV : OUTSIDE_DEV),
    outIface: (b, i) => (routedInside(b, i) ? INSIDE_DEV : OUTSIDE_DEV),
  };
  const masq4 = Uint32Array.of(parseIpv4(TRANSIT.fwOutside.v4), 0, 0, 0);
  const masq6 = new Uint32Array(4);
  parseIpv6(TRANSIT.fwOutside.v6, masq6);
  const engines = rulesets.map((rs) => new RuleEngine(rs, { path: 'forward', conntrack: table, devices, masqueradeAddr: rs.family === 6 ? masq6 : masq4 }));
  const engine4 = engines.find((e) => e.rs.family === 4) ?? null;
  const engine6 = engines.find((e) => e.rs.family === 6) ?? null;
  const tracked4 = engine4 !== null && needsConntrack(engine4.rs);
  const tracked6 = engine6 !== null && needsConntrack(engine6.rs);
  const shaper = input.tc ? new Shaper(parseTcScript(input.tc.text.replace(/\$\{?DEV\}?/g, OUTSIDE_DEV), input.tc.name), { linkRate: VETH_RATE_BYTES_PER_S }) : null;

  /** Where the packet's destination is routed after NAT: the reply tuple's source (DNAT) or the original's source (un-SNAT). */
  function routedInside(b: PacketBatch, i: number): boolean {
    const c = b.ctId[i]!;
    const l3 = b.l3[i]!;
    if (c === NO_CONNECTION || !table.isLive(c)) return routes.isInside(l3, b.dst, i * 4);
    const n = b.ctReply[i] === 1 ? 2 * c : 2 * c + 1;
    scratch[0] = table.srcOf(n);
    if (l3 === 6 && table.ext) {
      scratch[1] = table.ext[n * 6]!;
      scratch[2] = table.ext[n * 6 + 1]!;
      scratch[3] = table.ext[n * 6 + 2]!;
    }
    return routes.isInside(l3, scratch, 0);
  }
  const scratch = new Uint32Array(4);

  const skipped = new Set(input.skipped.map((s) => s.frameNo));
  const forwarded: number[] = [];
  const dropped: number[] = [];
  let origin = -1;
  let lastNs = 0;
  const batch = new PacketBatch();
  readTraceBytes(trace, batch, (b) => {
    for (let i = 0; i < b.count; i++) {
      const frameNo = b.frameNo[i]!;
      if (skipped.has(frameNo)) continue;
      if (origin < 0) origin = b.tsSec[i]!;
      const now = b.timeNs(i, origin);
      lastNs = Math.max(lastNs, now);
      const l3 = b.l3[i]!;
      const engine = l3 === 4 ? engine4 : l3 === 6 ? engine6 : null;
      const tracked = l3 === 4 ? tracked4 : l3 === 6 ? tracked6 : false;
      engine?.beforeConntrack(b, i, now);
      if (tracked) ctIn.packet(b, i, now);
      engine?.afterConntrack(b, i, now);
      if (tracked) ctConfirm.packet(b, i);
      const v = b.verdict[i]!;
      if (v === Verdict.DROP || v === Verdict.REJECT) {
        dropped.push(frameNo);
        continue;
      }
      if (shaper && !routedInside(b, i)) {
        const drops = shaper.htb.qdiscDrops;
        shaper.packet(b, i, now);
        if (shaper.htb.qdiscDrops !== drops) {
          dropped.push(frameNo);
          continue;
        }
      }
      forwarded.push(frameNo);
    }
  }, input.tracePath);
  ctIn.finish(lastNs);
  shaper?.finish(lastNs);

  const nowMs = Math.floor(lastNs / 1e6);
  const conntrack: ConntrackEntry[] = [];
  table.forEachConfirmed((c) => conntrack.push(entryOf(table, c, nowMs)));
  const classes: ClassCounter[] = shaper
    ? classReports(shaper.htb).map((c) => ({ kind: 'htb', classId: c.classid, parent: c.parent, ...(c.leaf ? { leafQdisc: c.leaf } : {}), bytes: c.sentBytes, packets: c.sentPackets, dropped: c.dropped, overlimits: c.overlimits, lended: c.lended, borrowed: c.borrowed }))
    : [];
  return {
    rules: engines.flatMap(ruleCounters),
    conntrack,
    conntrackStats: Object.fromEntries(statsCounters(table)),
    classes,
    outcome: { forwarded, dropped, skipped: input.skipped },
  };
}

export function createModelSide(options: ModelSideOptions = {}): ModelSide {
  return {
    name: 'pktbench models (rules, conntrack, shaper; one thread)',
    run(input: ModelInput): Promise<LabObservation> {
      let bytes: Uint8Array;
      try {
        bytes = readFileSync(input.tracePath);
      } catch (err) {
        throw new InputError(input.tracePath, `cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      }
      return Promise.resolve(runModel(input, bytes, options));
    },
  };
}

/**
 * `netfilter`: the conntrack model and (optionally) an iptables ruleset as one pipeline stage, in
 * the kernel's hook order for the configured path (nf_hook_slow per hook, ipt_do_table per table;
 * kernel-reference §3.2):
 *
 *   raw (PREROUTING or OUTPUT) -> nf_conntrack_in -> mangle -> nat (first packet of a connection
 *   only) -> filter -> mangle/nat POSTROUTING -> __nf_conntrack_confirm (frees the unconfirmed
 *   entry instead when the packet was dropped).
 *
 * The models do the work: RuleEngine.beforeConntrack / afterConntrack (src/rules/traverse.ts)
 * and ConntrackInStage / ConntrackConfirmStage (src/conntrack/stage.ts) over one ConntrackTable
 * (src/conntrack/table.ts) per worker. Nothing is re-implemented here.
 *
 * Sharding: every worker holds its own table and its own copy of the ruleset. With per-flow
 * dispatch (rss-symmetric: both directions of a connection on one worker) every connection lives
 * in exactly one table, so the merged `conntrack -S` counters, entries created/confirmed/expired,
 * the end-of-trace entry count, per-rule and per-policy counters and verdicts equal a one-thread
 * run exactly, as long as no table fills (each worker's table has the configured buckets and max;
 * the kernel's one table is shared, so early_drop/drop under pressure, chain lengths and nodes per
 * lookup are per-worker figures; run with --workers 0 for those). xt_limit buckets are per rule
 * instance and therefore per worker (the kernel's are global), and gc_worker runs per table.
 */
import { statsCounters } from '../conntrack/format.js';
import { ConntrackConfirmStage, ConntrackInStage } from '../conntrack/stage.js';
import { ConntrackTable, resolveConfig, VISIT_HISTOGRAM_SLOTS, type ConntrackOptions } from '../conntrack/table.js';
import { isTimeoutName, Timeouts, type TimeoutName } from '../conntrack/timeouts.js';
import type { HashAlgorithm } from '../conntrack/tuple.js';
import { InputError } from '../errors.js';
import { parseIpsetSave, type IpSet } from '../rules/ipset.js';
import { parseIptablesSave } from '../rules/parse.js';
import type { Ruleset } from '../rules/ruleset.js';
import { EvalHistogram, PATHS, RuleEngine, type PathName } from '../rules/traverse.js';
import { Verdict, type PacketBatch } from '../trace/batch.js';
import type { MergeableStage, StageFactory } from './registry.js';
import { sumCounters, type StageResult } from './result.js';

export const NETFILTER = 'netfilter';

/** A text input that travels to the workers with the name its messages use (`file:line`). */
export interface NamedText {
  readonly name: string;
  readonly text: string;
}

/** Plain data (msgpack-able): what every worker builds its stage from. */
export interface NetfilterConfig {
  readonly conntrack: {
    readonly buckets?: number;
    readonly max?: number;
    readonly hash: HashAlgorithm;
    readonly seed: number;
    /** Overrides by sysctl suffix, seconds (e.g. tcp_timeout_established: 43200). */
    readonly timeouts: Partial<Record<TimeoutName, number>>;
    readonly tcpLoose: boolean;
    readonly tcpBeLiberal: boolean;
  };
  /** iptables-save text (IPv4 packets) and ip6tables-save text (IPv6 packets); absent = conntrack alone. */
  readonly ruleset?: NamedText;
  readonly ruleset6?: NamedText;
  /** `ipset save` text for the sets `-m set` names. */
  readonly ipset?: NamedText;
  readonly lenient: boolean;
  readonly path: PathName;
  readonly inIface: string;
  readonly outIface: string;
}

function fail(message: string): never {
  throw new RangeError(`netfilter: ${message}`);
}

function isNamedText(v: unknown): v is NamedText {
  return typeof v === 'object' && v !== null && typeof (v as NamedText).name === 'string' && typeof (v as NamedText).text === 'string';
}

function optionalText(raw: Record<string, unknown>, key: string): NamedText | undefined {
  const v = raw[key];
  if (v === undefined) return undefined;
  if (!isNamedText(v)) fail(`${key} must be { name, text }`);
  return { name: v.name, text: v.text };
}

function optionalCount(raw: Record<string, unknown>, key: string): number | undefined {
  const v = raw[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 1 << 26) fail(`conntrack ${key} must be 1..${1 << 26}, got ${String(v)}`);
  return v;
}

/** Checks and fills in a raw configuration (RangeError for a wrong shape). */
export function netfilterConfig(raw: Record<string, unknown>): NetfilterConfig {
  const ctRaw = (raw.conntrack ?? {}) as Record<string, unknown>;
  if (typeof ctRaw !== 'object' || ctRaw === null) fail('conntrack must be an object');
  const hash = ctRaw.hash ?? 'siphash';
  if (hash !== 'siphash' && hash !== 'jhash') fail(`conntrack hash must be siphash or jhash, got ${String(hash)}`);
  const seed = ctRaw.seed ?? 1;
  if (typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) fail(`conntrack seed must be 0..4294967295, got ${String(seed)}`);
  const timeoutsRaw = (ctRaw.timeouts ?? {}) as Record<string, unknown>;
  const timeouts: Partial<Record<TimeoutName, number>> = {};
  for (const [k, v] of Object.entries(timeoutsRaw)) {
    if (!isTimeoutName(k)) fail(`unknown conntrack timeout "${k}"`);
    if (typeof v !== 'number') fail(`timeout ${k} must be a number of seconds`);
    timeouts[k] = v;
  }
  new Timeouts(timeouts); // range checks (RangeError naming the timeout)
  const flag = (v: unknown, dflt: boolean, name: string): boolean => {
    if (v === undefined) return dflt;
    if (typeof v !== 'boolean') fail(`${name} must be true or false`);
    return v;
  };
  const path = raw.path ?? 'forward';
  if (typeof path !== 'string' || !(PATHS as readonly string[]).includes(path)) fail(`path must be one of ${PATHS.join(', ')}, got ${String(path)}`);
  const iface = (v: unknown, name: string): string => {
    if (v === undefined) return '';
    if (typeof v !== 'string') fail(`${name} must be an interface name`);
    return v;
  };
  const buckets = optionalCount(ctRaw, 'buckets');
  const max = optionalCount(ctRaw, 'max');
  const ruleset = optionalText(raw, 'ruleset');
  const ruleset6 = optionalText(raw, 'ruleset6');
  const ipset = optionalText(raw, 'ipset');
  return {
    conntrack: {
      ...(buckets !== undefined ? { buckets } : {}),
      ...(max !== undefined ? { max } : {}),
      hash,
      seed,
      timeouts,
      tcpLoose: flag(ctRaw.tcpLoose, true, 'tcpLoose'),
      tcpBeLiberal: flag(ctRaw.tcpBeLiberal, false, 'tcpBeLiberal'),
    },
    ...(ruleset ? { ruleset } : {}),
    ...(ruleset6 ? { ruleset6 } : {}),
    ...(ipset ? { ipset } : {}),
    lenient: flag(raw.lenient, false, 'lenient'),
    path: path as PathName,
    inIface: iface(raw.inIface, 'inIface'),
    outIface: iface(raw.outIface, 'outIface'),
  };
}

/** Parses the configured rulesets (InputError naming `file:line` when one is wrong). */
export function loadRulesets(c: NetfilterConfig): Ruleset[] {
  let sets: Map<string, IpSet> | undefined;
  const ipset = c.ipset;
  if (ipset) {
    sets = parseIpsetSave(ipset.text, (line, message) => {
      throw new InputError(`${ipset.name}:${line}`, message);
    });
  }
  const out: Ruleset[] = [];
  if (c.ruleset) out.push(parseIptablesSave(c.ruleset.text, { file: c.ruleset.name, sets, lenient: c.lenient, family: 'auto' }));
  if (c.ruleset6) out.push(parseIptablesSave(c.ruleset6.text, { file: c.ruleset6.name, sets, lenient: c.lenient, family: 6 }));
  if (out.length === 2 && out[0]!.family === out[1]!.family) throw new InputError(c.ruleset6!.name, `both rulesets are IPv${out[0]!.family}`);
  return out;
}

export function conntrackTableOf(c: NetfilterConfig): ConntrackTable {
  const o: ConntrackOptions = { hash: c.conntrack.hash, seed: c.conntrack.seed, timeouts: new Timeouts(c.conntrack.timeouts), tcpLoose: c.conntrack.tcpLoose, tcpBeLiberal: c.conntrack.tcpBeLiberal };
  if (c.conntrack.buckets !== undefined) o.buckets = c.conntrack.buckets;
  if (c.conntrack.max !== undefined) o.max = c.conntrack.max;
  return new ConntrackTable(resolveConfig(o));
}

/** One ruleset's counters from one shard: typed arrays as bytes (msgpack carries them as binary). */
interface RulesetShard {
  readonly name: string;
  readonly family: number;
  readonly packets: number;
  readonly verdicts: Uint8Array;
  readonly rulePackets: Uint8Array;
  readonly ruleBytes: Uint8Array;
  readonly policyPackets: Uint8Array;
  readonly policyBytes: Uint8Array;
  readonly chainEntries: Uint8Array;
  readonly histogram: Uint8Array;
  readonly histogramSum: number;
  readonly histogramMax: number;
}

interface ShardData {
  readonly kind: 'shard';
  readonly buckets: number;
  readonly max: number;
  readonly maxVisited: number;
  readonly visitHistogram: Uint8Array;
  readonly rulesets: readonly RulesetShard[];
}

/** A rule with hits, in the merged result. */
export interface RuleCounter {
  readonly id: number;
  /** Line in the ruleset file. */
  readonly line: number;
  readonly table: string;
  readonly chain: string;
  readonly packets: number;
  readonly bytes: number;
}

export interface ChainCounter {
  readonly id: number;
  readonly table: string;
  readonly chain: string;
  /** Times the chain was entered (hook start, jump or goto). */
  readonly entries: number;
  /** Built-in chains: packets and bytes counted by the policy; 0 for user chains. */
  readonly policyPackets: number;
  readonly policyBytes: number;
}

export interface RulesetResult {
  readonly name: string;
  readonly family: number;
  readonly packets: number;
  readonly verdicts: { readonly accept: number; readonly drop: number; readonly reject: number };
  readonly rulesEvaluated: { readonly total: number; readonly mean: number; readonly p50: number; readonly p99: number; readonly max: number };
  /** Rules evaluated per packet: [value (bucket lower bound above 1023), packets], non-empty buckets only. */
  readonly histogram: readonly (readonly [number, number])[];
  /** Rules that counted at least one packet, in rule id (file) order. */
  readonly rules: readonly RuleCounter[];
  /** Chains entered at least once or with policy counts. */
  readonly chains: readonly ChainCounter[];
}

/** The merged `data` of a netfilter result. */
export interface NetfilterData {
  readonly kind: 'merged';
  readonly shards: number;
  readonly buckets: number;
  readonly max: number;
  readonly nodesPerLookup: { readonly lookups: number; readonly mean: number; readonly p99: number; readonly max: number };
  readonly rulesets: readonly RulesetResult[];
}

function bytesOf(a: Float64Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Copies (msgpack may hand back an unaligned view) and reinterprets. */
function f64Of(u8: Uint8Array): Float64Array {
  return new Float64Array(u8.slice().buffer);
}

class NetfilterStage implements MergeableStage {
  readonly name = NETFILTER;
  readonly table: ConntrackTable;
  private readonly ctIn: ConntrackInStage;
  private readonly ctConfirm: ConntrackConfirmStage;
  /** The engine for IPv4 and for IPv6 packets (null: that family passes conntrack only). */
  private readonly engine4: RuleEngine | null;
  private readonly engine6: RuleEngine | null;
  readonly engines: readonly RuleEngine[];
  private readonly names: readonly string[];
  private packets = 0;
  /** Final verdicts of every packet the stage saw: none (no ruleset), accept, drop, reject. */
  private readonly verdicts = new Float64Array(4);

  /** `rulesets`: already parsed from `config` (the engines keep their own counters and limit state). */
  constructor(config: NetfilterConfig, rulesets: readonly Ruleset[] = loadRulesets(config)) {
    this.table = conntrackTableOf(config);
    this.ctIn = new ConntrackInStage(this.table);
    this.ctConfirm = new ConntrackConfirmStage(this.ctIn);
    this.engines = rulesets.map((rs) => new RuleEngine(rs, { path: config.path, inIface: config.inIface, outIface: config.outIface, conntrack: this.table }));
    this.names = rulesets.map((rs) => rs.source);
    this.engine4 = this.engines.find((e) => e.rs.family === 4) ?? null;
    this.engine6 = this.engines.find((e) => e.rs.family === 6) ?? null;
  }

  /** The raw table rewrites no tuple (no zones in the model), so conntrack's hashing can run ahead. */
  prepare(b: PacketBatch, index: Uint32Array | null, from: number, to: number): void {
    this.ctIn.prepare(b, index, from, to);
  }

  packet(b: PacketBatch, i: number, nowNs: number): void {
    const l3 = b.l3[i];
    const engine = l3 === 4 ? this.engine4 : l3 === 6 ? this.engine6 : null;
    if (engine !== null) engine.beforeConntrack(b, i, nowNs);
    this.ctIn.packet(b, i, nowNs);
    if (engine !== null) engine.afterConntrack(b, i, nowNs);
    this.ctConfirm.packet(b, i);
    this.packets++;
    this.verdicts[b.verdict[i]! & 3]!++;
  }

  finish(endNs: number): void {
    this.ctIn.finish(endNs);
  }

  snapshot(): StageResult {
    const t = this.table;
    const s = t.stats;
    const counters: Record<string, number> = { packets: this.packets, verdictNone: this.verdicts[Verdict.NONE]!, verdictAccept: this.verdicts[Verdict.ACCEPT]!, verdictDrop: this.verdicts[Verdict.DROP]!, verdictReject: this.verdicts[Verdict.REJECT]! };
    for (const [k, v] of statsCounters(t)) counters[`ct_${k}`] = v;
    Object.assign(counters, {
      ct_count: t.count, ct_created: s.created, ct_confirmed: s.confirmed, ct_expired: s.expired, ct_gc_runs: s.gcRuns, ct_gc_early_dropped: s.gcEarlyDropped,
      ct_later_fragments: s.laterFragments, ct_untracked: s.untracked, ct_not_ip: s.notIp, ct_lookups: s.lookups, ct_nodes_visited: s.nodesVisited,
    });
    const data: ShardData = {
      kind: 'shard',
      buckets: t.buckets,
      max: t.max,
      maxVisited: s.maxVisited,
      visitHistogram: bytesOf(s.visitHistogram.slice()),
      rulesets: this.engines.map((e, k) => ({
        name: this.names[k]!,
        family: e.rs.family,
        packets: e.packets,
        verdicts: bytesOf(e.verdicts.slice()),
        rulePackets: bytesOf(e.rulePackets.slice()),
        ruleBytes: bytesOf(e.ruleBytes.slice()),
        policyPackets: bytesOf(e.policyPackets.slice()),
        policyBytes: bytesOf(e.policyBytes.slice()),
        chainEntries: bytesOf(e.chainEntries.slice()),
        histogram: bytesOf(e.histogram.counts.slice()),
        histogramSum: e.histogram.sum,
        histogramMax: e.histogram.max,
      })),
    };
    return { stage: NETFILTER, counters, data };
  }
}

function isShardData(d: unknown): d is ShardData {
  return typeof d === 'object' && d !== null && (d as ShardData).kind === 'shard' && (d as ShardData).visitHistogram instanceof Uint8Array;
}

function addInto(acc: Float64Array | null, u8: Uint8Array): Float64Array {
  const v = f64Of(u8);
  if (acc === null) return v;
  if (acc.length !== v.length) throw new Error('netfilter shards disagree on the ruleset (counter arrays differ in length)');
  for (let k = 0; k < v.length; k++) acc[k]! += v[k]!;
  return acc;
}

/**
 * Exact merge: counters and histograms add, max of max. The rule and chain lists need the parsed
 * ruleset (names, lines), so merge re-reads the rulesets from the configuration it is given.
 */
export function mergeNetfilter(results: readonly StageResult[], rulesets: readonly Ruleset[]): StageResult {
  const counters = sumCounters(results);
  const shards = results.map((r) => {
    if (!isShardData(r.data)) throw new Error('netfilter result without its shard data');
    return r.data;
  });
  const first = shards[0];
  if (!first) throw new Error('netfilter: nothing to merge');
  let visit: Float64Array | null = null;
  let maxVisited = 0;
  for (const s of shards) {
    visit = addInto(visit, s.visitHistogram);
    maxVisited = Math.max(maxVisited, s.maxVisited);
  }
  const lookups = counters.ct_lookups ?? 0;
  let p99 = 0;
  if (lookups > 0 && visit) {
    const target = Math.ceil(lookups * 0.99);
    let acc = 0;
    for (let k = 0; k < VISIT_HISTOGRAM_SLOTS; k++) {
      acc += visit[k]!;
      if (acc >= target) {
        p99 = k === VISIT_HISTOGRAM_SLOTS - 1 ? maxVisited : k;
        break;
      }
    }
  }
  const merged: RulesetResult[] = first.rulesets.map((_, k) => {
    const rs = rulesets[k];
    if (!rs) throw new Error('netfilter: shard results name more rulesets than the configuration');
    const parts = shards.map((s) => s.rulesets[k]!);
    let rulePackets: Float64Array | null = null;
    let ruleBytes: Float64Array | null = null;
    let policyPackets: Float64Array | null = null;
    let policyBytes: Float64Array | null = null;
    let chainEntries: Float64Array | null = null;
    let verdicts: Float64Array | null = null;
    const hist = new EvalHistogram();
    let packets = 0;
    let histCounts: Float64Array | null = null;
    for (const p of parts) {
      rulePackets = addInto(rulePackets, p.rulePackets);
      ruleBytes = addInto(ruleBytes, p.ruleBytes);
      policyPackets = addInto(policyPackets, p.policyPackets);
      policyBytes = addInto(policyBytes, p.policyBytes);
      chainEntries = addInto(chainEntries, p.chainEntries);
      verdicts = addInto(verdicts, p.verdicts);
      histCounts = addInto(histCounts, p.histogram);
      hist.sum += p.histogramSum;
      hist.max = Math.max(hist.max, p.histogramMax);
      packets += p.packets;
    }
    hist.counts.set(histCounts!);
    for (let b = 0; b < hist.counts.length; b++) hist.total += hist.counts[b]!;
    const histogram: [number, number][] = [];
    for (let b = 0; b < hist.counts.length; b++) if (hist.counts[b]! > 0) histogram.push([EvalHistogram.lowerBound(b), hist.counts[b]!]);
    const rules: RuleCounter[] = [];
    for (let id = 0; id < rulePackets!.length; id++) {
      if (rulePackets![id]! === 0) continue;
      const r = rs.rules[id]!;
      const ch = rs.chains[r.chain]!;
      rules.push({ id, line: r.line, table: ch.table, chain: ch.name, packets: rulePackets![id]!, bytes: ruleBytes![id]! });
    }
    const chains: ChainCounter[] = [];
    for (const ch of rs.chains) {
      const entries = chainEntries![ch.id]!;
      if (entries === 0 && policyPackets![ch.id]! === 0) continue;
      chains.push({ id: ch.id, table: ch.table, chain: ch.name, entries, policyPackets: policyPackets![ch.id]!, policyBytes: policyBytes![ch.id]! });
    }
    return {
      name: parts[0]!.name,
      family: parts[0]!.family,
      packets,
      verdicts: { accept: verdicts![0]!, drop: verdicts![1]!, reject: verdicts![2]! },
      rulesEvaluated: { total: hist.sum, mean: hist.total ? hist.sum / hist.total : 0, p50: hist.quantile(0.5), p99: hist.quantile(0.99), max: hist.max },
      histogram,
      rules,
      chains,
    };
  });
  const data: NetfilterData = {
    kind: 'merged',
    shards: shards.length,
    buckets: first.buckets,
    max: first.max,
    nodesPerLookup: { lookups, mean: lookups > 0 ? (counters.ct_nodes_visited ?? 0) / lookups : 0, p99, max: maxVisited },
    rulesets: merged,
  };
  return { stage: NETFILTER, counters, data };
}

/**
 * The factory. `merge` gets only the shards' results, so it needs the rulesets' names and lines
 * from somewhere: the factory keeps the last configuration it validated or created (the main
 * thread always validates before merging) and parses it once.
 */
export function netfilterFactory(): StageFactory {
  let lastConfig: NetfilterConfig | null = null;
  let parsed: Ruleset[] | null = null;
  const rulesetsOf = (): Ruleset[] => {
    if (parsed === null) parsed = lastConfig ? loadRulesets(lastConfig) : [];
    return parsed;
  };
  return {
    name: NETFILTER,
    description: 'conntrack + iptables ruleset in kernel hook order (config: conntrack {buckets,max,hash,seed,timeouts,tcpLoose,tcpBeLiberal}, ruleset/ruleset6/ipset {name,text}, path, inIface, outIface, lenient)',
    validate(raw) {
      const c = netfilterConfig(raw);
      conntrackTableOf(c); // range checks of buckets/max
      lastConfig = c;
      parsed = loadRulesets(c);
    },
    create(raw) {
      const c = netfilterConfig(raw);
      // In the main thread validate has parsed this configuration already; a worker parses its own.
      if (lastConfig === null || parsed === null) {
        lastConfig = c;
        parsed = loadRulesets(c);
      }
      return new NetfilterStage(c, parsed);
    },
    merge: (results) => mergeNetfilter(results, rulesetsOf()),
  };
}

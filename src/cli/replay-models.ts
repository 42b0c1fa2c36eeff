/**
 * The model flags of `pktbench replay` (--ruleset, --ipset, --tc, conntrack sysctls): read the
 * files, build the netfilter and shaper stage specs (plain data for the workers), and print the
 * merged model results. The shaper's measured cost goes to the cores model as the qdisc lock.
 */
import { readFileSync } from 'node:fs';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { parseTimeoutOverride, type TimeoutName } from '../conntrack/timeouts.js';
import { CoreSimulator, type CoreSimulation, type StageCost } from '../cores/cost.js';
import type { DispatchConfig } from '../cores/dispatch.js';
import { InputError } from '../errors.js';
import { NETFILTER, type NetfilterData, type NamedText } from '../pipeline/netfilter-stage.js';
import type { StageSpec } from '../pipeline/registry.js';
import type { StageClock, StageResult } from '../pipeline/result.js';
import { SHAPER, type ShaperData } from '../pipeline/shaper-stage.js';
import { PATHS } from '../rules/traverse.js';
import { FW_DEFAULT_HTSIZE } from '../shaper/cls-fw.js';
import { getRate64 } from '../shaper/tc-units.js';
import type { PacketBatch } from '../trace/batch.js';
import { parsePositive } from './options.js';

export interface ModelFlags {
  ruleset?: string;
  ruleset6?: string;
  ipset?: string;
  lenient?: boolean;
  path: string;
  in?: string;
  out?: string;
  conntrack?: boolean;
  buckets?: number;
  max?: number;
  hash: string;
  seed: number;
  timeout: [TimeoutName, number][];
  tcpLoose: string;
  tcpBeLiberal: string;
  tc?: string;
  linkRate: number;
  htsize: number;
  txqueuelen: number;
}

function collectTimeout(value: string, previous: [TimeoutName, number][]): [TimeoutName, number][] {
  try {
    return [...previous, parseTimeoutOverride(value)];
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

function parseLinkRate(value: string): number {
  const r = getRate64(value);
  if (r === undefined || r === 0) throw new InvalidArgumentError(`not a tc rate (e.g. 10gbit, 100mbit): ${value}`);
  return r;
}

/** Adds the model flags to the replay command. */
export function addModelOptions(cmd: Command): Command {
  return cmd
    .option('--ruleset <file>', 'iptables-save ruleset: adds the netfilter stage (raw, conntrack, mangle, nat, filter, confirm)')
    .option('--ruleset6 <file>', 'ip6tables-save ruleset for the IPv6 packets')
    .option('--ipset <file>', '`ipset save` output for the sets -m set names')
    .option('--lenient', 'unknown iptables modules and targets become warnings and never-matching rules')
    .addOption(new Option('--path <path>', 'the packets\' path through the host').choices([...PATHS]).default('forward'))
    .option('--in <iface>', 'interface the packets arrive on (-i matches)')
    .option('--out <iface>', 'interface the packets leave by (-o matches)')
    .option('--conntrack', 'the netfilter stage without a ruleset (conntrack alone); implied by --ruleset and the conntrack flags')
    .option('--buckets <n>', 'nf_conntrack_buckets per worker table (rounded up to 512; given alone, max = 8 x buckets)', parsePositive)
    .option('--max <n>', 'nf_conntrack_max per worker table', parsePositive)
    .addOption(new Option('--hash <name>', 'conntrack hash: siphash (v5.15+) or jhash').choices(['siphash', 'jhash']).default('siphash'))
    .option('--seed <n>', 'conntrack hash seed', (v: string) => {
      const n = Number(v);
      if (!/^\d+$/.test(v) || n > 0xffffffff) throw new InvalidArgumentError(`a whole number 0..4294967295: ${v}`);
      return n;
    }, 1)
    .option('--timeout <name=seconds>', 'conntrack timeout override by sysctl name, repeatable', collectTimeout, [])
    .addOption(new Option('--tcp-loose <0|1>', 'nf_conntrack_tcp_loose').choices(['0', '1']).default('1'))
    .addOption(new Option('--tcp-be-liberal <0|1>', 'nf_conntrack_tcp_be_liberal').choices(['0', '1']).default('0'))
    .option('--tc <file>', 'tc script: adds the HTB shaper stage after netfilter (each worker shapes its own share)')
    .addOption(new Option('--link-rate <rate>', 'shaper device rate in tc units').argParser(parseLinkRate).default(getRate64('10gbit')!, '10gbit'))
    .option('--htsize <n>', 'cls_fw hash buckets per filter instance', parsePositive, FW_DEFAULT_HTSIZE)
    .option('--txqueuelen <n>', 'device tx_queue_len: default leaf fifo limit and direct_qlen', parsePositive, 1000);
}

function readNamed(path: string, what: string): NamedText {
  try {
    return { name: path, text: readFileSync(path, 'utf8') };
  } catch (err) {
    throw new InputError(path, `cannot read the ${what} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

/** The netfilter stage, when a flag asks for it. */
export function netfilterSpec(f: ModelFlags): StageSpec | null {
  const wanted = f.ruleset !== undefined || f.ruleset6 !== undefined || f.conntrack === true || f.buckets !== undefined || f.max !== undefined || f.timeout.length > 0;
  if (!wanted) return null;
  const conntrack: Record<string, unknown> = {
    hash: f.hash,
    seed: f.seed,
    timeouts: Object.fromEntries(f.timeout),
    tcpLoose: f.tcpLoose === '1',
    tcpBeLiberal: f.tcpBeLiberal === '1',
  };
  if (f.buckets !== undefined) conntrack.buckets = f.buckets;
  if (f.max !== undefined) conntrack.max = f.max;
  const config: Record<string, unknown> = { conntrack, path: f.path, inIface: f.in ?? '', outIface: f.out ?? '', lenient: f.lenient ?? false };
  if (f.ruleset !== undefined) config.ruleset = readNamed(f.ruleset, 'ruleset');
  if (f.ruleset6 !== undefined) config.ruleset6 = readNamed(f.ruleset6, 'ruleset');
  if (f.ipset !== undefined) config.ipset = readNamed(f.ipset, 'ipset file');
  return { name: NETFILTER, config };
}

export function shaperSpec(f: ModelFlags): StageSpec | null {
  if (f.tc === undefined) return null;
  return { name: SHAPER, config: { tc: readNamed(f.tc, 'tc script'), linkRate: f.linkRate, htsize: f.htsize, txqueuelen: f.txqueuelen } };
}

/** What the qdisc lock costs at the measured shaper time (the cores model's serialized resource). */
export interface ShaperLockReport {
  /** Measured ns per packet of each stage (sampled clocks of this run). */
  readonly costs: readonly StageCost[];
  readonly simulation: CoreSimulation;
}

/**
 * Replays the trace through the cores model with the measured per-stage costs, the shaper's
 * marked as held under the one qdisc lock: how busy that lock is at the trace's rate and which
 * resource gives out first.
 */
export async function shaperLock(clocks: readonly StageClock[], source: AsyncIterable<PacketBatch>, dispatch: DispatchConfig): Promise<ShaperLockReport | null> {
  if (!clocks.some((c) => c.stage === SHAPER)) return null;
  const costs = clocks.map((c) => ({ name: c.stage, nsPerPacket: c.packets > 0 ? c.estimatedNs / c.packets : 0, serialized: c.stage === SHAPER }));
  const sim = new CoreSimulator({ dispatch, stages: costs });
  for await (const b of source) sim.addBatch(b);
  return { costs, simulation: sim.result() };
}

const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** Report lines for the model stages (others are printed by the generic code). */
export function formatModelStage(s: StageResult): string[] | null {
  if (s.stage === NETFILTER) {
    const c = s.counters;
    const d = s.data as NetfilterData;
    const ct = ['found', 'invalid', 'insert', 'insert_failed', 'drop', 'early_drop', 'error', 'search_restart', 'clash_resolve', 'chaintoolong'].map((k) => `${k}=${c[`ct_${k}`] ?? 0}`).join(' ');
    const lines = [
      `netfilter: ${fmt(c.packets ?? 0)} packets: accepted ${c.verdictAccept}, dropped ${c.verdictDrop}, rejected ${c.verdictReject}, no ruleset ${c.verdictNone}`,
      `  conntrack -S (summed over ${d.shards} table${d.shards === 1 ? '' : 's'}): ${ct}`,
      `  conntrack: count=${c.ct_count} created=${c.ct_created} confirmed=${c.ct_confirmed} expired=${c.ct_expired} untracked=${c.ct_untracked} later_fragments=${c.ct_later_fragments} not_ip=${c.ct_not_ip} (buckets ${d.buckets}, max ${d.max} per table)`,
      `  conntrack lookups ${d.nodesPerLookup.lookups}: nodes per lookup mean ${d.nodesPerLookup.mean.toFixed(3)} p99 ${d.nodesPerLookup.p99} max ${d.nodesPerLookup.max}${d.shards > 1 ? ' (per-worker tables: chains are shorter than in one shared table)' : ''}`,
    ];
    for (const r of d.rulesets) {
      const e = r.rulesEvaluated;
      lines.push(`  ruleset ${r.name} (IPv${r.family}): ${r.packets} packets, accepted ${r.verdicts.accept}, dropped ${r.verdicts.drop}, rejected ${r.verdicts.reject}`);
      lines.push(`    rules evaluated per packet: mean ${e.mean.toFixed(2)}, p50 ${e.p50}, p99 ${e.p99}, max ${e.max} (total ${e.total})`);
      const top = [...r.rules].sort((a, b) => b.packets - a.packets || a.id - b.id).slice(0, 10);
      for (const t of top) lines.push(`    ${t.packets} pkts ${t.bytes} bytes  line ${t.line}: ${t.table}/${t.chain}`);
      for (const ch of r.chains) if (ch.policyPackets > 0) lines.push(`    policy ${ch.table}/${ch.chain}: ${ch.policyPackets} pkts ${ch.policyBytes} bytes`);
    }
    return lines;
  }
  if (s.stage === SHAPER) {
    const c = s.counters;
    const d = s.data as ShaperData;
    const k = d.classification;
    const lines = [
      `shaper ${d.dev}: classified ${k.packets} packets (skipped ${c.skippedDropped} dropped upstream), entries walked per packet mean ${k.walkedMean.toFixed(2)} p99 ${k.walkedP99} max ${k.walkedMax}`,
      `  qdisc: sent ${c.qdiscSentBytes} bytes ${c.qdiscSentPackets} pkt (dropped ${c.qdiscDropped}, overlimits ${c.qdiscOverlimits}), direct ${c.directPackets}`,
    ];
    if (d.shards > 1) lines.push(`  ${d.shards} workers each shaped their own share: sent/dropped are exact only while nothing throttles; overlimits/lended/borrowed are per-worker figures`);
    lines.push('  class      enqueued  sent_pkt   sent_bytes  dropped  overlimits  lended  borrowed');
    for (const cl of d.classes) {
      lines.push(`  ${cl.classid.padEnd(9)} ${String(cl.enqueued).padStart(9)} ${String(cl.sentPackets).padStart(9)} ${String(cl.sentBytes).padStart(12)} ${String(cl.dropped).padStart(8)} ${String(cl.overlimits).padStart(11)} ${String(cl.lended).padStart(7)} ${String(cl.borrowed).padStart(9)}`);
    }
    return lines;
  }
  return null;
}

export function formatShaperLock(r: ShaperLockReport): string[] {
  const s = r.simulation;
  const shaperCost = r.costs.find((c) => c.serialized)?.nsPerPacket ?? 0;
  return [
    `shaper lock (cores model, measured costs ${r.costs.map((c) => `${c.name}=${c.nsPerPacket.toFixed(0)}ns${c.serialized ? ':lock' : ''}`).join(' ')}):`,
    `  the qdisc lock is busy ${(s.lock!.busyNs / 1e6).toFixed(3)} ms${s.lock!.utilization === null ? '' : ` (${(s.lock!.utilization * 100).toFixed(1)}% at the trace's rate)`}; it alone caps the rate at ${shaperCost > 0 ? fmt(1e9 / shaperCost) : '-'} packets/s`,
    `  saturates first: ${s.bottleneck.resource === 'lock' ? 'the shaper lock' : `core ${s.bottleneck.core}`}; max sustainable rate ${fmt(s.maxSustainablePps)} packets/s on ${s.cores.length} cores`,
  ];
}

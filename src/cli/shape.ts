import { InvalidArgumentError, Option, type Command } from 'commander';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { InputError, UsageError } from '../errors.js';
import { netfilterFactory, type NetfilterData } from '../pipeline/netfilter-stage.js';
import type { MergeableStage } from '../pipeline/registry.js';
import type { StageResult } from '../pipeline/result.js';
import { PATHS, type PathName } from '../rules/traverse.js';
import { FW_DEFAULT_HTSIZE } from '../shaper/cls-fw.js';
import { classReports, formatClasses, formatQdisc, qdiscReport } from '../shaper/format.js';
import { Shaper } from '../shaper/shaper.js';
import { parseTcScript } from '../shaper/tc-parse.js';
import { getRate64 } from '../shaper/tc-units.js';
import { PacketBatch } from '../trace/batch.js';
import { openTrace } from '../trace/reader.js';
import type { TraceReader } from '../trace/source.js';
import { parsePositive } from './options.js';

export interface ShapeOptions {
  tc: string;
  trace?: string;
  ruleset?: string;
  ruleset6?: string;
  ipset?: string;
  path: PathName;
  in?: string;
  out?: string;
  lenient?: boolean;
  linkRate: number;
  htsize: number;
  txqueuelen: number;
  json?: boolean;
}

/** What one run of the shaper over a trace measured. */
export interface ShapeRun {
  packets: number;
  /** Wall-clock ns spent in the shaper (classify + enqueue + dequeue): one serialized resource. */
  shaperNs: number;
  traceSpanNs: number;
  /** Wall-clock ns spent in the rules stage before the shaper (0 without one). */
  rulesNs: number;
}

/**
 * Replays a trace through the shaper: packet times relative to the first packet's second, the
 * device run to the trace's end, then drained. Timing covers the shaper's own calls only (per
 * batch, so the clock adds nothing per packet).
 *
 * `rules` (the netfilter stage: conntrack and the ruleset) runs first over each batch: packets
 * then carry their marks and CLASSIFY priorities and the dropped ones are skipped by the shaper.
 * Running the whole batch through the rules before the shaper gives the per-packet order's result
 * (nothing the shaper does feeds back into the rules) and lets each be timed alone.
 */
export async function runShaper(shaper: Shaper, reader: TraceReader, batch: PacketBatch = new PacketBatch(), rules: MergeableStage | null = null): Promise<ShapeRun> {
  let origin = -1;
  let packets = 0;
  let shaperNs = 0;
  let rulesNs = 0;
  let lastNs = 0;
  let rulesLastNs = 0;
  for (;;) {
    const n = await reader.read(batch);
    if (n === 0) break;
    if (origin < 0) origin = batch.tsSec[0]!;
    if (rules) {
      const r0 = performance.now();
      for (let i = 0; i < n; i++) {
        const t = batch.timeNs(i, origin);
        rulesLastNs = t > rulesLastNs ? t : rulesLastNs;
        rules.packet(batch, i, rulesLastNs);
      }
      rulesNs += (performance.now() - r0) * 1e6;
    }
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const t = batch.timeNs(i, origin);
      // Traces are not always in time order; the qdisc cannot go back in time.
      const now = t > lastNs ? t : lastNs;
      lastNs = now;
      shaper.packet(batch, i, now);
    }
    shaperNs += (performance.now() - t0) * 1e6;
    packets += n;
  }
  const t0 = performance.now();
  shaper.finish(lastNs);
  shaperNs += (performance.now() - t0) * 1e6;
  rules?.finish?.(rulesLastNs);
  return { packets, shaperNs, traceSpanNs: lastNs, rulesNs };
}

function parseLinkRate(value: string): number {
  const r = getRate64(value);
  if (r === undefined || r === 0) throw new InvalidArgumentError(`not a tc rate (e.g. 10gbit, 100mbit): ${value}`);
  return r;
}

function readScript(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new InputError(path, `cannot read the tc script (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

/** The summary lines after the class list: classification cost and time per packet. */
function costLines(shaper: Shaper, run: ShapeRun): string {
  const mean = shaper.classified ? shaper.walkTotal / shaper.classified : 0;
  return `classification: ${shaper.classified} packets, entries walked per packet mean ${mean.toFixed(2)} p99 ${shaper.walkPercentile(0.99)} max ${shaper.walkMax} (cls_fw HTSIZE ${shaper.htsize})\n`
    + `shaper time: ${(run.packets ? run.shaperNs / run.packets : 0).toFixed(0)} ns per packet, ${(run.shaperNs / 1e6).toFixed(1)} ms in all `
    + `(one qdisc lock: this work is serialized across cores)\n`
    + (shaper.skippedDropped ? `skipped: ${shaper.skippedDropped} packets already dropped\n` : '');
}

function readRules(path: string, what: string): { name: string; text: string } {
  try {
    return { name: path, text: readFileSync(path, 'utf8') };
  } catch (err) {
    throw new InputError(path, `cannot read the ${what} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

/** What the rules did before the shaper (the netfilter stage's merged result). */
function rulesLine(r: StageResult, run: ShapeRun): string {
  const c = r.counters;
  const d = r.data as NetfilterData;
  const marks = d.rulesets.map((rs) => `${rs.name}: ${rs.rules.length} rules hit, rules evaluated per packet mean ${rs.rulesEvaluated.mean.toFixed(2)}`).join('; ');
  return `rules before the shaper: ${c.packets} packets, accepted ${c.verdictAccept}, dropped ${c.verdictDrop} (never reach the shaper), rejected ${c.verdictReject}, `
    + `conntrack entries ${c.ct_count}; ${marks}; ${(run.packets ? run.rulesNs / run.packets : 0).toFixed(0)} ns per packet\n`;
}

export async function shapeCommand(opts: ShapeOptions, out: (s: string) => void): Promise<void> {
  if (opts.ruleset6 !== undefined && opts.ruleset === undefined) throw new UsageError('--ruleset6 needs --ruleset');
  if (opts.ipset !== undefined && opts.ruleset === undefined) throw new UsageError('--ipset needs --ruleset');
  const config = parseTcScript(readScript(opts.tc), opts.tc);
  // The rules run as the replay pipeline runs them: conntrack plus the ruleset in hook order.
  let rules: MergeableStage | null = null;
  const factory = netfilterFactory();
  if (opts.ruleset !== undefined) {
    const nf: Record<string, unknown> = { path: opts.path, inIface: opts.in ?? '', outIface: opts.out ?? config.dev, lenient: opts.lenient ?? false, ruleset: readRules(opts.ruleset, 'ruleset') };
    if (opts.ruleset6 !== undefined) nf.ruleset6 = readRules(opts.ruleset6, 'ruleset');
    if (opts.ipset !== undefined) nf.ipset = readRules(opts.ipset, 'ipset file');
    factory.validate!(nf);
    rules = factory.create(nf, { shard: 0, shards: 1, shared: [] });
  }
  if (opts.trace === undefined) throw new UsageError('--trace FILE is required (the packets to shape)');
  const shaper = new Shaper(config, { linkRate: opts.linkRate, htsize: opts.htsize, txQueueLen: opts.txqueuelen });
  const reader = await openTrace(opts.trace);
  let run: ShapeRun;
  try {
    run = await runShaper(shaper, reader, new PacketBatch(), rules);
  } finally {
    await reader.close();
  }
  const rulesResult = rules ? factory.merge([rules.snapshot()]) : null;
  if (opts.json) {
    const mean = shaper.classified ? shaper.walkTotal / shaper.classified : 0;
    out(`${JSON.stringify({
      dev: config.dev,
      qdisc: qdiscReport(shaper.htb),
      classes: classReports(shaper.htb),
      classification: { packets: shaper.classified, htsize: shaper.htsize, walkedMean: mean, walkedP99: shaper.walkPercentile(0.99), walkedMax: shaper.walkMax },
      cost: { packets: run.packets, shaperNs: run.shaperNs, nsPerPacket: run.packets ? run.shaperNs / run.packets : 0, serialized: true, work: shaper.workCounters() },
      skippedDropped: shaper.skippedDropped,
      ...(rulesResult ? { rules: { counters: rulesResult.counters, rulesets: (rulesResult.data as NetfilterData).rulesets, nsPerPacket: run.packets ? run.rulesNs / run.packets : 0 } } : {}),
      warnings: reader.warnings,
    }, null, 2)}\n`);
    return;
  }
  out(formatQdisc(shaper.htb));
  out('\n');
  out(formatClasses(shaper.htb));
  out(costLines(shaper, run));
  if (rulesResult) out(rulesLine(rulesResult, run));
  for (const w of reader.warnings) out(`warning: ${w}\n`);
}

/** Registers this file's subcommands. */
export function register(program: Command): void {
  program
    .command('shape')
    .description('replay a trace through an HTB tc configuration (cls_fw, u32) and print `tc -s class show` with classification cost')
    .requiredOption('--tc <file>', 'tc script or tc -batch file (qdisc, class, filter lines)')
    .option('--trace <file>', 'pcap/pcapng trace (optionally .gz) to shape')
    .option('--ruleset <file>', 'iptables-save ruleset run first (with conntrack): packets carry its marks and CLASSIFY priorities; the ones it drops never reach the shaper')
    .option('--ruleset6 <file>', 'ip6tables-save ruleset for the IPv6 packets (with --ruleset)')
    .option('--ipset <file>', '`ipset save` output for the sets -m set names')
    .addOption(new Option('--path <path>', 'the packets\' path through the host (which hooks the rules run in)').choices([...PATHS]).default('forward'))
    .option('--in <iface>', 'interface the packets arrive on (-i matches)')
    .option('--out <iface>', 'interface the packets leave by (-o matches; default: the tc script\'s device)')
    .option('--lenient', 'unknown iptables modules and targets become warnings and never-matching rules')
    .addOption(new Option('--link-rate <rate>', 'device rate the root dequeues at, in tc units').argParser(parseLinkRate).default(getRate64('10gbit')!, '10gbit'))
    .option('--htsize <n>', 'cls_fw hash buckets per filter instance (the kernel has 256)', parsePositive, FW_DEFAULT_HTSIZE)
    .option('--txqueuelen <n>', 'device tx_queue_len: default leaf fifo limit and direct_qlen', parsePositive, 1000)
    .option('--json', 'print JSON instead of tc text')
    .action(async (opts: ShapeOptions) => {
      await shapeCommand(opts, (s) => process.stdout.write(s));
    });
}

import { InvalidArgumentError, Option, type Command } from 'commander';
import { formatStatsLine, formatTable, lookupSummary, statsCounters } from '../conntrack/format.js';
import { ConntrackStage, nsToMs } from '../conntrack/stage.js';
import { ConntrackTable, resolveConfig, type ConntrackConfig, type ConntrackOptions } from '../conntrack/table.js';
import { parseTimeoutOverride, Timeouts, type TimeoutName } from '../conntrack/timeouts.js';
import type { HashAlgorithm } from '../conntrack/tuple.js';
import { UsageError } from '../errors.js';
import { PacketBatch } from '../trace/batch.js';
import { openTrace } from '../trace/reader.js';
import type { TraceReader } from '../trace/source.js';
import { parseCount, parsePositive } from './options.js';
import { PREPARE_RUN } from '../pipeline/pipeline.js';

interface CtFlags {
  trace: string;
  buckets?: number;
  max?: number;
  hash: HashAlgorithm;
  seed: number;
  timeout: [TimeoutName, number][];
  tcpLoose: string;
  tcpBeLiberal: string;
  dump?: boolean;
  stats?: boolean;
  json?: boolean;
  sweepBuckets?: number[];
}

const MAX_BUCKETS = 1 << 26;

function parseBuckets(value: string): number {
  const n = parsePositive(value);
  if (n > MAX_BUCKETS) throw new InvalidArgumentError(`at most ${MAX_BUCKETS}: ${value}`);
  return n;
}

function parseMax(value: string): number {
  const n = parsePositive(value);
  if (n > MAX_BUCKETS) throw new InvalidArgumentError(`at most ${MAX_BUCKETS}: ${value}`);
  return n;
}

function parseSweep(value: string): number[] {
  const sizes = value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (sizes.length === 0) throw new InvalidArgumentError(`a comma-separated list of sizes, e.g. 16k,64k,256k,1M: ${value}`);
  return sizes.map(parseBuckets);
}

function collectTimeout(value: string, previous: [TimeoutName, number][]): [TimeoutName, number][] {
  try {
    return [...previous, parseTimeoutOverride(value)];
  } catch (err) {
    throw new InvalidArgumentError(err instanceof Error ? err.message : String(err));
  }
}

export interface ReplayResult {
  packets: number;
  /** Nanoseconds spent in the conntrack stage (reading excluded). */
  stageNs: number;
  endMs: number;
}

/** Streams a trace file through the conntrack stage. */
export async function replayTrace(path: string, stage: ConntrackStage): Promise<ReplayResult> {
  return replayReader(await openTrace(path), stage);
}

/** Streams a reader through the conntrack stage; trace time counts from the first packet's second. Closes the reader. */
export async function replayReader(reader: TraceReader, stage: ConntrackStage): Promise<ReplayResult> {
  const batch = new PacketBatch();
  let packets = 0;
  let stageNs = 0;
  let origin = -1;
  let lastNs = 0;
  try {
    for (;;) {
      const n = await reader.read(batch);
      if (n === 0) break;
      if (origin < 0) origin = batch.tsSec[0]!;
      const t0 = process.hrtime.bigint();
      // As the pipeline does: each run of packets hashed ahead and its chains warmed, then walked.
      for (let from = 0; from < n; from += PREPARE_RUN) {
        const to = Math.min(n, from + PREPARE_RUN);
        stage.prepare(batch, null, from, to);
        for (let i = from; i < to; i++) {
          const now = batch.timeNs(i, origin);
          // The stage keeps its clock monotonic; lastNs is where the trace ends for finish().
          if (now > lastNs) lastNs = now;
          stage.packet(batch, i, now);
        }
      }
      stageNs += Number(process.hrtime.bigint() - t0);
      packets += n;
    }
  } finally {
    await reader.close();
  }
  stage.finish(lastNs);
  for (const w of reader.warnings) process.stderr.write(`pktbench: ${w}\n`);
  return { packets, stageNs, endMs: nsToMs(lastNs) };
}

function tableConfig(flags: CtFlags, buckets?: number): ConntrackConfig {
  const timeouts = new Timeouts(Object.fromEntries(flags.timeout));
  const options: ConntrackOptions = {
    hash: flags.hash,
    seed: flags.seed,
    timeouts,
    tcpLoose: flags.tcpLoose === '1',
    tcpBeLiberal: flags.tcpBeLiberal === '1',
  };
  if (buckets !== undefined) options.buckets = buckets;
  if (flags.max !== undefined) options.max = flags.max;
  return resolveConfig(options);
}

function summary(table: ConntrackTable, result: ReplayResult, config: ConntrackConfig) {
  const s = table.stats;
  const hist = table.chainHistogram();
  const used = table.buckets - (hist[0] ?? 0);
  const nodes = hist.reduce((sum, b, len) => sum + b * len, 0);
  return {
    config: { buckets: table.buckets, max: table.max, hash: config.hash, seed: config.seed, tcpLoose: config.tcpLoose, tcpBeLiberal: config.tcpBeLiberal, timeouts: config.timeouts.seconds },
    packets: result.packets,
    count: table.count,
    counters: Object.fromEntries(statsCounters(table)),
    model: {
      created: s.created, confirmed: s.confirmed, expired: s.expired, gcRuns: s.gcRuns, gcEarlyDropped: s.gcEarlyDropped,
      laterFragments: s.laterFragments, untracked: s.untracked, notIp: s.notIp,
    },
    nodesPerLookup: lookupSummary(table),
    occupancy: used / table.buckets,
    meanChain: nodes / table.buckets,
    meanUsedChain: used > 0 ? nodes / used : 0,
    maxChain: hist.length - 1,
    chainHistogram: hist,
    nsPerPacket: result.packets > 0 ? result.stageNs / result.packets : 0,
    memoryBytes: table.memoryBytes(),
  };
}

async function runCt(flags: CtFlags): Promise<void> {
  if (flags.sweepBuckets && (flags.dump || flags.buckets !== undefined)) throw new UsageError('--sweep-buckets cannot be combined with --dump or --buckets');
  const out = (line: string): void => { process.stdout.write(`${line}\n`); };
  if (flags.sweepBuckets) {
    const rows = [];
    for (const size of flags.sweepBuckets) {
      // The sweep resizes like the nf_conntrack_buckets sysctl: max stays what it was.
      const config = tableConfig(flags);
      config.buckets = size;
      const table = new ConntrackTable(config);
      const result = await replayTrace(flags.trace, new ConntrackStage(table));
      rows.push(summary(table, result, config));
    }
    if (flags.json) return out(JSON.stringify({ trace: flags.trace, sweep: rows }, null, 2));
    out('buckets    entries  occupancy  mean chain  max chain  nodes/lookup (mean p99 max)  ns/packet  memory MiB');
    for (const r of rows) {
      const l = r.nodesPerLookup;
      out(`${String(r.config.buckets).padEnd(10)} ${String(r.count).padStart(7)}  ${(r.occupancy * 100).toFixed(1).padStart(8)}%  ${r.meanChain.toFixed(3).padStart(10)}  ${String(r.maxChain).padStart(9)}  ${`${l.mean.toFixed(3)} ${l.p99} ${l.max}`.padStart(27)}  ${r.nsPerPacket.toFixed(1).padStart(9)}  ${(r.memoryBytes / 1048576).toFixed(1).padStart(10)}`);
    }
    return;
  }
  const config = tableConfig(flags, flags.buckets);
  const table = new ConntrackTable(config);
  const result = await replayTrace(flags.trace, new ConntrackStage(table));
  printResult(table, result, config, flags, out);
}

/** Prints one replay's result as --dump/--stats/--json ask. */
export function printResult(table: ConntrackTable, result: ReplayResult, config: ConntrackConfig, flags: Pick<CtFlags, 'trace' | 'dump' | 'stats' | 'json'>, out: (line: string) => void): void {
  const s = summary(table, result, config);
  const showStats = flags.stats || !flags.dump;
  if (flags.json) {
    const body: Record<string, unknown> = { trace: flags.trace, ...s };
    if (flags.dump) body.entries = formatTable(table, result.endMs);
    return out(JSON.stringify(body, null, 2));
  }
  if (flags.dump) for (const line of formatTable(table, result.endMs)) out(line);
  if (showStats) {
    out(formatStatsLine(table));
    out(`count=${table.count} max=${table.max} buckets=${table.buckets} hash=${config.hash}`);
    const l = s.nodesPerLookup;
    out(`lookups=${l.lookups} nodes_per_lookup_mean=${l.mean.toFixed(3)} p99=${l.p99} max=${l.max}`);
    out(`created=${s.model.created} confirmed=${s.model.confirmed} expired=${s.model.expired} gc_runs=${s.model.gcRuns} gc_early_dropped=${s.model.gcEarlyDropped} later_fragments=${s.model.laterFragments} untracked=${s.model.untracked} not_ip=${s.model.notIp}`);
    out(`chain_length_histogram ${s.chainHistogram.map((b, len) => `${len}:${b}`).join(' ')}`);
  }
}

/** Registers this file's subcommands. */
export function register(program: Command): void {
  program
    .command('ct')
    .description('replay a trace through the conntrack model: table contents (conntrack -L), counters (conntrack -S), chain lengths, hashsize sweeps')
    .requiredOption('--trace <file>', 'pcap, pcapng or .gz trace')
    .option('--buckets <n>', 'nf_conntrack_buckets (hashsize; k/m suffixes; rounded up to 512). Default 262144; given alone, max = 8 x buckets', parseBuckets)
    .option('--max <n>', 'nf_conntrack_max (default: buckets, or 8 x --buckets)', parseMax)
    .addOption(new Option('--hash <name>', 'hash_conntrack_raw: siphash (v5.15+) or jhash (jhash2, up to v5.14)').choices(['siphash', 'jhash']).default('siphash'))
    .option('--seed <n>', 'hash seed (the kernel picks a random one per boot)', parseCount, 1)
    .option('--timeout <name=seconds>', 'override a timeout by its sysctl name, e.g. tcp_timeout_established=43200 (repeatable)', collectTimeout, [])
    .addOption(new Option('--tcp-loose <0|1>', 'nf_conntrack_tcp_loose').choices(['0', '1']).default('1'))
    .addOption(new Option('--tcp-be-liberal <0|1>', 'nf_conntrack_tcp_be_liberal (no effect: the model tracks no windows)').choices(['0', '1']).default('0'))
    .option('--dump', 'print the table at the end of the trace as conntrack -L does, sorted')
    .option('--stats', 'print conntrack -S counters, count, nodes visited per lookup and the chain-length histogram (default output)')
    .option('--json', 'print the result as JSON')
    .option('--sweep-buckets <list>', 'replay once per hashsize (e.g. 16k,64k,256k,1M) and print one row each', parseSweep)
    .action(async (flags: CtFlags) => {
      await runCt(flags);
    });
}

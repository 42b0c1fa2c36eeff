import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { CoreSimulator, type StageCost } from '../cores/cost.js';
import { DISPATCH_POLICIES, isDispatchPolicy, type DispatchPolicy } from '../cores/dispatch.js';
import { SyntheticTrace, SYNTHETIC_KINDS, type SyntheticKind } from '../cores/synthetic.js';
import { UsageError } from '../errors.js';
import { LARGE_BATCH, LARGE_BATCH_FROM_WORKERS, replay, WorkerPool, type BatchReader, type ReplayConfig, type ReplayReport, type Transfer } from '../harness/pool.js';
import { FLOW_ACCOUNTING, type FlowAccountingData } from '../pipeline/flow-accounting.js';
import type { StageSpec } from '../pipeline/registry.js';
import { PacketBatch, DEFAULT_BATCH_CAPACITY } from '../trace/batch.js';
import { openTrace } from '../trace/reader.js';
import { parseCount, parsePositive } from './options.js';
import { addModelOptions, formatModelStage, formatShaperLock, netfilterSpec, shaperLock, shaperSpec, type ModelFlags, type ShaperLockReport } from './replay-models.js';

interface ReplayFlags extends ModelFlags {
  trace?: string;
  synthetic?: string;
  workers: number;
  policy?: string;
  pin?: boolean;
  batch?: number;
  inFlight: number;
  stage: string[];
  stageModule: string[];
  sharedTable?: boolean;
  top: number;
  json?: boolean;
  simulate?: boolean;
  cost: string[];
  retaWeights?: string;
  transfer: string;
  warmup: number;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** "zipf:1m:10000" -> kind, packets, flows. */
function parseSynthetic(spec: string): { kind: SyntheticKind; packets: number; flows?: number } {
  const [kind, packets, flows] = spec.split(':');
  if (!kind || !(SYNTHETIC_KINDS as readonly string[]).includes(kind)) throw new UsageError(`--synthetic: kind must be one of ${SYNTHETIC_KINDS.join(', ')} (e.g. zipf:1m:10000), got "${spec}"`);
  if (!packets) throw new UsageError(`--synthetic: packet count missing in "${spec}" (e.g. ${kind}:100k)`);
  try {
    return { kind: kind as SyntheticKind, packets: parseCount(packets), ...(flows ? { flows: parsePositive(flows) } : {}) };
  } catch (err) {
    throw new UsageError(`--synthetic: ${(err as Error).message}`);
  }
}

/** "hash-work:rounds=20,x=true" -> { name, config }. */
export function parseStageSpec(text: string): StageSpec {
  const colon = text.indexOf(':');
  const name = colon < 0 ? text : text.slice(0, colon);
  const config: Record<string, unknown> = {};
  if (colon >= 0) {
    for (const pair of text.slice(colon + 1).split(',')) {
      const eq = pair.indexOf('=');
      if (eq <= 0) throw new UsageError(`--stage ${text}: expected key=value, got "${pair}"`);
      const k = pair.slice(0, eq);
      const v = pair.slice(eq + 1);
      config[k] = v === 'true' ? true : v === 'false' ? false : /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v;
    }
  }
  if (!name) throw new UsageError(`--stage: empty stage name in "${text}"`);
  return { name, config };
}

/** "shaper=300:lock" -> stage cost. */
function parseCost(text: string): StageCost {
  const m = /^([\w-]+)=(\d+(?:\.\d+)?)(:lock)?$/.exec(text);
  if (!m) throw new UsageError(`--cost: expected NAME=NS or NAME=NS:lock, got "${text}"`);
  return { name: m[1]!, nsPerPacket: Number(m[2]), serialized: m[3] !== undefined };
}

/** A synthetic trace as a reader: it fills the pool's own batches (no copy). */
function syntheticReader(trace: SyntheticTrace): BatchReader {
  return { read: (b) => Promise.resolve(trace.fill(b)) };
}

/** The source once more, as batches (a second pass, e.g. for the cores model). */
async function* sourceBatches(flags: ReplayFlags, warn: (w: string) => void): AsyncGenerator<PacketBatch> {
  const { reader, close } = await openSource(flags, warn);
  try {
    const b = new PacketBatch(DEFAULT_BATCH_CAPACITY);
    while ((b.count = await reader.read(b)) > 0) yield b;
  } finally {
    await close();
  }
}

/** A trace source and how to close it (the trace file's warnings are printed then). */
async function openSource(flags: ReplayFlags, warn: (w: string) => void): Promise<{ reader: BatchReader; close: () => Promise<void> }> {
  if (flags.synthetic) return { reader: syntheticReader(new SyntheticTrace(parseSynthetic(flags.synthetic))), close: () => Promise.resolve() };
  const reader = await openTrace(flags.trace!);
  return {
    reader,
    close: async () => {
      for (const w of reader.warnings) warn(w);
      await reader.close();
    },
  };
}

const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

export function formatReplay(r: ReplayReport, lock: ShaperLockReport | null = null): string {
  const lines: string[] = [];
  if (r.partial) lines.push('PARTIAL: interrupted; figures cover the packets dispatched before the interruption');
  const who = r.workers === 0 ? 'main thread' : `${r.workers} workers (${r.mode}, policy ${r.policy})`;
  lines.push(`replay: ${fmt(r.packets)} packets on ${who}, batch ${r.batchSize}${r.workers ? `, ${r.transfer} transfer, ${r.inFlight} batches in flight` : ''}`);
  lines.push(`throughput: ${fmt(r.pps)} packets/s (wall ${fmt(r.wallNs / 1e9, 3)} s; thread start-up ${fmt(r.startupNs / 1e9, 3)} s not counted)`);
  if (r.workers > 0) {
    lines.push(`dispatch: ${fmt(r.packets ? r.dispatchNs / r.packets : 0, 1)} ns/packet in the main thread; backpressure waits ${r.backpressureStalls} (${fmt(r.backpressureWaitNs / 1e9, 3)} s); results gathered and merged in ${fmt(r.finishNs / 1e9, 3)} s of the wall time`);
  }
  lines.push('worker    packets   share    busy_ms   cpu');
  for (const w of r.perWorker) {
    const cpu = w.affinity.cpu === null ? '-' : `${w.affinity.cpu}${w.affinity.applied ? '' : ` (not applied: ${w.affinity.detail})`}`;
    lines.push(`${String(w.shard).padStart(6)} ${String(w.packets).padStart(10)} ${((100 * w.packets) / Math.max(1, r.packets)).toFixed(1).padStart(6)}% ${(w.busyNs / 1e6).toFixed(1).padStart(10)}   ${cpu}`);
  }
  lines.push(`imbalance (max/mean packets): ${r.imbalance.toFixed(3)}`);
  lines.push('stage clocks (sampled estimate):');
  for (const c of r.clocks) lines.push(`  ${c.stage}: ${fmt(c.packets)} packets, ~${fmt(c.packets ? c.estimatedNs / c.packets : 0, 1)} ns/packet`);
  for (const s of r.stages) {
    const model = formatModelStage(s);
    if (model) {
      lines.push(...model);
      continue;
    }
    lines.push(`${s.stage}: ${Object.entries(s.counters).map(([k, v]) => `${k}=${v}`).join(' ')}`);
    if (s.stage === FLOW_ACCOUNTING) {
      const d = s.data as FlowAccountingData;
      lines.push(`  flows: ${d.flows}; top ${d.top.length} by bytes:`);
      for (const f of d.top) {
        const ep = (a: string, p: number): string => (f.l3 === 6 ? `[${a}]:${p}` : `${a}:${p}`);
        lines.push(`  proto ${f.proto} ${ep(f.src, f.sport)} -> ${ep(f.dst, f.dport)} packets=${f.packets} bytes=${f.bytes}`);
      }
    }
  }
  if (lock) lines.push(...formatShaperLock(lock));
  return lines.join('\n');
}

/** Registers this file's subcommands. */
export function register(program: Command): void {
  const cmd = program
    .command('replay')
    .description('Replay a trace through the pipeline on worker threads (or simulate cores with --simulate)')
    .option('--trace <file>', 'pcap/pcapng trace to replay')
    .addOption(new Option('--synthetic <kind:packets[:flows]>', `generated trace instead of a file: ${SYNTHETIC_KINDS.join(', ')} (e.g. zipf:1m:10000)`).conflicts('trace'))
    .option('--workers <n>', 'worker threads (0 = run in the main thread); with --simulate, cores', parseCount, availableParallelism())
    .option('--policy <p>', `dispatch policy: ${DISPATCH_POLICIES.join(', ')} (default rss-symmetric; round-robin with --shared-table)`)
    .option('--pin', 'pin worker k to the k-th allowed CPU (Linux only; reported per worker)')
    .option('--batch <n>', `packets per batch (indexed: per source batch read; copy: per worker batch); default ${DEFAULT_BATCH_CAPACITY}, ${LARGE_BATCH} from ${LARGE_BATCH_FROM_WORKERS} workers on (one message per worker per batch)`, parsePositive)
    .option('--in-flight <n>', 'batches in flight (backpressure bound): source batches shared by the workers (indexed) or per worker (copy)', parsePositive, 4)
    .option('--transfer <mode>', 'indexed: workers read their packets from the shared source batch; copy: re-shard into per-worker batches', 'indexed')
    .option('--warmup <n>', 'untimed replays of the whole trace first, on the same worker threads, so that the reported one runs on compiled code', parseCount, 0)
    .option('--stage <name[:k=v,...]>', 'pipeline stage, repeatable, in order (default flow-accounting)', collect, [])
    .option('--stage-module <file>', 'module exporting registerStages(registry), repeatable', collect, [])
    .option('--shared-table', 'flow-accounting uses one table shared by all workers (Atomics locks)')
    .option('--top <n>', 'flows listed by flow-accounting', parseCount, 10)
    .option('--simulate', 'simulated cores instead of threads: per-core load from --cost figures')
    .option('--cost <name=ns[:lock]>', 'with --simulate: per-packet cost of a stage, repeatable; :lock = under the shared shaper lock', collect, [])
    .option('--reta-weights <w,w,...>', 'RETA like ethtool -X weight (rss policies)')
    .option('--json', 'print the report as JSON');
  addModelOptions(cmd)
    .action(async (flags: ReplayFlags) => {
      if (!flags.trace && !flags.synthetic) throw new UsageError('replay needs --trace FILE or --synthetic KIND:PACKETS[:FLOWS]');
      const policy = flags.policy ?? (flags.sharedTable ? 'round-robin' : 'rss-symmetric');
      if (!isDispatchPolicy(policy)) throw new UsageError(`--policy must be one of ${DISPATCH_POLICIES.join(', ')}, got "${policy}"`);
      const retaWeights = flags.retaWeights?.split(',').map((w) => {
        if (!/^\d+$/.test(w)) throw new UsageError(`--reta-weights: not a whole number: "${w}"`);
        return Number(w);
      });
      const dispatch = { policy: policy as DispatchPolicy, ...(retaWeights ? { retaWeights } : {}) };
      const warn = (w: string): void => void process.stderr.write(`pktbench: warning: ${w}\n`);
      if (flags.transfer !== 'indexed' && flags.transfer !== 'copy') throw new UsageError(`--transfer must be indexed or copy, got "${flags.transfer}"`);
      if (flags.synthetic) parseSynthetic(flags.synthetic);

      if (flags.simulate) {
        if (flags.cost.length === 0) throw new UsageError('--simulate needs at least one --cost NAME=NS');
        if (flags.workers < 1) throw new UsageError('--simulate needs --workers >= 1 (the simulated cores)');
        let sim: CoreSimulator;
        try {
          sim = new CoreSimulator({ dispatch: { ...dispatch, cores: flags.workers }, stages: flags.cost.map(parseCost) });
        } catch (err) {
          throw err instanceof RangeError ? new UsageError(err.message) : err;
        }
        for await (const b of sourceBatches(flags, warn)) sim.addBatch(b);
        const r = sim.result();
        if (flags.json) {
          process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
          return;
        }
        const out = [`simulated ${r.cores.length} cores, policy ${r.policy}: ${fmt(r.packets)} packets over ${fmt(r.durationNs / 1e9, 3)} s of trace (${r.tracePps === null ? '-' : fmt(r.tracePps)} packets/s)`];
        out.push('core    packets     busy_ms   utilization');
        for (const c of r.cores) out.push(`${String(c.core).padStart(4)} ${String(c.packets).padStart(10)} ${(c.busyNs / 1e6).toFixed(3).padStart(11)}   ${c.utilization === null ? '-' : `${(c.utilization * 100).toFixed(1)}%`}`);
        if (r.lock) out.push(`shaper lock: busy ${(r.lock.busyNs / 1e6).toFixed(3)} ms, ${r.lock.utilization === null ? '-' : `${(r.lock.utilization * 100).toFixed(1)}%`}`);
        out.push(`saturates first: ${r.bottleneck.resource === 'lock' ? 'the shaper lock' : `core ${r.bottleneck.core}`}${r.saturatedCores.length ? `; saturated at the trace's rate: cores ${r.saturatedCores.join(', ')}` : ''}`);
        out.push(`imbalance (max/mean busy): ${r.imbalance.toFixed(3)}`);
        out.push(`max sustainable rate: ${fmt(r.maxSustainablePps)} packets/s`);
        out.push(`connections: ${r.connections}, handled by more than one core: ${r.connectionsSplit}`);
        process.stdout.write(`${out.join('\n')}\n`);
        return;
      }

      // Model stages first (netfilter), then --stage ones, then the shaper (after the rules).
      const netfilter = netfilterSpec(flags);
      const shaper = shaperSpec(flags);
      const userStages = flags.stage.map(parseStageSpec);
      const stages: StageSpec[] = [...(netfilter ? [netfilter] : []), ...userStages, ...(shaper ? [shaper] : [])];
      if (stages.length === 0) stages.push({ name: FLOW_ACCOUNTING, config: {} });
      for (const s of stages) {
        if (s.name === FLOW_ACCOUNTING) {
          const config = { top: flags.top, ...s.config, ...(flags.sharedTable ? { shared: true } : {}) };
          Object.assign(s, { config });
        }
      }
      if (flags.sharedTable && !stages.some((s) => s.name === FLOW_ACCOUNTING)) throw new UsageError('--shared-table needs the flow-accounting stage');
      const controller = new AbortController();
      const onSigint = (): void => controller.abort();
      process.once('SIGINT', onSigint);
      process.stderr.write('replay: started (Ctrl-C stops and reports partial results)\n');
      let report: ReplayReport;
      // With --warmup the worker threads outlive each pass (V8 compiles hot code on background
      // threads: a fresh thread on busy cores runs long in its slower tiers).
      const pool = flags.warmup > 0 && flags.workers > 0 ? new WorkerPool(flags.workers) : null;
      const config: ReplayConfig = {
        workers: flags.workers,
        dispatch,
        stages,
        batchSize: flags.batch,
        inFlight: flags.inFlight,
        pin: flags.pin ?? false,
        stageModules: flags.stageModule.map((m) => resolve(m)),
        signal: controller.signal,
        transfer: flags.transfer as Transfer,
        ...(pool ? { pool } : {}),
      };
      try {
        for (let k = 0; k < flags.warmup && !controller.signal.aborted; k++) {
          // Warnings of the trace file are printed once, by the reported pass.
          const pass = await openSource(flags, () => undefined);
          try {
            await replay(pass.reader, config);
          } finally {
            await pass.close();
          }
          process.stderr.write(`replay: warm-up ${k + 1}/${flags.warmup} done\n`);
        }
        const { reader, close } = await openSource(flags, warn);
        try {
          report = await replay(reader, config);
        } finally {
          await close();
        }
      } finally {
        process.removeListener('SIGINT', onSigint);
        await pool?.close();
      }
      // The shaper is one qdisc behind one lock in the kernel: its measured cost, as the cores
      // model's serialized resource, says how far the workers' rate can go (a second pass).
      const lock = report.workers > 0 && !report.partial ? await shaperLock(report.clocks, sourceBatches(flags, warn), { ...dispatch, cores: report.workers }) : null;
      process.stdout.write(flags.json ? `${JSON.stringify(lock ? { ...report, shaperLock: lock } : report, null, 2)}\n` : `${formatReplay(report, lock)}\n`);
      // 130 = 128 + SIGINT, as shells report an interrupted command.
      if (report.partial) process.exitCode = 130;
    });
}

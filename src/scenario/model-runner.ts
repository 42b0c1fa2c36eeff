/**
 * The ScenarioPointRunner backed by the real models: for one sweep point it prepares the trace,
 * ruleset, ipsets and tc script (src/scenario/inputs.ts), builds the pipeline — `netfilter`
 * (conntrack + the ruleset in kernel hook order) then `shaper` (HTB) when the scenario has a tc
 * section — replays the trace `warmup` times unmeasured and `repeat` times measured through the
 * worker pool (src/harness/pool.ts; one worker runs in the main thread), spreads the trace over the
 * simulated cores once (src/cores/cost.ts) and turns it all into the scenario's measurements
 * (src/scenario/metrics.ts).
 *
 * Real worker threads vs simulated cores: `workers` are threads of this machine that share the
 * replay work; `cores` (count, policy) are the router's CPUs, modelled from the measured per-stage
 * costs. Packets reach the worker threads by the symmetric RSS hash (both directions of a
 * connection on one worker, so every connection lives in one worker's conntrack table); each
 * worker's table gets 1/workers of the scenario's buckets and max, so that the load factor, and
 * with it the chain walk, is the one table's whatever the thread count.
 */
import { dirname } from 'node:path';
import { CoreSimulator } from '../cores/cost.js';
import { isDispatchPolicy, type DispatchPolicy } from '../cores/dispatch.js';
import { RunFailure } from '../errors.js';
import { replay, WorkerPool, type ReplayReport } from '../harness/pool.js';
import type { StageSpec } from '../pipeline/registry.js';
import type { PacketBatch } from '../trace/batch.js';
import { prepareRuleset, prepareTc, prepareTrace, rateBits, type NamedText, type PreparedRules, type PreparedTrace } from './inputs.js';
import { pointMetrics, type CoreSpread, type Sample } from './metrics.js';
import type { PointContext, PointMetric, ScenarioPointRunner } from './runner.js';
import type { ScenarioConfig } from './schema.js';
import type { SweepPoint } from './sweep.js';

/** The scenario's policy names → src/cores/dispatch.ts's. */
export function dispatchPolicyOf(policy: ScenarioConfig['cores']['policy']): DispatchPolicy {
  const p = policy === 'source-ip' ? 'src-ip' : policy === 'single' ? 'single-queue' : policy;
  if (!isDispatchPolicy(p)) throw new RunFailure(`unknown dispatch policy ${policy}`);
  return p;
}

/** The schema's timeout names → the sysctl suffixes the conntrack model takes (nf_conntrack_*_timeout*). */
const TIMEOUT_SYSCTL: Readonly<Record<string, readonly string[]>> = {
  tcp_syn_sent: ['tcp_timeout_syn_sent'],
  tcp_syn_recv: ['tcp_timeout_syn_recv'],
  tcp_established: ['tcp_timeout_established'],
  tcp_fin_wait: ['tcp_timeout_fin_wait'],
  tcp_close_wait: ['tcp_timeout_close_wait'],
  tcp_last_ack: ['tcp_timeout_last_ack'],
  tcp_time_wait: ['tcp_timeout_time_wait'],
  tcp_close: ['tcp_timeout_close'],
  udp: ['udp_timeout'],
  udp_stream: ['udp_timeout_stream'],
  icmp: ['icmp_timeout', 'icmpv6_timeout'],
  generic: ['generic_timeout'],
};

export function conntrackTimeouts(t: ScenarioConfig['conntrack']['timeouts']): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(t)) {
    if (v === undefined) continue;
    for (const name of TIMEOUT_SYSCTL[k] ?? []) out[name] = v;
  }
  return out;
}

/** The pipeline of a point for `threads` pipeline instances (1 = one table holds everything). */
export function pipelineStages(config: ScenarioConfig, rules: PreparedRules, tc: NamedText | undefined, threads: number): StageSpec[] {
  const ct = config.conntrack;
  const share = (n: number): number => Math.max(1, Math.ceil(n / threads));
  const stages: StageSpec[] = [
    {
      name: 'netfilter',
      config: {
        conntrack: { buckets: share(ct.buckets), max: share(ct.max), hash: ct.hash, seed: ct.seed, timeouts: conntrackTimeouts(ct.timeouts) },
        ...(rules.ruleset ? { ruleset: { ...rules.ruleset } } : {}),
        ...(rules.ipset ? { ipset: { ...rules.ipset } } : {}),
        path: config.path,
      },
    },
  ];
  if (tc && config.tc) {
    stages.push({ name: 'shaper', config: { tc: { ...tc }, linkRate: Math.round(rateBits(config.tc.linkRate) / 8), htsize: config.tc.fwBuckets } });
  }
  return stages;
}

/** One pass of the trace over the simulated cores: packets per core, trace duration, bits per packet. */
async function spreadOver(trace: PreparedTrace, config: ScenarioConfig): Promise<{ spread: CoreSpread; bitsPerPacket: number }> {
  const dispatch = {
    policy: dispatchPolicyOf(config.cores.policy),
    cores: config.cores.count,
  };
  const sim = new CoreSimulator({ dispatch, stages: [{ name: 'packet', nsPerPacket: 1 }] });
  let bytes = 0;
  let packets = 0;
  for await (const b of trace.batches()) {
    sim.addBatch(b);
    for (let i = 0; i < b.count; i++) bytes += b.wireLen[i]!;
    packets += b.count;
  }
  const r = sim.result();
  return {
    spread: { policy: r.policy, packetsPerCore: r.cores.map((c) => c.packets), durationNs: r.durationNs, connections: r.connections, connectionsSplit: r.connectionsSplit },
    bitsPerPacket: packets > 0 ? (bytes * 8) / packets : 0,
  };
}

export interface ModelRunnerOptions {
  /**
   * Every n-th packet is timed stage by stage (the stage costs the simulated cores use); default
   * 16: fine enough that one preemption on a loaded machine does not dominate a stage's cost.
   */
  readonly sampleEvery?: number;
}

const DEFAULT_SAMPLE_EVERY = 16;

/** Keeps the last prepared inputs: sweep points that change only table sizes reuse them. */
class InputCache<T> {
  private key = '';
  private value: T | undefined;

  async get(key: string, make: () => Promise<T> | T): Promise<T> {
    if (this.value === undefined || key !== this.key) {
      this.value = undefined;
      this.value = await make();
      this.key = key;
    }
    return this.value;
  }
}

export function modelRunner(options: ModelRunnerOptions = {}): ScenarioPointRunner {
  const traces = new InputCache<PreparedTrace>();
  const rulesets = new InputCache<PreparedRules>();
  const scripts = new InputCache<{ tc: NamedText | undefined }>();
  const spreads = new InputCache<{ spread: CoreSpread; bitsPerPacket: number }>();
  const replays = new InputCache<Sample[]>();
  return {
    async runPoint(point: SweepPoint, context: PointContext): Promise<readonly PointMetric[]> {
      const config = point.config;
      const dir = dirname(context.scenario.file);
      const traceKey = JSON.stringify([dir, config.trace, config.batch, config.ruleset?.generate?.users, config.ruleset?.generate?.rules]);
      const trace = await traces.get(traceKey, () => prepareTrace(config, dir));
      const rules = await rulesets.get(JSON.stringify([dir, config.ruleset]), () => prepareRuleset(config, dir));
      const { tc } = await scripts.get(JSON.stringify([dir, config.tc?.file, config.tc?.generate]), () => ({ tc: prepareTc(config, dir) }));
      const { spread, bitsPerPacket } = await spreads.get(JSON.stringify([traceKey, config.cores]), () => spreadOver(trace, config));

      // The simulated cores do not change what the workers do: points that differ only there
      // (a `cores` or `policy` sweep) share one set of replays, so their figures differ by the
      // dispatch alone, not by the machine's noise between replays.
      const replayKey = JSON.stringify([dir, { ...config, cores: null, measurements: null }]);
      const samples = await replays.get(replayKey, () => measure(config, rules, tc, trace, context, options));
      context.progress(1);
      const linkBits = config.tc ? rateBits(config.tc.linkRate) : null;
      return pointMetrics({ measurements: config.measurements, samples, spread, bitsPerPacket, linkBits });
    },
  };
}

/** `warmup` unmeasured replays, then `repeat` measured ones. */
async function measure(config: ScenarioConfig, rules: PreparedRules, tc: NamedText | undefined, trace: PreparedTrace, context: PointContext, options: ModelRunnerOptions): Promise<Sample[]> {
  const threads = config.workers;
  const stages = pipelineStages(config, rules, tc, threads);
  const runs = config.warmup + config.repeat;
  const samples: Sample[] = [];
  // The same threads for the warm-up and the measured replays, so that the measured ones run on
  // threads whose JIT the warm-up has already brought up to speed.
  const pool = threads === 1 ? null : new WorkerPool(threads);
  try {
    for (let k = 0; k < runs; k++) {
      if (context.signal.aborted) throw new RunFailure('interrupted');
      const report: ReplayReport = await replay(trace.batches() as AsyncIterable<PacketBatch>, {
        // One worker runs in the main thread (no thread hop, the one-thread reference).
        workers: threads === 1 ? 0 : threads,
        dispatch: { policy: 'rss-symmetric' },
        stages,
        batchSize: config.batch,
        signal: context.signal,
        sampleEvery: options.sampleEvery ?? DEFAULT_SAMPLE_EVERY,
        ...(pool ? { pool } : {}),
      });
      if (report.partial) throw new RunFailure('interrupted');
      if (k >= config.warmup) {
        samples.push({
          packets: report.packets,
          busyNs: report.perWorker.reduce((a, w) => a + w.busyNs, 0),
          wallNs: report.wallNs,
          clocks: report.clocks,
          stages: report.stages,
        });
      }
      context.progress((k + 1) / runs);
    }
  } finally {
    await pool?.close();
  }
  return samples;
}

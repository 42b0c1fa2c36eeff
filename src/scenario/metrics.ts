/**
 * From one point's replays to the scenario's measurements: the pipeline's clocks and the merged
 * stage results of the `netfilter` and `shaper` stages, plus the simulated cores
 * (src/cores/cost.ts's arithmetic, re-applied per sample to that sample's measured stage costs).
 */
import { RunFailure, UsageError } from '../errors.js';
import type { StageClock, StageResult } from '../pipeline/result.js';
import type { Histogram, PointMetric } from './runner.js';
import { MEASUREMENTS, type MeasurementName } from './schema.js';

/** What one replay (one sample) gave. */
export interface Sample {
  readonly packets: number;
  /** CPU ns the workers spent in the pipeline (all workers together). */
  readonly busyNs: number;
  /** Wall time of the replay (first batch read to last result merged). */
  readonly wallNs: number;
  readonly clocks: readonly StageClock[];
  readonly stages: readonly StageResult[];
}

/** Where the dispatch policy put the packets over the simulated cores (cost-independent, once per point). */
export interface CoreSpread {
  readonly policy: string;
  readonly packetsPerCore: readonly number[];
  /** Trace time from the first to the last packet, ns. */
  readonly durationNs: number;
  readonly connections: number;
  readonly connectionsSplit: number;
}

export interface CoreLoad {
  /** Busy share of each core at the trace's own rate (1 = saturated). */
  readonly utilization: readonly number[];
  /** The qdisc lock's busy share (null without a shaper). */
  readonly lockUtilization: number | null;
  /** Busiest core / mean core (1 = even, cores = one core does everything). */
  readonly imbalance: number;
  /** Packet rate at which the busiest resource (a core or the lock) reaches 100 %. */
  readonly maxSustainablePps: number;
  readonly bottleneck: 'core' | 'lock';
}

/**
 * The simulated cores for per-packet costs: every packet costs its core `coreNs` (all stages), and
 * the lock `lockNs` (the shaper under qdisc_lock, __dev_xmit_skb in net/core/dev.c). Same
 * arithmetic as CoreSimulator.result() in src/cores/cost.ts.
 */
export function coreLoad(spread: CoreSpread, coreNs: number, lockNs: number | null): CoreLoad {
  const d = spread.durationNs;
  const busy = spread.packetsPerCore.map((p) => p * coreNs);
  const total = spread.packetsPerCore.reduce((a, b) => a + b, 0);
  const maxBusy = Math.max(...busy);
  const mean = busy.reduce((a, b) => a + b, 0) / busy.length;
  const lockBusy = lockNs === null ? 0 : total * lockNs;
  const lockWins = lockNs !== null && lockBusy > maxBusy;
  const bottleneckNs = lockWins ? lockBusy : maxBusy;
  return {
    utilization: busy.map((b) => (d > 0 ? b / d : 0)),
    lockUtilization: lockNs === null ? null : d > 0 ? lockBusy / d : 0,
    imbalance: mean > 0 ? maxBusy / mean : 1,
    maxSustainablePps: bottleneckNs > 0 ? (total * 1e9) / bottleneckNs : 0,
    bottleneck: lockWins ? 'lock' : 'core',
  };
}

/** The merged netfilter result's data (src/pipeline/netfilter-stage.ts NetfilterData), as far as used here. */
interface NetfilterView {
  readonly nodesPerLookup: { readonly lookups: number; readonly mean: number; readonly p99: number; readonly max: number };
  readonly rulesets: readonly {
    readonly packets: number;
    readonly rulesEvaluated: { readonly total: number; readonly mean: number; readonly p99: number; readonly max: number };
    readonly histogram: readonly (readonly [number, number])[];
  }[];
}

/** The merged shaper result's data (src/pipeline/shaper-stage.ts ShaperData), as far as used here. */
interface ShaperView {
  readonly classification: { readonly packets: number; readonly walkedMean: number; readonly walkedP99: number; readonly walkedMax: number };
}

function stageOf(s: Sample, name: string): StageResult | undefined {
  return s.stages.find((r) => r.stage === name);
}

function netfilterOf(s: Sample): { counters: Readonly<Record<string, number>>; data: NetfilterView } | undefined {
  const r = stageOf(s, 'netfilter');
  return r ? { counters: r.counters, data: r.data as NetfilterView } : undefined;
}

function shaperOf(s: Sample): { counters: Readonly<Record<string, number>>; data: ShaperView } | undefined {
  const r = stageOf(s, 'shaper');
  return r ? { counters: r.counters, data: r.data as ShaperView } : undefined;
}

/** Stage cost in ns per packet the stage saw (sampled clocks scaled up; 0 when the stage is absent). */
export function stageNs(s: Sample, name: string): number {
  const c = s.clocks.find((x) => x.stage === name);
  return c && c.packets > 0 ? c.estimatedNs / c.packets : 0;
}

function metric(name: MeasurementName, samples: number[], extra: { histogram?: Histogram; perCore?: readonly number[] } = {}): PointMetric {
  const m = MEASUREMENTS[name];
  return { name, unit: m.unit, direction: m.direction, samples, ...extra };
}

function extraMetric(name: string, unit: string, direction: 'higher' | 'lower', samples: number[]): PointMetric {
  return { name, unit, direction, samples };
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The per-core figures of the sample with the median value (so perCore matches the summary). */
function medianIndex(xs: readonly number[]): number {
  const med = median(xs);
  let best = 0;
  for (let k = 1; k < xs.length; k++) if (Math.abs(xs[k]! - med) < Math.abs(xs[best]! - med)) best = k;
  return best;
}

export interface MetricInputs {
  readonly measurements: readonly MeasurementName[];
  readonly samples: readonly Sample[];
  /** The simulated cores' spread (needed by core-load and shaped-rate). */
  readonly spread: CoreSpread;
  /** Mean wire bits per packet of the trace (shaped-rate). */
  readonly bitsPerPacket: number;
  /** The device rate in bit/s (the shaper cannot send faster). */
  readonly linkBits: number | null;
}

/**
 * The scenario's measurements for one point. Model figures (chain walk, rules evaluated,
 * classification steps) are the same in every sample (the models are deterministic), so their
 * histograms are those of the first sample; times differ per sample.
 */
export function pointMetrics(inp: MetricInputs): PointMetric[] {
  const { samples } = inp;
  const first = samples[0];
  if (!first) throw new RunFailure('no samples measured');
  const out: PointMetric[] = [];
  const hasShaper = shaperOf(first) !== undefined;
  const loads = samples.map((s) => {
    const nf = stageNs(s, 'netfilter');
    const sh = stageNs(s, 'shaper');
    return coreLoad(inp.spread, nf + sh, hasShaper ? sh : null);
  });
  for (const name of inp.measurements) {
    switch (name) {
      case 'ns-per-packet':
        out.push(metric(name, samples.map((s) => (s.packets > 0 ? s.busyNs / s.packets : 0))));
        break;
      case 'packets-per-second':
        out.push(metric(name, samples.map((s) => (s.wallNs > 0 ? (s.packets * 1e9) / s.wallNs : 0))));
        break;
      case 'chain-length': {
        const nf = netfilterOf(first);
        if (!nf) throw new UsageError('chain-length needs the conntrack stage');
        out.push(metric(name, samples.map((s) => netfilterOf(s)!.data.nodesPerLookup.mean)));
        out.push(extraMetric('chain-length.p99', 'entries', 'lower', samples.map((s) => netfilterOf(s)!.data.nodesPerLookup.p99)));
        out.push(extraMetric('chain-length.max', 'entries', 'lower', samples.map((s) => netfilterOf(s)!.data.nodesPerLookup.max)));
        out.push(extraMetric('conntrack.entries', 'entries', 'lower', samples.map((s) => netfilterOf(s)!.counters.ct_count ?? 0)));
        break;
      }
      case 'rules-evaluated': {
        const nf = netfilterOf(first);
        if (!nf || nf.data.rulesets.length === 0) throw new UsageError('rules-evaluated needs a ruleset section');
        const meanOf = (s: Sample): number => {
          const rs = netfilterOf(s)!.data.rulesets;
          const packets = rs.reduce((a, r) => a + r.packets, 0);
          return packets > 0 ? rs.reduce((a, r) => a + r.rulesEvaluated.total, 0) / packets : 0;
        };
        const hist = new Map<number, number>();
        for (const r of nf.data.rulesets) for (const [v, k] of r.histogram) hist.set(v, (hist.get(v) ?? 0) + k);
        const keys = [...hist.keys()].sort((a, b) => a - b);
        out.push(metric(name, samples.map(meanOf), { histogram: { labels: keys.map(String), counts: keys.map((k) => hist.get(k)!) } }));
        out.push(extraMetric('rules-evaluated.p99', 'rules', 'lower', samples.map((s) => Math.max(...netfilterOf(s)!.data.rulesets.map((r) => r.rulesEvaluated.p99)))));
        break;
      }
      case 'classify-steps': {
        const sh = shaperOf(first);
        if (!sh) throw new UsageError('classify-steps needs a tc section');
        out.push(metric(name, samples.map((s) => shaperOf(s)!.data.classification.walkedMean)));
        out.push(extraMetric('classify-steps.p99', 'steps', 'lower', samples.map((s) => shaperOf(s)!.data.classification.walkedP99)));
        out.push(extraMetric('classify-steps.max', 'steps', 'lower', samples.map((s) => shaperOf(s)!.data.classification.walkedMax)));
        break;
      }
      case 'shaped-rate': {
        if (!hasShaper) throw new UsageError('shaped-rate needs a tc section');
        // The rate the box passes through the shaper before a core or the qdisc lock saturates,
        // never above the device rate.
        const rates = loads.map((l) => {
          const r = l.maxSustainablePps * inp.bitsPerPacket;
          return inp.linkBits !== null ? Math.min(r, inp.linkBits) : r;
        });
        out.push(metric(name, rates));
        out.push(extraMetric('cores.lock-utilization', 'share', 'lower', loads.map((l) => l.lockUtilization ?? 0)));
        break;
      }
      case 'core-load': {
        const busiest = loads.map((l) => Math.max(...l.utilization));
        const at = medianIndex(busiest);
        out.push(metric(name, busiest, { perCore: loads[at]!.utilization }));
        out.push(extraMetric('cores.imbalance', 'ratio', 'lower', loads.map((l) => l.imbalance)));
        out.push(extraMetric('cores.max-sustainable-pps', 'pps', 'higher', loads.map((l) => l.maxSustainablePps)));
        out.push({ name: 'cores.packets', unit: 'packets', direction: 'lower', samples: [Math.max(...inp.spread.packetsPerCore)], perCore: inp.spread.packetsPerCore });
        break;
      }
      case 'drops':
        out.push(metric(name, samples.map((s) => {
          const nf = netfilterOf(s)?.counters;
          const sh = shaperOf(s)?.counters;
          return (nf?.verdictDrop ?? 0) + (nf?.verdictReject ?? 0) + (sh?.qdiscDropped ?? 0);
        })));
        break;
    }
  }
  return out;
}

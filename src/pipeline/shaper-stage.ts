/**
 * `shaper`: the HTB model for one tc script (src/shaper/shaper.ts: tcf_classify over cls_fw/u32,
 * then htb_enqueue/htb_dequeue of net/sched/sch_htb.c) as a pipeline stage. It runs after
 * `netfilter`, so packets carry the marks and CLASSIFY priorities the rules gave them, and packets
 * the rules dropped never reach it (Shaper.packet skips DROP verdicts).
 *
 * Multi-worker runs: in the kernel the root HTB qdisc is ONE instance behind one lock
 * (qdisc_lock in __dev_xmit_skb, net/core/dev.c), shared by every CPU. Here each worker shapes its
 * own share with its own copy of the hierarchy at the configured rates. What follows:
 * - classification is exact whatever the sharding: per-class arrivals (`enqueued`), walk lengths
 *   and classified packets merge to the one-thread figures;
 * - sent and dropped merge to the one-thread figures only while the shaper does not throttle (no
 *   class or the link at its limit); when it does, N workers shape with N times the configured
 *   capacity. Overlimits, lended and borrowed depend on how the packets of all flows interleave
 *   in the one queue, so even below the limits they are per-worker figures. For queueing figures
 *   use one worker (or --workers 0);
 * - the stage's time is serialized work in the kernel: the replay command feeds the stage's
 *   measured ns/packet to the cores model (src/cores/cost.ts) as the lock's cost.
 */
import { Shaper } from '../shaper/shaper.js';
import { parseTcScript } from '../shaper/tc-parse.js';
import { formatClassid } from '../shaper/tc-units.js';
import { FW_DEFAULT_HTSIZE } from '../shaper/cls-fw.js';
import type { PacketBatch } from '../trace/batch.js';
import type { NamedText } from './netfilter-stage.js';
import type { MergeableStage, StageFactory } from './registry.js';
import { sumCounters, type StageResult } from './result.js';

export const SHAPER = 'shaper';

export interface ShaperStageConfig {
  readonly tc: NamedText;
  /** Device rate in bytes per second (tc's rate64 of e.g. 10gbit). */
  readonly linkRate: number;
  readonly htsize: number;
  readonly txqueuelen: number;
}

function fail(message: string): never {
  throw new RangeError(`shaper: ${message}`);
}

export function shaperStageConfig(raw: Record<string, unknown>): ShaperStageConfig {
  const tc = raw.tc as NamedText | undefined;
  if (typeof tc !== 'object' || tc === null || typeof tc.name !== 'string' || typeof tc.text !== 'string') fail('tc must be { name, text } (the tc script)');
  const num = (key: string, dflt: number, max: number): number => {
    const v = raw[key] ?? dflt;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) fail(`${key} must be a whole number 1..${max}, got ${String(v)}`);
    return v;
  };
  return { tc: { name: tc.name, text: tc.text }, linkRate: num('linkRate', 1_250_000_000, Number.MAX_SAFE_INTEGER), htsize: num('htsize', FW_DEFAULT_HTSIZE, 1 << 20), txqueuelen: num('txqueuelen', 1000, 1 << 24) };
}

/** Parses the script (InputError naming `file:line` when wrong) and builds the model. */
export function shaperOf(c: ShaperStageConfig): { shaper: Shaper; dev: string } {
  const tc = parseTcScript(c.tc.text, c.tc.name);
  return { shaper: new Shaper(tc, { linkRate: c.linkRate, htsize: c.htsize, txQueueLen: c.txqueuelen }), dev: tc.dev };
}

interface ShardData {
  readonly kind: 'shard';
  readonly dev: string;
  readonly handle: number;
  readonly classid: readonly number[];
  readonly parent: readonly number[];
  readonly enqueued: readonly number[];
  readonly sentBytes: readonly number[];
  readonly sentPackets: readonly number[];
  readonly dropped: readonly number[];
  readonly overlimits: readonly number[];
  readonly lended: readonly number[];
  readonly borrowed: readonly number[];
  /** Non-empty walk-length histogram slots: [walked, packets]. */
  readonly walks: readonly (readonly [number, number])[];
  readonly walkMax: number;
}

export interface ShaperClassResult {
  readonly classid: string;
  readonly parent: string;
  /** Packets classified to this class (leaf arrivals; exact under any sharding). */
  readonly enqueued: number;
  readonly sentBytes: number;
  readonly sentPackets: number;
  readonly dropped: number;
  readonly overlimits: number;
  readonly lended: number;
  readonly borrowed: number;
}

export interface ShaperData {
  readonly kind: 'merged';
  readonly dev: string;
  readonly shards: number;
  readonly classes: readonly ShaperClassResult[];
  readonly classification: { readonly packets: number; readonly walkedMean: number; readonly walkedP99: number; readonly walkedMax: number };
}

class ShaperStage implements MergeableStage {
  readonly name = SHAPER;
  /** Packets sent to the qdisc's direct queue count under minor 0 (the qdisc handle). */
  private readonly classOfMinor = new Int32Array(65536).fill(-1);
  private readonly enqueued: Float64Array;
  private directEnqueued = 0;
  private lastNs = 0;

  constructor(readonly shaper: Shaper, private readonly dev: string) {
    const htb = shaper.htb;
    this.enqueued = new Float64Array(htb.n);
    for (let c = 0; c < htb.n; c++) this.classOfMinor[htb.classid[c]! & 0xffff] = c;
  }

  packet(b: PacketBatch, i: number, nowNs: number): void {
    // Traces are not always in time order; the qdisc cannot go back in time.
    const now = nowNs > this.lastNs ? nowNs : this.lastNs;
    this.lastNs = now;
    const before = this.shaper.classified;
    this.shaper.packet(b, i, now);
    if (this.shaper.classified === before) return; // dropped upstream
    const id = b.classId[i]!;
    if (id === this.shaper.htb.handle) this.directEnqueued++;
    else {
      const c = this.classOfMinor[id & 0xffff]!;
      if (c >= 0) this.enqueued[c]!++;
    }
  }

  finish(endNs: number): void {
    this.shaper.finish(endNs > this.lastNs ? endNs : this.lastNs);
  }

  snapshot(): StageResult {
    const s = this.shaper;
    const h = s.htb;
    const walks: [number, number][] = [];
    for (let w = 0; w < s.walkHist.length; w++) if (s.walkHist[w]! > 0) walks.push([w, s.walkHist[w]!]);
    const arr = (a: ArrayLike<number>): number[] => Array.from(a);
    const data: ShardData = {
      kind: 'shard',
      dev: this.dev,
      handle: h.handle,
      classid: arr(h.classid),
      parent: arr(h.parent).map((p) => (p < 0 ? -1 : h.classid[p]!)),
      enqueued: arr(this.enqueued),
      sentBytes: arr(h.bytes),
      sentPackets: arr(h.packets),
      dropped: arr(h.drops),
      overlimits: arr(h.overlimits),
      lended: arr(h.lends),
      borrowed: arr(h.borrows),
      walks,
      walkMax: s.walkMax,
    };
    return {
      stage: SHAPER,
      counters: {
        classified: s.classified,
        skippedDropped: s.skippedDropped,
        walked: s.walkTotal,
        directEnqueued: this.directEnqueued,
        directPackets: h.directPackets,
        qdiscSentBytes: h.qdiscBytes,
        qdiscSentPackets: h.qdiscPackets,
        qdiscDropped: h.qdiscDrops,
        qdiscOverlimits: h.qdiscOverlimits,
      },
      data,
    };
  }
}

function isShardData(d: unknown): d is ShardData {
  return typeof d === 'object' && d !== null && (d as ShardData).kind === 'shard' && Array.isArray((d as ShardData).classid);
}

/** Exact merge: per-class counters and the walk histogram add, max of max. */
export function mergeShaper(results: readonly StageResult[]): StageResult {
  const counters = sumCounters(results);
  const shards = results.map((r) => {
    if (!isShardData(r.data)) throw new Error('shaper result without its class data');
    return r.data;
  });
  const first = shards[0];
  if (!first) throw new Error('shaper: nothing to merge');
  const n = first.classid.length;
  const sum = (key: 'enqueued' | 'sentBytes' | 'sentPackets' | 'dropped' | 'overlimits' | 'lended' | 'borrowed', c: number): number => shards.reduce((a, s) => a + s[key][c]!, 0);
  const order = [...Array(n).keys()].sort((a, b) => first.classid[a]! - first.classid[b]!);
  const classes = order.map((c) => ({
    classid: formatClassid(first.classid[c]!),
    parent: first.parent[c]! < 0 ? 'root' : formatClassid(first.parent[c]!),
    enqueued: sum('enqueued', c),
    sentBytes: sum('sentBytes', c),
    sentPackets: sum('sentPackets', c),
    dropped: sum('dropped', c),
    overlimits: sum('overlimits', c),
    lended: sum('lended', c),
    borrowed: sum('borrowed', c),
  }));
  const hist = new Map<number, number>();
  let walkMax = 0;
  for (const s of shards) {
    for (const [w, k] of s.walks) hist.set(w, (hist.get(w) ?? 0) + k);
    walkMax = Math.max(walkMax, s.walkMax);
  }
  const classified = counters.classified ?? 0;
  let p99 = 0;
  if (classified > 0) {
    const target = Math.ceil(0.99 * classified);
    let seen = 0;
    for (const w of [...hist.keys()].sort((a, b) => a - b)) {
      seen += hist.get(w)!;
      if (seen >= target) {
        p99 = w;
        break;
      }
    }
  }
  const data: ShaperData = {
    kind: 'merged',
    dev: first.dev,
    shards: shards.length,
    classes,
    classification: { packets: classified, walkedMean: classified ? (counters.walked ?? 0) / classified : 0, walkedP99: p99, walkedMax: walkMax },
  };
  return { stage: SHAPER, counters, data };
}

export const shaperFactory: StageFactory = {
  name: SHAPER,
  description: 'HTB shaper of a tc script, after netfilter (config: tc {name,text}, linkRate bytes/s, htsize, txqueuelen); each worker shapes its own share',
  validate(raw) {
    shaperOf(shaperStageConfig(raw));
  },
  create(raw) {
    const { shaper, dev } = shaperOf(shaperStageConfig(raw));
    return new ShaperStage(shaper, dev);
  },
  merge: mergeShaper,
};

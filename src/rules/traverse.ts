/**
 * Walks a packet through the tables of its path, mirroring ipt_do_table
 * (net/ipv4/netfilter/ip_tables.c; ip6t_do_table is the same walk) per table and nf_hook_slow's
 * priority order per hook. Counters are the kernel's: a rule counts one packet and skb->len bytes
 * (the IP datagram length, batch.ipLen) when all its matches pass, before its target runs; a
 * built-in chain's policy counts when the walk falls off the chain or RETURNs from it.
 *
 * Order implemented per path (kernel-reference §3.2; security table not modelled):
 *   forward: raw PREROUTING | conntrack in | mangle PREROUTING, nat PREROUTING*, mangle FORWARD,
 *            filter FORWARD, mangle POSTROUTING, nat POSTROUTING* | conntrack confirm
 *   input:   raw PREROUTING | conntrack in | mangle PREROUTING, nat PREROUTING*, mangle INPUT,
 *            filter INPUT, nat INPUT* | conntrack confirm
 *   output:  raw OUTPUT | conntrack in (ipv4_conntrack_local) | mangle OUTPUT, nat OUTPUT*,
 *            filter OUTPUT, mangle POSTROUTING, nat POSTROUTING* | conntrack confirm
 * (* nat only for the first packet of a connection, per manip type: nf_nat_inet_fn.)
 * `stages()` returns the part before conntrack and the part after it as two PipelineStages so
 * the pipeline puts the conntrack model between them.
 */
import type { ConntrackView } from '../conntrack/view.js';
import type { PipelineStage } from '../pipeline/stage.js';
import { CtState, NO_CONNECTION, Verdict, type PacketBatch } from '../trace/batch.js';
import { ruleMatches, isLocal, type MatchEnv } from './match.js';
import { MatchKind, Target, tableByName, type HookName, type Rule, type Ruleset, type TableName } from './ruleset.js';

export const PATHS = ['forward', 'input', 'output'] as const;
export type PathName = (typeof PATHS)[number];

export interface EngineOptions {
  /** Fixed path, or 'auto': local destination = input, local source = output, else forward. */
  path: PathName | 'auto';
  inIface?: string;
  outIface?: string;
  /** The host's addresses, four words each (addrtype LOCAL, path auto, REDIRECT). */
  localAddrs?: Uint32Array;
  conntrack?: ConntrackView | null;
  /** Address MASQUERADE uses (the out interface's primary address), four words; default zero. */
  masqueradeAddr?: Uint32Array;
  /**
   * Per-packet devices for a router that forwards both ways (overrides inIface/outIface). The
   * out device is asked for at the first hook that has one, after nat PREROUTING has run: the
   * kernel routes (ip_rcv_finish -> ip_route_input) after PREROUTING, on the DNATed address.
   */
  devices?: PacketDevices | null;
}

/** Which devices packet i arrives on and leaves by (names as in -i/-o; '' for none). */
export interface PacketDevices {
  inIface(b: PacketBatch, i: number): string;
  outIface(b: PacketBatch, i: number): string;
}

/** One table visit of a path: [table, hook, nat manip bit (0 = not nat)]. */
type Step = readonly [TableName, HookName, number];

const NAT_DST = 1;
const NAT_SRC = 2;

const BEFORE_CT: Record<PathName, Step[]> = {
  forward: [['raw', 'PREROUTING', 0]],
  input: [['raw', 'PREROUTING', 0]],
  output: [['raw', 'OUTPUT', 0]],
};
const AFTER_CT: Record<PathName, Step[]> = {
  forward: [['mangle', 'PREROUTING', 0], ['nat', 'PREROUTING', NAT_DST], ['mangle', 'FORWARD', 0], ['filter', 'FORWARD', 0], ['mangle', 'POSTROUTING', 0], ['nat', 'POSTROUTING', NAT_SRC]],
  input: [['mangle', 'PREROUTING', 0], ['nat', 'PREROUTING', NAT_DST], ['mangle', 'INPUT', 0], ['filter', 'INPUT', 0], ['nat', 'INPUT', NAT_SRC]],
  output: [['mangle', 'OUTPUT', 0], ['nat', 'OUTPUT', NAT_DST], ['filter', 'OUTPUT', 0], ['mangle', 'POSTROUTING', 0], ['nat', 'POSTROUTING', NAT_SRC]],
};

/** Compiled step: chain id to start at, which devices the hook has, nat bit. */
interface HookStep {
  readonly chain: number;
  readonly hasIn: boolean;
  readonly hasOut: boolean;
  readonly nat: number;
}

/** Histogram of rules evaluated per packet: exact below 1024, then 64 buckets per power of two. */
export class EvalHistogram {
  readonly counts = new Float64Array(1024 + 64 * 32);
  total = 0;
  sum = 0;
  max = 0;

  static bucket(v: number): number {
    if (v < 1024) return v;
    const e = Math.floor(Math.log2(v));
    return 1024 + (e - 10) * 64 + Math.floor((v / 2 ** e - 1) * 64);
  }

  static lowerBound(bucket: number): number {
    if (bucket < 1024) return bucket;
    const e = Math.floor((bucket - 1024) / 64) + 10;
    return Math.ceil(2 ** e * (1 + ((bucket - 1024) % 64) / 64));
  }

  add(v: number): void {
    this.counts[EvalHistogram.bucket(v)]!++;
    this.total++;
    this.sum += v;
    if (v > this.max) this.max = v;
  }

  /** The smallest recorded value v with at least q of the packets at or below v (bucket lower bound above 1024). */
  quantile(q: number): number {
    if (this.total === 0) return 0;
    const want = Math.ceil(q * this.total);
    let seen = 0;
    for (let k = 0; k < this.counts.length; k++) {
      seen += this.counts[k]!;
      if (seen >= want && this.counts[k]! > 0) return EvalHistogram.lowerBound(k);
    }
    return this.max;
  }

  merge(other: EvalHistogram): void {
    for (let k = 0; k < this.counts.length; k++) this.counts[k]! += other.counts[k]!;
    this.total += other.total;
    this.sum += other.sum;
    this.max = Math.max(this.max, other.max);
  }
}

/** xt_limit keeps its bucket per rule instance: each engine gets fresh limit state. */
function withOwnLimitState(rs: Ruleset): Ruleset {
  let rules: Rule[] | null = null;
  for (let k = 0; k < rs.rules.length; k++) {
    const r = rs.rules[k]!;
    if (r.matches === null || !r.matches.some((m) => m.kind === MatchKind.LIMIT)) continue;
    rules ??= rs.rules.slice();
    rules[k] = { ...r, matches: r.matches.map((m) => (m.kind === MatchKind.LIMIT ? { ...m, credit: m.creditCap, prev: -1 } : m)) };
  }
  return rules === null ? rs : { ...rs, rules };
}

const MAX_DENSE_CT_ID = 1 << 26;
const LOOPBACK4 = Uint32Array.of(0x7f000001, 0, 0, 0);
const LOOPBACK6 = Uint32Array.of(0, 0, 0, 1);

/** The model of one ruleset's tables for one address family. */
export class RuleEngine {
  readonly rs: Ruleset;
  readonly options: EngineOptions;
  /** Model counters: packets and bytes per rule id and per chain policy. */
  readonly rulePackets: Float64Array;
  readonly ruleBytes: Float64Array;
  readonly policyPackets: Float64Array;
  readonly policyBytes: Float64Array;
  /** Times each chain was entered (start of a hook or a jump/goto). */
  readonly chainEntries: Float64Array;
  readonly histogram = new EvalHistogram();
  /** Packets per final verdict: [accepted, dropped, rejected]. */
  readonly verdicts = new Float64Array(3);
  /** Packets of this family the engine handled. */
  packets = 0;
  /** Rules evaluated for the packet in progress (read after `after` for per-packet work). */
  lastEvaluations = 0;
  private readonly before: HookStep[][];
  private readonly after: HookStep[][];
  private readonly env: MatchEnv;
  /** Jump stack: (chain, next index) pairs; depth bounded by the number of user chains. */
  private readonly stack: Int32Array;
  /** nat manips done per connection id (bit 1 DST, bit 2 SRC). */
  private natDone = new Uint8Array(1024);
  /** Connection ids beyond MAX_DENSE_CT_ID (the conntrack model's ids are normally dense). */
  private readonly natDoneSparse = new Map<number, number>();
  private readonly redirectAddr: Uint32Array;
  private readonly masqAddr: Uint32Array;

  constructor(rs: Ruleset, options: EngineOptions) {
    this.rs = withOwnLimitState(rs);
    this.options = options;
    this.rulePackets = new Float64Array(rs.rules.length);
    this.ruleBytes = new Float64Array(rs.rules.length);
    this.policyPackets = new Float64Array(rs.chains.length);
    this.policyBytes = new Float64Array(rs.chains.length);
    this.chainEntries = new Float64Array(rs.chains.length);
    this.stack = new Int32Array(2 * rs.chains.length + 2);
    this.env = { inIface: '', outIface: '', conntrack: options.conntrack ?? null, localAddrs: options.localAddrs ?? new Uint32Array(0), nowNs: 0 };
    const compile = (steps: Record<PathName, Step[]>): HookStep[][] => PATHS.map((p) => {
      const out: HookStep[] = [];
      for (const [table, hook, nat] of steps[p]) {
        const t = tableByName(rs, table);
        if (!t || t.hooks[hook] < 0) continue;
        out.push({ chain: t.hooks[hook], hasIn: hook === 'PREROUTING' || hook === 'INPUT' || hook === 'FORWARD', hasOut: hook === 'OUTPUT' || hook === 'FORWARD' || hook === 'POSTROUTING', nat });
      }
      return out;
    });
    this.before = compile(BEFORE_CT);
    this.after = compile(AFTER_CT);
    const local0 = this.env.localAddrs.length >= 4 ? this.env.localAddrs.subarray(0, 4) : null;
    this.redirectAddr = local0 ?? (rs.family === 6 ? LOOPBACK6 : LOOPBACK4);
    this.masqAddr = options.masqueradeAddr ?? new Uint32Array(4);
  }

  private pathOf(b: PacketBatch, i: number): number {
    const p = this.options.path;
    if (p === 'forward') return 0;
    if (p === 'input') return 1;
    if (p === 'output') return 2;
    if (isLocal(this.env, b.dst, i * 4)) return 1;
    if (isLocal(this.env, b.src, i * 4)) return 2;
    return 0;
  }

  /** True when this engine handles packet i (its family). */
  handles(b: PacketBatch, i: number): boolean {
    return b.l3[i] === this.rs.family;
  }

  /** The raw table part (before conntrack). */
  beforeConntrack(b: PacketBatch, i: number, nowNs: number): void {
    if (!this.handles(b, i)) return;
    this.lastEvaluations = 0;
    this.runSteps(this.before[this.pathOf(b, i)]!, b, i, nowNs);
  }

  /** mangle, nat, filter (after conntrack in); records the packet's cost and final verdict. */
  afterConntrack(b: PacketBatch, i: number, nowNs: number): void {
    if (!this.handles(b, i)) return;
    const v = b.verdict[i]!;
    if (v !== Verdict.DROP && v !== Verdict.REJECT) this.runSteps(this.after[this.pathOf(b, i)]!, b, i, nowNs);
    const fin = b.verdict[i]!;
    if (fin === Verdict.NONE) b.verdict[i] = Verdict.ACCEPT;
    this.verdicts[fin === Verdict.DROP ? 1 : fin === Verdict.REJECT ? 2 : 0]!++;
    this.packets++;
    this.histogram.add(this.lastEvaluations);
  }

  /** Both parts with nothing in between (no conntrack model, or tests that set ctState by hand). */
  packet(b: PacketBatch, i: number, nowNs: number): void {
    this.beforeConntrack(b, i, nowNs);
    this.afterConntrack(b, i, nowNs);
  }

  /** The two pipeline stages; put the conntrack model between them. */
  stages(): { beforeConntrack: PipelineStage; afterConntrack: PipelineStage } {
    return {
      beforeConntrack: { name: `rules-raw-ipv${this.rs.family}`, packet: (b, i, now) => this.beforeConntrack(b, i, now) },
      afterConntrack: { name: `rules-ipv${this.rs.family}`, packet: (b, i, now) => this.afterConntrack(b, i, now) },
    };
  }

  private runSteps(steps: HookStep[], b: PacketBatch, i: number, nowNs: number): void {
    const env = this.env;
    env.nowNs = nowNs;
    const devices = this.options.devices ?? null;
    const inName = devices !== null ? devices.inIface(b, i) : (this.options.inIface ?? '');
    let outName: string | null = devices !== null ? null : (this.options.outIface ?? '');
    for (let s = 0; s < steps.length; s++) {
      const step = steps[s]!;
      if (step.nat !== 0 && !this.natWanted(b, i, step.nat)) continue;
      env.inIface = step.hasIn ? inName : '';
      if (step.hasOut && outName === null) outName = devices!.outIface(b, i);
      env.outIface = step.hasOut ? outName! : '';
      const verdict = this.doTable(step.chain, b, i);
      if (verdict === Target.DROP || verdict === Target.REJECT) {
        b.verdict[i] = verdict === Target.DROP ? Verdict.DROP : Verdict.REJECT;
        return;
      }
    }
  }

  /** nf_nat_inet_fn: nat rules run for a NEW/RELATED original-direction packet whose connection lacks this manip. */
  private natWanted(b: PacketBatch, i: number, manip: number): boolean {
    const st = b.ctState[i]!;
    if ((st !== CtState.NEW && st !== CtState.RELATED) || b.ctReply[i] === 1) return false;
    const id = b.ctId[i]!;
    if (id === NO_CONNECTION) return false;
    if (id >= MAX_DENSE_CT_ID) {
      const done = this.natDoneSparse.get(id) ?? 0;
      if ((done & manip) !== 0) return false;
      this.natDoneSparse.set(id, done | manip);
      return true;
    }
    if (id >= this.natDone.length) {
      let n = this.natDone.length;
      while (n <= id) n *= 2;
      const grown = new Uint8Array(n);
      grown.set(this.natDone);
      this.natDone = grown;
    }
    if ((this.natDone[id]! & manip) !== 0) return false;
    this.natDone[id]! |= manip; // a null binding when no rule matches, as the kernel installs
    return true;
  }

  /** ipt_do_table for one hook: returns Target.ACCEPT, DROP or REJECT. */
  private doTable(start: number, b: PacketBatch, i: number): number {
    const rs = this.rs;
    const chains = rs.chains;
    const rules = rs.rules;
    const env = this.env;
    const stack = this.stack;
    let sp = 0;
    let chain = start;
    let idx = 0;
    let evals = 0;
    this.chainEntries[start]!++;
    let list = chains[chain]!.rules;
    while (true) {
      if (idx >= list.length) {
        // Fell off the chain: built-in -> policy; user chain -> implicit RETURN.
        if (chain === start || sp === 0) return this.policy(start, b, i, evals);
        idx = stack[--sp]!;
        chain = stack[--sp]!;
        list = chains[chain]!.rules;
        continue;
      }
      const r = rules[list[idx]!]!;
      evals++;
      if (!ruleMatches(rs, r, b, i, env)) {
        idx++;
        continue;
      }
      this.rulePackets[r.id]!++;
      this.ruleBytes[r.id]! += b.ipLen[i]!;
      switch (r.target) {
        case Target.NONE: case Target.LOG:
          idx++;
          continue;
        case Target.ACCEPT: case Target.DROP: case Target.REJECT:
          this.lastEvaluations += evals;
          return r.target;
        case Target.RETURN:
          if (sp === 0) return this.policy(start, b, i, evals);
          idx = stack[--sp]!;
          chain = stack[--sp]!;
          list = chains[chain]!.rules;
          continue;
        case Target.JUMP:
          stack[sp++] = chain;
          stack[sp++] = idx + 1;
          if (sp > stack.length - 2) {
            // Stack overflow: the kernel drops (cannot happen in a loop-free ruleset).
            this.lastEvaluations += evals;
            return Target.DROP;
          }
          chain = r.jump;
          idx = 0;
          list = chains[chain]!.rules;
          this.chainEntries[chain]!++;
          continue;
        case Target.GOTO:
          chain = r.jump;
          idx = 0;
          list = chains[chain]!.rules;
          this.chainEntries[chain]!++;
          continue;
        case Target.MARK: {
          const info = r.info!;
          b.mark[i] = ((b.mark[i]! & ~info.markMask) ^ info.markValue) >>> 0;
          idx++;
          continue;
        }
        case Target.CONNMARK:
          this.connmark(r.info!, b, i);
          idx++;
          continue;
        case Target.CLASSIFY:
          b.priority[i] = r.info!.priority;
          idx++;
          continue;
        case Target.NOTRACK:
          if (b.ctState[i] === CtState.NONE) b.ctState[i] = CtState.UNTRACKED;
          idx++;
          continue;
        case Target.SNAT: case Target.DNAT: case Target.MASQUERADE: case Target.REDIRECT:
          this.nat(r.target, r.info!, b, i);
          this.lastEvaluations += evals;
          return Target.ACCEPT;
      }
      idx++;
    }
  }

  private policy(chain: number, b: PacketBatch, i: number, evals: number): number {
    this.lastEvaluations += evals;
    this.policyPackets[chain]!++;
    this.policyBytes[chain]! += b.ipLen[i]!;
    return this.rs.chains[chain]!.policy;
  }

  /** xt_connmark.c connmark_tg_shift (shift 0). No connection: nothing happens. */
  private connmark(info: { connmarkMode: number; ctmark: number; ctmask: number; nfmask: number }, b: PacketBatch, i: number): void {
    const view = this.env.conntrack;
    const st = b.ctState[i]!;
    const id = b.ctId[i]!;
    if (view === null || id === NO_CONNECTION || st === CtState.NONE || st === CtState.INVALID || st === CtState.UNTRACKED) return;
    const ct = view.getMark(id);
    if (info.connmarkMode === 0) {
      const m = ((ct & ~info.ctmask) ^ info.ctmark) >>> 0;
      if (m !== ct) view.setMark(id, m);
    } else if (info.connmarkMode === 1) {
      const m = ((ct & ~info.ctmask) ^ (b.mark[i]! & info.nfmask)) >>> 0;
      if (m !== ct) view.setMark(id, m);
    } else {
      b.mark[i] = ((b.mark[i]! & ~info.nfmask) ^ (ct & info.ctmask)) >>> 0;
    }
  }

  private nat(target: number, info: { natAddr: number[] | null; natPort: number }, b: PacketBatch, i: number): void {
    const view = this.env.conntrack;
    const id = b.ctId[i]!;
    if (view === null || id === NO_CONNECTION) return;
    const isSource = target === Target.SNAT || target === Target.MASQUERADE;
    const a: ArrayLike<number> = target === Target.MASQUERADE ? this.masqAddr : target === Target.REDIRECT ? this.redirectAddr : info.natAddr!;
    view.setNat(id, isSource, a[0]!, a[1]!, a[2]!, a[3]!, info.natPort);
  }
}

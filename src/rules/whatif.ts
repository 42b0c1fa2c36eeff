/**
 * What-if transformations of a ruleset and the replay that checks them.
 *
 * A transformation returns a new Ruleset that shares rules and address arrays with the original
 * (only chains' rule lists and, for established-first, one added rule differ), so even a 1.6M-rule
 * ruleset is transformed in milliseconds. `WhatIfComparison` runs the original and the variant
 * side by side on the same packets (each on its own copy of the batch and its own connmark
 * store) and counts, per packet, verdicts, marks and classes that differ: the replay is the proof
 * that the change is safe for this trace.
 */
import type { ConntrackView } from '../conntrack/view.js';
import type { PipelineStage } from '../pipeline/stage.js';
import { CtState, PacketBatch } from '../trace/batch.js';
import { MatchKind, RuleFlag, Target, type Chain, type Rule, type Ruleset, type TableName, type TargetValue } from './ruleset.js';
import { RuleEngine, type EngineOptions } from './traverse.js';

export const WHAT_IFS = ['established-first', 'drop-counting', 'reorder-by-hits'] as const;
export type WhatIfName = (typeof WHAT_IFS)[number];

export interface Variant {
  readonly name: WhatIfName;
  readonly ruleset: Ruleset;
  /** One line per change made, for the report. */
  readonly changes: string[];
}

function withChains(rs: Ruleset, chains: Chain[], rules: Rule[] = rs.rules): Ruleset {
  return { ...rs, chains, rules };
}

function cloneChains(rs: Ruleset): Chain[] {
  return rs.chains.map((c) => ({ ...c }));
}

const EST_MASK = (1 << CtState.ESTABLISHED) | (1 << CtState.RELATED);

/** A rule that is exactly "-m conntrack/state --ctstate RELATED,ESTABLISHED -j ACCEPT". */
function isEstablishedAccept(r: Rule): boolean {
  if (r.target !== Target.ACCEPT || r.flags !== 0 || r.proto !== 0 || r.matches === null || r.matches.length !== 1) return false;
  const m = r.matches[0]!;
  return m.kind === MatchKind.CTSTATE && !m.inv && m.mask === EST_MASK;
}

/**
 * Puts "accept RELATED,ESTABLISHED" first in the filter table's FORWARD and INPUT chains: moves
 * an existing such rule to the top, or adds one. Changes verdicts only for established packets
 * that an earlier rule would have dropped or rejected; the replay counts them.
 */
export function establishedFirst(rs: Ruleset, table: TableName = 'filter', hooks: readonly ('FORWARD' | 'INPUT' | 'OUTPUT')[] = ['FORWARD', 'INPUT']): Variant {
  const chains = cloneChains(rs);
  const rules = rs.rules.slice();
  const changes: string[] = [];
  const t = rs.tables.find((x) => x.name === table);
  for (const hook of hooks) {
    const id = t?.hooks[hook] ?? -1;
    if (id < 0) continue;
    const ch = chains[id]!;
    const list = Array.from(ch.rules);
    const at = list.findIndex((r) => isEstablishedAccept(rules[r]!));
    if (at === 0) {
      changes.push(`${table} ${hook}: already first`);
      continue;
    }
    if (at > 0) {
      const [moved] = list.splice(at, 1);
      list.unshift(moved!);
      changes.push(`${table} ${hook}: moved rule ${at + 1} (line ${rules[moved!]!.line}) to the top`);
    } else {
      if (list.length === 0) {
        changes.push(`${table} ${hook}: empty chain, nothing to gain`);
        continue;
      }
      const rid = rules.length;
      rules.push({
        id: rid, chain: id, line: 0, text: '-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT', flags: 0, proto: 0, inIface: '', outIface: '',
        matches: [{ kind: MatchKind.CTSTATE, mask: EST_MASK, inv: false }], target: Target.ACCEPT, jump: -1, info: null,
      });
      list.unshift(rid);
      changes.push(`${table} ${hook}: inserted "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT" at the top`);
    }
    ch.rules = Int32Array.from(list);
  }
  return { name: 'established-first', ruleset: withChains(rs, chains, rules), changes };
}

/** Counting rules (no target, no limit state) change nothing but their own counters. */
function isPureCounting(r: Rule): boolean {
  return r.target === Target.NONE && (r.flags & RuleFlag.NEVER) === 0 && (r.matches === null || r.matches.every((m) => m.kind !== MatchKind.LIMIT));
}

/**
 * Removes counting rules (no -j): verdicts, marks and NAT cannot change; their counters are lost.
 * With `hits`, only rules that never matched in the measured run are removed.
 */
export function dropCounting(rs: Ruleset, hits?: ArrayLike<number>): Variant {
  const chains = cloneChains(rs);
  let removed = 0;
  for (const ch of chains) {
    const keep = Array.from(ch.rules).filter((id) => !(isPureCounting(rs.rules[id]!) && (hits === undefined || hits[id] === 0)));
    removed += ch.rules.length - keep.length;
    if (keep.length !== ch.rules.length) ch.rules = Int32Array.from(keep);
  }
  return { name: 'drop-counting', ruleset: withChains(rs, chains), changes: [`removed ${removed} counting rule(s)${hits ? ' that never matched' : ''}`] };
}

/** A rule that may be reordered within a run of rules with the same absolute verdict. */
function reorderable(r: Rule): TargetValue | -1 {
  if (r.target !== Target.ACCEPT && r.target !== Target.DROP) return -1;
  if ((r.flags & RuleFlag.NEVER) !== 0) return -1;
  if (r.matches !== null && r.matches.some((m) => m.kind === MatchKind.LIMIT)) return -1; // stateful
  return r.target;
}

/**
 * Sorts each maximal run of adjacent ACCEPT rules (or DROP rules) without stateful matches by
 * measured hits, most first. Safe by construction: within such a run the packet gets the run's
 * verdict if any rule matches and falls through otherwise, whatever the order. Counters move
 * between the rules of a run.
 */
export function reorderByHits(rs: Ruleset, hits: ArrayLike<number>): Variant {
  const chains = cloneChains(rs);
  let moved = 0;
  for (const ch of chains) {
    const list = Array.from(ch.rules);
    let k = 0;
    while (k < list.length) {
      const kind = reorderable(rs.rules[list[k]!]!);
      let end = k + 1;
      if (kind !== -1) while (end < list.length && reorderable(rs.rules[list[end]!]!) === kind) end++;
      if (end - k > 1) {
        const run = list.slice(k, end);
        const sorted = run.slice().sort((a, b) => (hits[b] ?? 0) - (hits[a] ?? 0) || run.indexOf(a) - run.indexOf(b));
        for (let j = 0; j < sorted.length; j++) {
          if (sorted[j] !== run[j]) moved++;
          list[k + j] = sorted[j]!;
        }
      }
      k = end;
    }
    ch.rules = Int32Array.from(list);
  }
  return { name: 'reorder-by-hits', ruleset: withChains(rs, chains), changes: [`${moved} rule position(s) changed within same-verdict runs`] };
}

/** A connmark and NAT store standing in for the conntrack model in side-by-side replays. */
export class ConnmarkStore implements ConntrackView {
  private readonly marks = new Map<number, number>();
  natBindings = 0;
  getMark(ctId: number): number {
    return this.marks.get(ctId) ?? 0;
  }
  setMark(ctId: number, mark: number): void {
    this.marks.set(ctId, mark);
  }
  setNat(): void {
    this.natBindings++;
  }
}

export interface Difference {
  frameNo: number;
  before: number;
  after: number;
  what: 'verdict' | 'mark' | 'priority';
}

/** Runs a ruleset and a variant side by side and compares them packet by packet. */
/** The conntrack model's two hooks around the rule tables, and its view for CONNMARK and NAT. */
export interface ConntrackHooks {
  readonly in: PipelineStage;
  readonly confirm: PipelineStage;
  readonly view: ConntrackView;
}

export class WhatIfComparison {
  readonly before: RuleEngine;
  readonly after: RuleEngine;
  differences = 0;
  readonly examples: Difference[] = [];
  private copy: PacketBatch | null = null;

  private readonly ctBefore: ConntrackHooks | null;
  private readonly ctAfter: ConntrackHooks | null;

  /**
   * `conntrack`, when given, makes a fresh conntrack model per side: each ruleset then sees the
   * connection states its own verdicts produce (a rule matching ESTABLISHED needs them).
   */
  constructor(original: Ruleset, variant: Ruleset, options: Omit<EngineOptions, 'conntrack'>, conntrack?: () => ConntrackHooks) {
    this.ctBefore = conntrack ? conntrack() : null;
    this.ctAfter = conntrack ? conntrack() : null;
    this.before = new RuleEngine(original, { ...options, conntrack: this.ctBefore?.view ?? new ConnmarkStore() });
    this.after = new RuleEngine(variant, { ...options, conntrack: this.ctAfter?.view ?? new ConnmarkStore() });
  }

  private run(e: RuleEngine, ct: ConntrackHooks | null, b: PacketBatch, i: number, now: number): void {
    if (!ct) {
      e.packet(b, i, now);
      return;
    }
    e.beforeConntrack(b, i, now);
    ct.in.packet(b, i, now);
    e.afterConntrack(b, i, now);
    ct.confirm.packet(b, i, now);
  }

  /** Runs every packet of the batch through both (the batch itself carries the original's results). */
  batch(b: PacketBatch, originSec: number): void {
    if (!this.copy || this.copy.capacity < b.count || this.copy.headBytes !== b.headBytes) this.copy = new PacketBatch(b.capacity, b.headBytes);
    const c = this.copy;
    for (let i = 0; i < b.count; i++) c.copySlotFrom(b, i, i);
    c.count = b.count;
    for (let i = 0; i < b.count; i++) {
      const now = b.timeNs(i, originSec);
      this.run(this.before, this.ctBefore, b, i, now);
      this.run(this.after, this.ctAfter, c, i, now);
      if (b.verdict[i] !== c.verdict[i]) this.note(b, i, b.verdict[i]!, c.verdict[i]!, 'verdict');
      else if (b.mark[i] !== c.mark[i]) this.note(b, i, b.mark[i]!, c.mark[i]!, 'mark');
      else if (b.priority[i] !== c.priority[i]) this.note(b, i, b.priority[i]!, c.priority[i]!, 'priority');
    }
  }

  private note(b: PacketBatch, i: number, before: number, after: number, what: Difference['what']): void {
    this.differences++;
    if (this.examples.length < 10) this.examples.push({ frameNo: b.frameNo[i]!, before, after, what });
  }

  summary(): { packets: number; evaluationsBefore: number; evaluationsAfter: number; saved: number; savedPercent: number; differences: number; examples: Difference[] } {
    const a = this.before.histogram.sum;
    const z = this.after.histogram.sum;
    return {
      packets: this.before.packets, evaluationsBefore: a, evaluationsAfter: z, saved: a - z,
      savedPercent: a === 0 ? 0 : (100 * (a - z)) / a, differences: this.differences, examples: this.examples,
    };
  }
}

/** Builds a variant by name; `hits` are per-rule packet counts from a measured run. */
export function makeVariant(name: WhatIfName, rs: Ruleset, hits: ArrayLike<number>): Variant {
  switch (name) {
    case 'established-first': return establishedFirst(rs);
    case 'drop-counting': return dropCounting(rs);
    case 'reorder-by-hits': return reorderByHits(rs, hits);
  }
}

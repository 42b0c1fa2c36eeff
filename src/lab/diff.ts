/**
 * Kernel versus model over the normalized structures of types.ts. Every difference carries both
 * values; the lab exits 0 when the list is empty and 1 otherwise. ModelSide is the seam the lead
 * implements with the real models (rules, conntrack, shaper) at merge.
 */
import type { NamedText } from './replay.js';
import type { ClassCounter, ConntrackEntry, ConntrackTuple, LabObservation, RuleCounter } from './types.js';

/** What the model gets: the same inputs and every setting the lab applied to the kernel. */
export interface ModelInput {
  readonly tracePath: string;
  readonly ruleset?: NamedText;
  readonly ruleset6?: NamedText;
  readonly ipset?: NamedText;
  readonly tc?: NamedText;
  readonly conntrack: Readonly<Record<string, string>>;
  /** Addresses the lab put on the sender's side (rules with -i/-o depend on it). */
  readonly insideAddresses: readonly string[];
  /** Frames the lab did not replay, with the reason; the model must skip the same frames. */
  readonly skipped: readonly { readonly frameNo: number; readonly reason: string }[];
  /** The lab's settings, as listed in its report. */
  readonly settings: readonly string[];
  /** Wall-clock length of the kernel replay (conntrack timeouts are compared within it). */
  readonly replayDurationMs: number;
}

export interface ModelSide {
  readonly name: string;
  run(input: ModelInput): Promise<LabObservation>;
}

export type DiffArea = 'rule' | 'conntrack' | 'conntrack-stats' | 'class' | 'forwarding' | 'skipped';

export interface Difference {
  readonly area: DiffArea;
  /** What is compared, e.g. `v4 filter FORWARD #2 (-A FORWARD -p tcp ... -j ACCEPT)`. */
  readonly key: string;
  readonly field: string;
  readonly kernel: string;
  readonly model: string;
}

export interface DiffOptions {
  /** Allowed |kernel - model| for conntrack timeouts, in seconds (the replay's duration, at least 1). */
  readonly timeoutToleranceS: number;
}

const show = (v: unknown): string => (v === undefined ? '(absent)' : Array.isArray(v) ? `[${v.join(',')}]` : String(v));

function ruleKey(r: RuleCounter): string {
  return `v${r.family} ${r.table} ${r.chain} ${r.index === 0 ? 'policy' : `#${r.index}`}`;
}

function tupleText(t: ConntrackTuple): string {
  const parts = [`src=${t.src}`, `dst=${t.dst}`];
  for (const k of ['sport', 'dport', 'type', 'code', 'id'] as const) if (t[k] !== undefined) parts.push(`${k}=${t[k]}`);
  return parts.join(' ');
}

export function conntrackKey(e: ConntrackEntry): string {
  return `${e.proto} ${tupleText(e.original)}${e.zone ? ` zone=${e.zone}` : ''}`;
}

/** Compares two observations; the result is empty when they agree. */
export function diffObservations(kernel: LabObservation, model: LabObservation, options: DiffOptions): Difference[] {
  const out: Difference[] = [];
  // Rules: counters by table/chain/index; the text travels in the key so both are visible.
  const kRules = new Map(kernel.rules.map((r) => [ruleKey(r), r]));
  const mRules = new Map(model.rules.map((r) => [ruleKey(r), r]));
  for (const key of union(kRules.keys(), mRules.keys())) {
    const k = kRules.get(key);
    const m = mRules.get(key);
    const label = `${key} (${(k ?? m)!.text})`;
    if (!k || !m) {
      out.push({ area: 'rule', key: label, field: 'present', kernel: k ? `[${k.packets}:${k.bytes}]` : '(absent)', model: m ? `[${m.packets}:${m.bytes}]` : '(absent)' });
      continue;
    }
    if (k.packets !== m.packets || k.bytes !== m.bytes) out.push({ area: 'rule', key: label, field: 'packets:bytes', kernel: `[${k.packets}:${k.bytes}]`, model: `[${m.packets}:${m.bytes}]` });
  }
  // Conntrack entries by original tuple.
  const kCt = new Map(kernel.conntrack.map((e) => [conntrackKey(e), e]));
  const mCt = new Map(model.conntrack.map((e) => [conntrackKey(e), e]));
  for (const key of union(kCt.keys(), mCt.keys())) {
    const k = kCt.get(key);
    const m = mCt.get(key);
    if (!k || !m) {
      out.push({ area: 'conntrack', key, field: 'present', kernel: k ? entrySummary(k) : '(absent)', model: m ? entrySummary(m) : '(absent)' });
      continue;
    }
    if (k.state !== m.state) out.push({ area: 'conntrack', key, field: 'state', kernel: k.state || '(none)', model: m.state || '(none)' });
    if (tupleText(k.reply) !== tupleText(m.reply)) out.push({ area: 'conntrack', key, field: 'reply tuple', kernel: tupleText(k.reply), model: tupleText(m.reply) });
    if (k.mark !== m.mark) out.push({ area: 'conntrack', key, field: 'mark', kernel: String(k.mark), model: String(m.mark) });
    const kFlags = statusFlags(k);
    const mFlags = statusFlags(m);
    if (kFlags !== mFlags) out.push({ area: 'conntrack', key, field: 'flags', kernel: kFlags || '(none)', model: mFlags || '(none)' });
    if (Math.abs(k.timeout - m.timeout) > options.timeoutToleranceS) {
      out.push({ area: 'conntrack', key, field: `timeout (±${options.timeoutToleranceS}s)`, kernel: String(k.timeout), model: String(m.timeout) });
    }
  }
  // Statistics: the fields both sides report.
  for (const field of Object.keys(kernel.conntrackStats).sort()) {
    const m = model.conntrackStats[field];
    if (m === undefined) continue;
    const k = kernel.conntrackStats[field]!;
    if (k !== m) out.push({ area: 'conntrack-stats', key: 'conntrack -S (sum over CPUs)', field, kernel: String(k), model: String(m) });
  }
  // Classes by id.
  const kCl = new Map(kernel.classes.map((c) => [c.classId, c]));
  const mCl = new Map(model.classes.map((c) => [c.classId, c]));
  for (const id of union(kCl.keys(), mCl.keys())) {
    const k = kCl.get(id);
    const m = mCl.get(id);
    const key = `class ${(k ?? m)!.kind} ${id}`;
    if (!k || !m) {
      out.push({ area: 'class', key, field: 'present', kernel: k ? classSummary(k) : '(absent)', model: m ? classSummary(m) : '(absent)' });
      continue;
    }
    for (const f of ['packets', 'bytes', 'dropped'] as const) {
      if (k[f] !== m[f]) out.push({ area: 'class', key, field: f, kernel: String(k[f]), model: String(m[f]) });
    }
  }
  // Forwarded versus dropped, frame by frame.
  const kFwd = new Set(kernel.outcome.forwarded);
  const mFwd = new Set(model.outcome.forwarded);
  const kDrop = new Set(kernel.outcome.dropped);
  const mDrop = new Set(model.outcome.dropped);
  const frames = [...union(union(kFwd.keys(), mFwd.keys()), union(kDrop.keys(), mDrop.keys()))].sort((a, b) => a - b);
  for (const f of frames) {
    const k = kFwd.has(f) ? 'forwarded' : kDrop.has(f) ? 'dropped' : 'not replayed';
    const m = mFwd.has(f) ? 'forwarded' : mDrop.has(f) ? 'dropped' : 'not replayed';
    if (k !== m) out.push({ area: 'forwarding', key: `frame ${f}`, field: 'fate', kernel: k, model: m });
  }
  const kSkip = new Map(kernel.outcome.skipped.map((s) => [s.frameNo, s.reason]));
  const mSkip = new Map(model.outcome.skipped.map((s) => [s.frameNo, s.reason]));
  for (const f of [...union(kSkip.keys(), mSkip.keys())].sort((a, b) => a - b)) {
    if (kSkip.has(f) !== mSkip.has(f)) out.push({ area: 'skipped', key: `frame ${f}`, field: 'skipped', kernel: show(kSkip.get(f)), model: show(mSkip.get(f)) });
  }
  return out;
}

function statusFlags(e: ConntrackEntry): string {
  // OFFLOAD flags depend on flowtables the model does not have; ASSURED/UNREPLIED are compared.
  return e.flags.filter((f) => f === 'ASSURED' || f === 'UNREPLIED').sort().join(',');
}

function entrySummary(e: ConntrackEntry): string {
  return `${e.state ? `${e.state} ` : ''}reply ${tupleText(e.reply)} mark=${e.mark}${e.flags.length ? ` [${e.flags.join(',')}]` : ''}`;
}

function classSummary(c: ClassCounter): string {
  return `${c.packets} pkt ${c.bytes} bytes`;
}

function union<T>(a: Iterable<T>, b: Iterable<T>): Set<T> {
  const s = new Set(a);
  for (const x of b) s.add(x);
  return s;
}

/** The report's difference section: one line per difference with both values. */
export function formatDifferences(diffs: readonly Difference[]): string {
  if (diffs.length === 0) return 'kernel and model agree\n';
  const lines = [`${diffs.length} difference${diffs.length === 1 ? '' : 's'} (kernel vs model):`];
  for (const d of diffs) lines.push(`  ${d.area}: ${d.key}: ${d.field}: kernel ${d.kernel}, model ${d.model}`);
  return `${lines.join('\n')}\n`;
}

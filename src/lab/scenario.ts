/**
 * Lab scenarios (fixtures/lab/*.yaml): a ruleset (+ ip6tables, ipset, tc script, conntrack
 * settings), the packets to replay, and the kernel behaviour expected of them, computed by hand
 * from the kernel's rules. The expectations check the lab itself; at merge the same scenarios
 * also run the model side and are diffed with the kernel.
 */
import { readFileSync } from 'node:fs';
import { isNode, LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { InputError } from '../errors.js';
import type { Difference } from './diff.js';
import { buildFrame, type FrameSpec } from './frames.js';
import { writePcap } from './pcapfile.js';
import type { LabConfig } from './replay.js';
import type { LabObservation } from './types.js';

const packet = z.strictObject({
  src: z.string(),
  dst: z.string(),
  proto: z.enum(['tcp', 'udp', 'icmp']),
  sport: z.number().int().min(0).max(65535).optional(),
  dport: z.number().int().min(0).max(65535).optional(),
  flags: z.string().regex(/^[SAFRPUEC]*$/).optional(),
  seq: z.number().int().min(0).max(0xffffffff).optional(),
  ack: z.number().int().min(0).max(0xffffffff).optional(),
  payload: z.number().int().min(0).max(1400).optional(),
  icmpType: z.number().int().min(0).max(255).optional(),
  icmpCode: z.number().int().min(0).max(255).optional(),
  ttl: z.number().int().min(1).max(255).optional(),
  /** Repeat the packet n times, adding 1 to the source port each time. */
  repeat: z.number().int().min(1).max(10000).optional(),
});

const scenarioSchema = z.strictObject({
  description: z.string(),
  notes: z.string().optional(),
  iptables: z.enum(['nft', 'legacy']).optional(),
  ruleset: z.string().optional(),
  ruleset6: z.string().optional(),
  ipset: z.string().optional(),
  tc: z.string().optional(),
  conntrack: z.record(z.string(), z.union([z.string(), z.number()])).optional(),
  routes: z.array(z.strictObject({ prefix: z.string(), side: z.enum(['inside', 'outside']) })).optional(),
  inside: z.array(z.string()).optional(),
  packets: z.array(packet).min(1),
  expect: z.strictObject({
    forwarded: z.array(z.number().int().min(1)).optional(),
    dropped: z.array(z.number().int().min(1)).optional(),
    rules: z.array(z.strictObject({
      family: z.union([z.literal(4), z.literal(6)]).optional(),
      table: z.string(),
      chain: z.string(),
      index: z.number().int().min(0),
      packets: z.number().int().min(0),
      bytes: z.number().int().min(0),
    })).optional(),
    conntrackCount: z.number().int().min(0).optional(),
    conntrack: z.array(z.strictObject({
      proto: z.string(),
      src: z.string(),
      dst: z.string(),
      sport: z.number().int().optional(),
      dport: z.number().int().optional(),
      state: z.string().optional(),
      mark: z.number().int().optional(),
      flags: z.array(z.string()).optional(),
      replySrc: z.string().optional(),
      replyDst: z.string().optional(),
      replyDport: z.number().int().optional(),
    })).optional(),
    classes: z.array(z.strictObject({ classId: z.string(), packets: z.number().int(), bytes: z.number().int() })).optional(),
    stats: z.record(z.string(), z.number().int()).optional(),
  }).optional(),
});

export type Scenario = z.infer<typeof scenarioSchema>;
export type ScenarioExpect = NonNullable<Scenario['expect']>;

export interface LoadedScenario {
  readonly path: string;
  readonly scenario: Scenario;
  readonly frames: FrameSpec[];
}

/** Reads and validates a scenario; errors name the file and line. */
export function loadScenario(path: string): LoadedScenario {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new InputError(path, `cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const firstError = doc.errors[0];
  if (firstError) throw new InputError(`${path}:${lineCounter.linePos(firstError.pos[0]).line}`, firstError.message.split('\n')[0]!);
  const parsed = scenarioSchema.safeParse(doc.toJS());
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    let line = 1;
    for (let n = issue.path.length; n >= 0; n--) {
      const node = doc.getIn(issue.path.slice(0, n) as (string | number)[], true);
      if (isNode(node) && node.range) {
        line = lineCounter.linePos(node.range[0]).line;
        break;
      }
    }
    throw new InputError(`${path}:${line}`, `${issue.path.join('.') || '(top)'}: ${issue.message}`);
  }
  const frames: FrameSpec[] = [];
  for (const p of parsed.data.packets) {
    const { repeat, ...spec } = p;
    for (let i = 0; i < (repeat ?? 1); i++) frames.push({ ...spec, sport: (spec.sport ?? 0) + i });
  }
  return { path, scenario: parsed.data, frames };
}

/** Writes the scenario's packets as an Ethernet pcap, 1 ms apart, each with a unique marker. */
export function writeScenarioTrace(loaded: LoadedScenario, out: string): void {
  writePcap(out, 1, loaded.frames.map((spec, i) => {
    let data: Uint8Array;
    try {
      data = buildFrame(spec, i + 1);
    } catch (err) {
      throw new InputError(loaded.path, `packet ${i + 1}: ${err instanceof Error ? err.message : String(err)}`);
    }
    return { data, tsSec: 1_700_000_000, tsNsec: i * 1_000_000 };
  }));
}

/** The kernel configuration a scenario asks for (inline texts are named `file#field`). */
export function scenarioConfig(loaded: LoadedScenario, tracePath: string): LabConfig {
  const s = loaded.scenario;
  const named = (field: string, text: string | undefined) => (text === undefined ? undefined : { name: `${loaded.path}#${field}`, text });
  const conntrack = Object.fromEntries(Object.entries(s.conntrack ?? {}).map(([k, v]) => [k, String(v)]));
  return {
    tracePath,
    ruleset: named('ruleset', s.ruleset),
    ruleset6: named('ruleset6', s.ruleset6),
    ipset: named('ipset', s.ipset),
    tc: named('tc', s.tc),
    conntrack,
    iptables: s.iptables,
    routes: s.routes,
    insideAddresses: s.inside,
  };
}

/** Compares the kernel's observation with the scenario's hand-computed expectations. */
export function checkExpectations(obs: LabObservation, expect: ScenarioExpect): Difference[] {
  const out: Difference[] = [];
  const push = (area: Difference['area'], key: string, field: string, kernel: unknown, expected: unknown): void => {
    out.push({ area, key, field, kernel: String(kernel), model: String(expected) });
  };
  const list = (xs: readonly number[]) => `[${[...xs].sort((a, b) => a - b).join(',')}]`;
  if (expect.forwarded && list(obs.outcome.forwarded) !== list(expect.forwarded)) push('forwarding', 'forwarded frames', 'set', list(obs.outcome.forwarded), list(expect.forwarded));
  if (expect.dropped && list(obs.outcome.dropped) !== list(expect.dropped)) push('forwarding', 'dropped frames', 'set', list(obs.outcome.dropped), list(expect.dropped));
  for (const r of expect.rules ?? []) {
    const family = r.family ?? 4;
    const k = obs.rules.find((x) => x.family === family && x.table === r.table && x.chain === r.chain && x.index === r.index);
    const key = `v${family} ${r.table} ${r.chain} ${r.index === 0 ? 'policy' : `#${r.index}`}${k ? ` (${k.text})` : ''}`;
    const got = k ? `[${k.packets}:${k.bytes}]` : '(absent)';
    if (got !== `[${r.packets}:${r.bytes}]`) push('rule', key, 'packets:bytes', got, `[${r.packets}:${r.bytes}]`);
  }
  if (expect.conntrackCount !== undefined && obs.conntrack.length !== expect.conntrackCount) push('conntrack', 'entries', 'count', obs.conntrack.length, expect.conntrackCount);
  for (const e of expect.conntrack ?? []) {
    const key = `${e.proto} src=${e.src} dst=${e.dst}${e.sport !== undefined ? ` sport=${e.sport}` : ''}${e.dport !== undefined ? ` dport=${e.dport}` : ''}`;
    const k = obs.conntrack.find((x) => x.proto === e.proto && x.original.src === e.src && x.original.dst === e.dst
      && (e.sport === undefined || x.original.sport === e.sport) && (e.dport === undefined || x.original.dport === e.dport));
    if (!k) {
      push('conntrack', key, 'present', '(absent)', 'present');
      continue;
    }
    if (e.state !== undefined && k.state !== e.state) push('conntrack', key, 'state', k.state || '(none)', e.state || '(none)');
    if (e.mark !== undefined && k.mark !== e.mark) push('conntrack', key, 'mark', k.mark, e.mark);
    if (e.flags !== undefined) {
      const got = k.flags.filter((f) => f === 'ASSURED' || f === 'UNREPLIED').sort().join(',');
      if (got !== [...e.flags].sort().join(',')) push('conntrack', key, 'flags', got || '(none)', e.flags.join(',') || '(none)');
    }
    if (e.replySrc !== undefined && k.reply.src !== e.replySrc) push('conntrack', key, 'reply src', k.reply.src, e.replySrc);
    if (e.replyDst !== undefined && k.reply.dst !== e.replyDst) push('conntrack', key, 'reply dst', k.reply.dst, e.replyDst);
    if (e.replyDport !== undefined && k.reply.dport !== e.replyDport) push('conntrack', key, 'reply dport', k.reply.dport, e.replyDport);
  }
  for (const c of expect.classes ?? []) {
    const k = obs.classes.find((x) => x.classId === c.classId);
    const got = k ? `${k.packets} pkt ${k.bytes} bytes` : '(absent)';
    if (got !== `${c.packets} pkt ${c.bytes} bytes`) push('class', `class ${c.classId}`, 'packets/bytes', got, `${c.packets} pkt ${c.bytes} bytes`);
  }
  for (const [field, v] of Object.entries(expect.stats ?? {})) {
    if (obs.conntrackStats[field] !== v) push('conntrack-stats', 'conntrack -S', field, obs.conntrackStats[field] ?? '(absent)', v);
  }
  return out;
}

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConntrackStage } from '../../src/conntrack/stage.js';
import { ConntrackTable, resolveConfig } from '../../src/conntrack/table.js';
import { InputError } from '../../src/errors.js';
import { replay, type ReplayReport } from '../../src/harness/pool.js';
import { builtinRegistry } from '../../src/pipeline/builtin.js';
import { NETFILTER, type NetfilterData } from '../../src/pipeline/netfilter-stage.js';
import { SHAPER, type ShaperData } from '../../src/pipeline/shaper-stage.js';
import type { StageSpec } from '../../src/pipeline/registry.js';
import type { StageResult } from '../../src/pipeline/result.js';
import { parseIptablesSave } from '../../src/rules/parse.js';
import { RuleEngine } from '../../src/rules/traverse.js';
import { PacketBatch, Verdict } from '../../src/trace/batch.js';
import { repoRoot } from '../support/shared.js';
import { batchesOf, generatedTrace } from './trace.js';

const rulesPath = resolve(repoRoot, 'fixtures/pipeline/forward.rules');
const tcPath = resolve(repoRoot, 'fixtures/pipeline/shaper.tc');
const rulesText = readFileSync(rulesPath, 'utf8');
const tcText = readFileSync(tcPath, 'utf8');

// 400 flows, 70/25/5 TCP/UDP/ICMP, 8000 packets at 20k pps with 40 flows at a time: entries expire
// (UDP after 30 s never: the trace is 0.4 s long; TCP closes go to TIME_WAIT/CLOSE).
const trace = generatedTrace({ seed: 11, flows: 400, packets: 8000, pps: 20_000, concurrent: 40 });

const netfilter = (extra: Record<string, unknown> = {}): StageSpec => ({
  name: NETFILTER,
  config: { conntrack: { buckets: 1024, max: 100_000 }, ruleset: { name: rulesPath, text: rulesText }, path: 'forward', ...extra },
});
const shaper: StageSpec = { name: SHAPER, config: { tc: { name: tcPath, text: tcText }, linkRate: 1_250_000_000 } };

function run(workers: number, stages: StageSpec[]): Promise<ReplayReport> {
  return replay(batchesOf(trace), { workers, dispatch: { policy: 'rss-symmetric' }, stages, batchSize: 700, inFlight: 2 });
}

/** What per-shard tables legitimately change: gc sweeps run per table, chains are per table. */
function shardIndependent(r: StageResult): unknown {
  if (r.stage === NETFILTER) {
    const { ct_gc_runs: _g, ct_nodes_visited: _n, ...counters } = r.counters;
    const d = r.data as NetfilterData;
    return { counters, rulesets: d.rulesets };
  }
  // Overlimits, lends and borrows depend on how packets interleave in the one queue (per worker).
  const { qdiscOverlimits: _o, ...counters } = r.counters;
  const d = r.data as ShaperData;
  return { counters, classes: d.classes.map(({ overlimits: _x, lended: _l, borrowed: _b, ...c }) => c), classification: d.classification };
}

describe('netfilter + shaper stages on the pool', () => {
  it('N workers (per-flow dispatch) merge to exactly the one-thread counters', async () => {
    const one = await run(0, [netfilter(), shaper]);
    expect(one.packets).toBe(8000);
    const nf = one.stages[0]!;
    // Every packet got a verdict from the ruleset and each one is counted once.
    expect(nf.counters.packets).toBe(8000);
    expect(nf.counters.verdictNone).toBe(0);
    expect(nf.counters.verdictAccept! + nf.counters.verdictDrop! + nf.counters.verdictReject!).toBe(8000);
    const rs = (nf.data as NetfilterData).rulesets[0]!;
    expect(rs.packets).toBe(8000);
    // The shaper sees exactly the packets the rules let through.
    expect(one.stages[1]!.counters.classified).toBe(nf.counters.verdictAccept);
    expect(one.stages[1]!.counters.skippedDropped).toBe(nf.counters.verdictDrop);
    for (const workers of [2, 3]) {
      const pool = await run(workers, [netfilter(), shaper]);
      expect(pool.packets).toBe(8000);
      expect(pool.stages.map(shardIndependent)).toEqual(one.stages.map(shardIndependent));
      expect((pool.stages[0]!.data as NetfilterData).shards).toBe(workers);
    }
  });

  it('equals the models driven by hand: RuleEngine around ConntrackStage in/confirm, packet by packet', async () => {
    const one = await run(0, [netfilter()]);
    const rs = parseIptablesSave(rulesText, { file: rulesPath });
    const table = new ConntrackTable(resolveConfig({ buckets: 1024, max: 100_000 }));
    const ct = new ConntrackStage(table);
    const engine = new RuleEngine(rs, { path: 'forward', conntrack: table });
    let origin = -1;
    let last = 0;
    const verdicts = [0, 0, 0, 0];
    for (const b of batchesOf(trace)) {
      if (origin < 0) origin = b.tsSec[0]!;
      for (let i = 0; i < b.count; i++) {
        const now = b.timeNs(i, origin);
        last = Math.max(last, now);
        engine.beforeConntrack(b, i, now);
        ct.in.packet(b, i, now);
        engine.afterConntrack(b, i, now);
        ct.confirm.packet(b, i);
        verdicts[b.verdict[i]!]!++;
      }
    }
    ct.finish(last);
    const c = one.stages[0]!.counters;
    expect([c.verdictNone, c.verdictAccept, c.verdictDrop, c.verdictReject]).toEqual(verdicts);
    expect(c.ct_invalid).toBe(table.stats.invalid);
    expect(c.ct_created).toBe(table.stats.created);
    expect(c.ct_confirmed).toBe(table.stats.confirmed);
    expect(c.ct_expired).toBe(table.stats.expired);
    expect(c.ct_count).toBe(table.count);
    expect(c.ct_untracked).toBe(table.stats.untracked);
    const d = (one.stages[0]!.data as NetfilterData).rulesets[0]!;
    const hits = rs.rules.filter((r) => engine.rulePackets[r.id]! > 0).map((r) => [r.line, engine.rulePackets[r.id], engine.ruleBytes[r.id]]);
    expect(d.rules.map((r) => [r.line, r.packets, r.bytes])).toEqual(hits);
    const fwd = rs.chains.find((ch) => ch.table === 'filter' && ch.name === 'FORWARD')!;
    expect(d.chains.find((ch) => ch.id === fwd.id)!.policyPackets).toBe(engine.policyPackets[fwd.id]);
    expect(d.rulesEvaluated.total).toBe(engine.histogram.sum);
    // Hand-checked consequences of the ruleset: NOTRACK for NTP, so no NTP request is tracked.
    expect(c.ct_untracked).toBeGreaterThan(0);
    expect(d.rules.find((r) => r.line === 5)!.packets).toBe(c.ct_untracked);
  });

  it('without a ruleset it is conntrack alone: verdicts stay unset and the counters are the ct command\'s', async () => {
    const one = await run(0, [{ name: NETFILTER, config: { conntrack: { buckets: 1024 } } }]);
    const table = new ConntrackTable(resolveConfig({ buckets: 1024 }));
    const ct = new ConntrackStage(table);
    let origin = -1;
    let last = 0;
    for (const b of batchesOf(trace)) {
      if (origin < 0) origin = b.tsSec[0]!;
      for (let i = 0; i < b.count; i++) {
        last = Math.max(last, b.timeNs(i, origin));
        ct.packet(b, i, b.timeNs(i, origin));
      }
    }
    ct.finish(last);
    const c = one.stages[0]!.counters;
    expect(c.verdictNone! + c.verdictDrop!).toBe(8000);
    expect(c.verdictDrop).toBe(table.stats.drop);
    expect([c.ct_created, c.ct_confirmed, c.ct_expired, c.ct_count, c.ct_lookups, c.ct_nodes_visited]).toEqual([table.stats.created, table.stats.confirmed, table.stats.expired, table.count, table.stats.lookups, table.stats.nodesVisited]);
    expect((one.stages[0]!.data as NetfilterData).rulesets).toEqual([]);
  });

  it('a bad ruleset is an input error naming file:line before any worker starts', async () => {
    const bad = { name: 'bad.rules', text: '*filter\n:FORWARD DROP [0:0]\n-A FORWARD -m nosuchmodule -j ACCEPT\nCOMMIT\n' };
    const err = await run(2, [netfilter({ ruleset: bad })]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).message).toMatch(/^bad\.rules:3: /);
  });

  it('rejects a wrong configuration shape as a RangeError naming the key', () => {
    const f = builtinRegistry().get(NETFILTER);
    expect(() => f.validate!({ path: 'sideways' })).toThrow(/path must be one of forward, input, output/);
    expect(() => f.validate!({ conntrack: { timeouts: { tcp_timeout_nope: 1 } } })).toThrow(/unknown conntrack timeout "tcp_timeout_nope"/);
    expect(() => f.validate!({ ruleset: 'x' })).toThrow(/ruleset must be \{ name, text \}/);
  });

  it('writes verdicts into the batch: a dropped packet is DROP for the stages after it', async () => {
    const [b] = batchesOf(trace, 8000);
    const stage = builtinRegistry().get(NETFILTER).create(netfilter().config!, { shard: 0, shards: 1, shared: [] });
    const origin = b!.tsSec[0]!;
    for (let i = 0; i < b!.count; i++) stage.packet(b!, i, b!.timeNs(i, origin));
    let drops = 0;
    for (let i = 0; i < b!.count; i++) if (b!.verdict[i] === Verdict.DROP) drops++;
    expect(drops).toBe(stage.snapshot().counters.verdictDrop);
    expect(b).toBeInstanceOf(PacketBatch);
  });
});

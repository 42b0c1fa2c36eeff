/**
 * The bundled Selfnet scenarios, scaled down (smaller traces and tables in the same proportions),
 * run through the real models: each asserts the qualitative outcome of its finding.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { modelRunner } from '../../src/scenario/model-runner.js';
import { parseScenario, type LoadedScenario } from '../../src/scenario/load.js';
import type { PointMetric } from '../../src/scenario/runner.js';

const dir = resolve(import.meta.dirname, '../../fixtures/scenarios');

type Doc = Record<string, unknown> & { trace: { generate: Record<string, unknown> }; sweep: Record<string, unknown[]> };

/** The bundled scenario with `edit` applied (file kept in fixtures/scenarios so relative paths resolve). */
function bundled(name: string, edit: (doc: Doc) => void): LoadedScenario {
  const file = resolve(dir, `${name}.yaml`);
  const doc = parse(readFileSync(file, 'utf8')) as Doc;
  doc.repeat = 1;
  doc.warmup = 0;
  edit(doc);
  return parseScenario(stringify(doc), file);
}

/** Runs every point; id → metric name → metric. */
async function runAll(s: LoadedScenario, sampleEvery?: number): Promise<Map<string, Map<string, PointMetric>>> {
  const runner = modelRunner(sampleEvery !== undefined ? { sampleEvery } : {});
  const out = new Map<string, Map<string, PointMetric>>();
  for (const p of s.points) {
    const metrics = await runner.runPoint(p, { scenario: s, signal: new AbortController().signal, progress() {} });
    out.set(p.id, new Map(metrics.map((m) => [m.name, m])));
  }
  return out;
}

function value(r: Map<string, Map<string, PointMetric>>, point: string, metric: string): number {
  const m = r.get(point)?.get(metric);
  if (!m) throw new Error(`no ${metric} at ${point}`);
  return m.samples[0]!;
}

describe('bundled Selfnet scenarios (scaled down)', () => {
  it('1. conntrack: 4x more connections than buckets walks long chains, 16x more buckets collapses the walk', async () => {
    // 200k connections in 64k vs 1M buckets, scaled by 1/8: 25k connections in 8k vs 128k buckets.
    const s = bundled('conntrack-buckets', (d) => {
      Object.assign(d.trace.generate, { flows: '25k', packets: '100k' });
      d.workers = 1;
      d.sweep = { buckets: ['8k', '128k'] };
    });
    const r = await runAll(s);
    const small = value(r, 'buckets=8192', 'chain-length');
    const large = value(r, 'buckets=131072', 'chain-length');
    expect(value(r, 'buckets=8192', 'conntrack.entries')).toBeGreaterThan(20_000);
    expect(small).toBeGreaterThan(2);
    expect(large).toBeLessThan(1.3);
    expect(small / large).toBeGreaterThan(1.8);
    expect(value(r, 'buckets=8192', 'chain-length.max')).toBeGreaterThan(value(r, 'buckets=131072', 'chain-length.max'));
  }, 60_000);

  it('2. HTB: cls_fw\'s 256 buckets walk many filters per packet, a larger table about one', async () => {
    // 24k classes (~94 per bucket) scaled to 1500 (~6 per bucket at 256 buckets).
    const s = bundled('htb-fw-classes', (d) => {
      Object.assign(d.trace.generate, { flows: '2k', packets: '10k' });
      d.ruleset = { generate: { pattern: 'per-user', users: 1500, rules: '12k', established: 'first' } };
      d.tc = { generate: { classes: 1500, rate: '10gbit' } };
    });
    const r = await runAll(s);
    const small = value(r, 'htsize=256', 'classify-steps');
    const large = value(r, 'htsize=32768', 'classify-steps');
    expect(small).toBeGreaterThan(3);
    expect(large).toBeLessThan(1.5);
    expect(value(r, 'htsize=256', 'classify-steps.p99')).toBeGreaterThan(value(r, 'htsize=32768', 'classify-steps.p99'));
  }, 60_000);

  it('3. FORWARD: the ESTABLISHED accept first evaluates far fewer rules per packet than last', async () => {
    // 25 packets per connection, as in the bundled scenario (500k packets, 20k connections).
    const s = bundled('forward-established', (d) => {
      Object.assign(d.trace.generate, { flows: '1k', packets: '25k' });
    });
    const r = await runAll(s);
    const first = value(r, 'ruleset=rulesets/forward-established-first.rules', 'rules-evaluated');
    const last = value(r, 'ruleset=rulesets/forward-established-last.rules', 'rules-evaluated');
    expect(first).toBeLessThan(2);
    expect(last).toBeGreaterThan(3 * first);
    const hist = r.get('ruleset=rulesets/forward-established-first.rules')!.get('rules-evaluated')!.histogram!;
    // Most packets (every one after a connection's first) stop at rule 1.
    expect(hist.labels[0]).toBe('1');
    expect(hist.counts[0]! / hist.counts.reduce((a, b) => a + b, 0)).toBeGreaterThan(0.7);
  }, 60_000);

  it('4. the shaper\'s lock: beyond a few cores more cores do not raise the sustainable rate', async () => {
    const s = bundled('shaper-lock', (d) => {
      Object.assign(d.trace.generate, { flows: '2k', packets: '20k' });
      d.tc = { generate: { classes: 100, rate: '10gbit' } };
      d.sweep = { cores: [1, 32, 128] };
    });
    // Every packet timed per stage: one preemption on a loaded machine then skews a stage's cost
    // by its own length, not by 16 sampled packets' worth.
    const r = await runAll(s, 1);
    const pps = (cores: number): number => value(r, `cores=${cores}`, 'cores.max-sustainable-pps');
    const lockBound = (cores: number): boolean => value(r, `cores=${cores}`, 'cores.lock-utilization') > Math.max(...r.get(`cores=${cores}`)!.get('core-load')!.perCore!);
    // The points share one set of replays (only the simulated cores differ), so once the lock is
    // the bottleneck the rate is exactly flat: 128 cores sustain what 32 do, not 4x.
    expect(lockBound(32)).toBe(true);
    expect(lockBound(128)).toBe(true);
    expect(pps(128)).toBeCloseTo(pps(32), 6);
    expect(value(r, 'cores=128', 'shaped-rate')).toBeCloseTo(value(r, 'cores=32', 'shaped-rate'), 6);
    // One core is bound by its own work (all stages), below the lock's rate.
    expect(lockBound(1)).toBe(false);
    expect(pps(32)).toBeGreaterThan(pps(1));
  }, 60_000);

  it('5. a single flow pins one core under RSS; a single service of many clients spreads', async () => {
    const s = bundled('single-flow', (d) => {
      Object.assign(d.trace.generate, { flows: 1000, packets: '20k' });
    });
    const r = await runAll(s);
    const packets = (id: string): readonly number[] => r.get(id)!.get('cores.packets')!.perCore!;
    const share = (id: string): number => Math.max(...packets(id)) / packets(id).reduce((a, b) => a + b, 0);
    // One 5-tuple: all of a direction's packets hash to one queue (the two directions at most two).
    expect(packets('pattern=single-flow,policy=rss').filter((p) => p > 0).length).toBeLessThanOrEqual(2);
    expect(share('pattern=single-flow,policy=rss')).toBeGreaterThanOrEqual(0.5);
    expect(value(r, 'pattern=single-flow,policy=rss', 'cores.imbalance')).toBeGreaterThanOrEqual(4);
    // Many clients of one service: RSS (4-tuple) spreads; source-IP spreads the clients' packets
    // but puts all of the service's replies (one source address) on one core.
    expect(value(r, 'pattern=single-service,policy=rss', 'cores.imbalance')).toBeLessThan(1.4);
    expect(packets('pattern=single-service,policy=source-ip').filter((p) => p > 0).length).toBe(8);
    expect(share('pattern=single-service,policy=source-ip')).toBeGreaterThan(0.5);
  }, 60_000);

  it('selfnet-peak loads, validates and runs a scaled-down point through every stage', async () => {
    const s = bundled('selfnet-peak', (d) => {
      Object.assign(d.trace.generate, { flows: '2k', packets: '10k' });
      // 1.6M rules for 24k users is ~66 per user: 150 users, 10k rules.
      d.ruleset = { generate: { pattern: 'per-user', users: 150, rules: '10k', established: 'first' } };
      d.tc = { generate: { classes: 150, rate: '10gbit' } };
      d.workers = 2;
    });
    expect(s.points.length).toBe(1);
    const r = await runAll(s);
    const names = [...r.get('base')!.keys()];
    for (const m of ['ns-per-packet', 'packets-per-second', 'chain-length', 'rules-evaluated', 'classify-steps', 'core-load']) expect(names).toContain(m);
    expect(value(r, 'base', 'rules-evaluated')).toBeGreaterThan(1);
    expect(value(r, 'base', 'classify-steps')).toBeGreaterThan(0);
    expect(r.get('base')!.get('core-load')!.perCore!.length).toBe(8);
  }, 60_000);
});

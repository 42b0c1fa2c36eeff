import { describe, expect, it } from 'vitest';
import { simulateCores } from '../../src/cores/cost.js';
import { SyntheticTrace } from '../../src/cores/synthetic.js';

describe('simulated cores', () => {
  it('a single flow saturates one core and leaves the others idle', async () => {
    // 1000 packets at 100 kpps: 999 gaps of 10 us = 9.99 ms of trace time.
    const trace = new SyntheticTrace({ kind: 'single-flow', packets: 1000, pps: 100_000 });
    const sim = await simulateCores(trace.batches(256), { dispatch: { policy: 'rss', cores: 4 }, stages: [{ name: 'conntrack', nsPerPacket: 20_000 }] });
    expect(sim.packets).toBe(1000);
    expect(sim.durationNs).toBe(9_990_000);
    const busy = sim.cores.filter((c) => c.packets > 0);
    expect(busy).toHaveLength(1);
    const hot = busy[0]!;
    expect(hot.packets).toBe(1000);
    expect(hot.busyNs).toBe(20_000_000);
    expect(hot.utilization).toBeCloseTo(20_000_000 / 9_990_000, 12);
    expect(sim.cores.filter((c) => c.core !== hot.core).every((c) => c.busyNs === 0 && c.utilization === 0)).toBe(true);
    expect(sim.saturatedCores).toEqual([hot.core]);
    expect(sim.bottleneck).toEqual({ resource: 'core', core: hot.core, busyNs: 20_000_000 });
    expect(sim.imbalance).toBe(4);
    expect(sim.maxSustainablePps).toBe(50_000);
    expect(sim.connections).toBe(1);
    expect(sim.connectionsSplit).toBe(0);
  });

  it('the serialized shaper lock bounds the rate whatever the core count', async () => {
    const trace = new SyntheticTrace({ kind: 'uniform', packets: 1000, flows: 100, pps: 1_000_000 });
    const sim = await simulateCores(trace.batches(128), {
      dispatch: { policy: 'round-robin', cores: 4 },
      stages: [{ name: 'conntrack', nsPerPacket: 100 }, { name: 'shaper', nsPerPacket: 300, serialized: true }],
    });
    expect(sim.cores.map((c) => c.packets)).toEqual([250, 250, 250, 250]);
    expect(sim.cores.map((c) => c.busyNs)).toEqual([100_000, 100_000, 100_000, 100_000]);
    expect(sim.lock!.busyNs).toBe(300_000);
    expect(sim.bottleneck).toEqual({ resource: 'lock', core: null, busyNs: 300_000 });
    expect(sim.maxSustainablePps).toBeCloseTo(1e9 / 300, 6);
    expect(sim.imbalance).toBe(1);
  });

  it('Zipf: rss-symmetric keeps every connection on one core, round-robin and rss split them', async () => {
    const spec = { kind: 'zipf', packets: 20_000, flows: 2000, zipfS: 1.1, seed: 7 } as const;
    const stages = [{ name: 'conntrack', nsPerPacket: 500 }];
    const sym = await simulateCores(new SyntheticTrace(spec).batches(1024), { dispatch: { policy: 'rss-symmetric', cores: 4 }, stages });
    const rss = await simulateCores(new SyntheticTrace(spec).batches(1024), { dispatch: { policy: 'rss', cores: 4 }, stages });
    const rr = await simulateCores(new SyntheticTrace(spec).batches(1024), { dispatch: { policy: 'round-robin', cores: 4 }, stages });
    expect(sym.connections).toBe(rr.connections);
    expect(sym.connectionsSplit).toBe(0);
    // Round-robin splits every connection that has packets on consecutive turns; with 20k packets
    // nearly every connection with 2+ packets is split.
    expect(rr.connectionsSplit).toBeGreaterThan(rss.connectionsSplit);
    expect(rss.connectionsSplit).toBeGreaterThan(0);
    // Round-robin is perfectly even; flow pinning under Zipf is not.
    expect(rr.imbalance).toBe(1);
    expect(sym.imbalance).toBeGreaterThan(1);
  });

  it('single-queue puts everything on core 0', async () => {
    const sim = await simulateCores(new SyntheticTrace({ kind: 'uniform', packets: 500, flows: 50 }).batches(100), { dispatch: { policy: 'single-queue', cores: 2 }, stages: [{ name: 'x', nsPerPacket: 10 }] });
    expect(sim.cores.map((c) => c.packets)).toEqual([500, 0]);
  });
});

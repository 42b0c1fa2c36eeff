/**
 * ConntrackInStage.prepare (tuple hashes computed ahead for a run of packets, and the chain walks
 * themselves in WebAssembly where the table has the kernel, else the chains warmed) must change
 * nothing: the same trace through the pipeline (which prepares every run) and packet by
 * packet (no prepare) gives the same table, counters and per-packet ctstate.
 */
import { describe, expect, it } from 'vitest';
import { formatTable, statsCounters } from '../../src/conntrack/format.js';
import { ChainWalk } from '../../src/conntrack/chain-walk.js';
import { ConntrackStage } from '../../src/conntrack/stage.js';
import { ConntrackTable, resolveConfig } from '../../src/conntrack/table.js';
import type { HashAlgorithm } from '../../src/conntrack/tuple.js';
import { Pipeline } from '../../src/pipeline/pipeline.js';
import type { MergeableStage } from '../../src/pipeline/registry.js';
import type { PacketBatch } from '../../src/trace/batch.js';
import { batchesOf, generatedTrace } from '../pipeline/trace.js';

// TCP/UDP/ICMP, a third IPv6, flows ending and starting, a small table so chains are long.
const trace = generatedTrace({ seed: 5, flows: 600, packets: 6000, pps: 50_000, concurrent: 60, ipv6: 0.33 });

interface Outcome { states: number[]; ids: number[]; table: string[]; stats: [string, number][] }

function outcome(t: ConntrackTable, states: number[], ids: number[], endMs: number): Outcome {
  return { states, ids, table: formatTable(t, endMs), stats: statsCounters(t) };
}

function byHand(hash: HashAlgorithm): Outcome {
  const t = new ConntrackTable(resolveConfig({ buckets: 512, max: 100_000, hash }));
  const ct = new ConntrackStage(t);
  const states: number[] = [];
  const ids: number[] = [];
  let origin = -1;
  let last = 0;
  for (const b of batchesOf(trace, 500)) {
    if (origin < 0) origin = b.tsSec[0]!;
    for (let i = 0; i < b.count; i++) {
      const now = b.timeNs(i, origin);
      last = Math.max(last, now);
      ct.packet(b, i, now);
      states.push(b.ctState[i]!);
      ids.push(b.ctId[i]!);
    }
  }
  return outcome(t, states, ids, Math.floor(last / 1e6));
}

/** The pipeline, every other batch through the indexed path (a worker's view of a shared batch). */
function prepared(hash: HashAlgorithm): Outcome {
  const t = new ConntrackTable(resolveConfig({ buckets: 512, max: 100_000, hash }));
  const ct = new ConntrackStage(t) as ConntrackStage & MergeableStage;
  ct.snapshot = () => ({ stage: 'conntrack', counters: {}, data: null });
  const p = new Pipeline([ct]);
  const states: number[] = [];
  const ids: number[] = [];
  let origin = -1;
  let last = 0;
  batchesOf(trace, 500).forEach((b: PacketBatch, k) => {
    if (origin < 0) origin = b.tsSec[0]!;
    if (k % 2 === 0) p.runBatch(b, origin);
    else p.runIndexed(b, Uint32Array.from({ length: b.count }, (_, i) => i), b.count, origin);
    for (let i = 0; i < b.count; i++) {
      last = Math.max(last, b.timeNs(i, origin));
      states.push(b.ctState[i]!);
      ids.push(b.ctId[i]!);
    }
  });
  if (ChainWalk.available) {
    // The walks done ahead in WebAssembly: most taken, some redone (the table changed in between).
    expect(t.walksTaken).toBeGreaterThan(2000);
    expect(t.walksRedone).toBeGreaterThan(100);
  } else {
    expect(ct.in.warmed).not.toBe(0);
  }
  return outcome(t, states, ids, Math.floor(last / 1e6));
}

describe('conntrack prepare (hashes ahead, cache warmed)', () => {
  for (const hash of ['siphash', 'jhash'] as const) {
    it(`${hash}: the pipeline's prepared runs equal packet-by-packet processing exactly`, () => {
      const a = byHand(hash);
      const b = prepared(hash);
      expect(a.states.length).toBe(6000);
      expect(b.states).toEqual(a.states);
      expect(b.ids).toEqual(a.ids);
      expect(b.stats).toEqual(a.stats);
      expect(b.table).toEqual(a.table);
      // The trace exercises what prepare skips and what it hashes.
      expect(a.table.some((l) => /src=\S*:/.test(l))).toBe(true);
      expect(a.table.some((l) => l.startsWith('icmp'))).toBe(true);
    });
  }
});

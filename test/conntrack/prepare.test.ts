/**
 * ConntrackInStage.prepare (tuple hashes computed ahead for a run of packets, and the chain walks
 * themselves in WebAssembly where the table has the kernel, else the chains warmed) must change
 * nothing: the same trace through the pipeline (which prepares every run) and packet by
 * packet (no prepare) gives the same table, counters and per-packet ctstate.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatTable, statsCounters } from '../../src/conntrack/format.js';
import { ChainWalk } from '../../src/conntrack/chain-walk.js';
import { ConntrackStage } from '../../src/conntrack/stage.js';
import { ConntrackTable, resolveConfig } from '../../src/conntrack/table.js';
import type { HashAlgorithm } from '../../src/conntrack/tuple.js';
import { Pipeline } from '../../src/pipeline/pipeline.js';
import type { MergeableStage } from '../../src/pipeline/registry.js';
import { NO_CONNECTION, PacketBatch } from '../../src/trace/batch.js';
import { readTraceBytes } from '../../src/trace/reader.js';
import { batchesOf, generatedTrace } from '../pipeline/trace.js';
import { ACK, FIN, fillSlot, SYN, type PacketSpec } from './helpers.js';
import { hasShared, sharedDir } from '../support/shared.js';

// TCP/UDP/ICMP, a third IPv6, flows ending and starting, a small table so chains are long.
const trace = generatedTrace({ seed: 5, flows: 600, packets: 6000, pps: 50_000, concurrent: 60, ipv6: 0.33 });

interface Outcome { states: number[]; ids: number[]; table: string[]; stats: [string, number][] }

function outcome(t: ConntrackTable, states: number[], ids: number[], endMs: number): Outcome {
  return { states, ids, table: formatTable(t, endMs), stats: statsCounters(t) };
}

function byHand(hash: HashAlgorithm, batches: PacketBatch[] = batchesOf(trace, 500)): Outcome {
  const t = new ConntrackTable(resolveConfig({ buckets: 512, max: 100_000, hash }));
  const ct = new ConntrackStage(t);
  const states: number[] = [];
  const ids: number[] = [];
  let origin = -1;
  let last = 0;
  for (const b of batches) {
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

/** Walks taken by prepared() tables, all together. */
let walksTaken = 0;

/** The pipeline, every other batch through the indexed path (a worker's view of a shared batch). */
function prepared(hash: HashAlgorithm, batches: PacketBatch[] = batchesOf(trace, 500), expectWalks = true): Outcome {
  const t = new ConntrackTable(resolveConfig({ buckets: 512, max: 100_000, hash }));
  const ct = new ConntrackStage(t) as ConntrackStage & MergeableStage;
  ct.snapshot = () => ({ stage: 'conntrack', counters: {}, data: null });
  const p = new Pipeline([ct]);
  const states: number[] = [];
  const ids: number[] = [];
  let origin = -1;
  let last = 0;
  batches.forEach((b: PacketBatch, k) => {
    if (origin < 0) origin = b.tsSec[0]!;
    if (k % 2 === 0) p.runBatch(b, origin);
    else p.runIndexed(b, Uint32Array.from({ length: b.count }, (_, i) => i), b.count, origin);
    for (let i = 0; i < b.count; i++) {
      last = Math.max(last, b.timeNs(i, origin));
      states.push(b.ctState[i]!);
      ids.push(b.ctId[i]!);
    }
  });
  walksTaken += t.walksTaken;
  if (!expectWalks) {
    // (a capture's own mix)
  } else if (ChainWalk.available) {
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

describe('conntrack prepare on the real captures of the corpus', () => {
  it.runIf(hasShared)('prepared runs equal packet-by-packet processing on every capture (both hashes)', () => {
    const dir = resolve(sharedDir, 'fixtures/pcap/tcpdump');
    const files = readdirSync(dir).filter((f) => /\.pcap(ng)?$/.test(f)).sort();
    expect(files.length).toBe(830);
    let packets = 0;
    let tracked = 0;
    walksTaken = 0;
    for (const file of files) {
      // The packets before a capture's first corrupt record, as every reader hands them over.
      const batches: PacketBatch[] = [];
      try {
        readTraceBytes(new Uint8Array(readFileSync(resolve(dir, file))), new PacketBatch(256), (b) => { batches.push(PacketBatch.fromBuffer(b.buffer.slice(0))); });
      } catch {
        // the rest of the file is unreadable
      }
      for (const hash of ['siphash', 'jhash'] as const) {
        const a = byHand(hash, batches);
        const b = prepared(hash, batches.map((x) => PacketBatch.fromBuffer(x.buffer.slice(0))), false);
        if (JSON.stringify(a) !== JSON.stringify(b)) expect({ file, hash, ...b }).toEqual({ file, hash, ...a });
        if (hash === 'jhash') {
          packets += a.states.length;
          tracked += a.ids.filter((id) => id !== NO_CONNECTION).length;
        }
      }
    }
    // The corpus reaches the conntrack paths: many packets, many tracked, walks done ahead taken.
    expect(packets).toBeGreaterThan(10_000);
    expect(tracked).toBeGreaterThan(5_000);
    if (ChainWalk.available) expect(walksTaken).toBeGreaterThan(1_000);
  });
});

describe('conntrack prepare: a walk taken for a packet that reopens its connection', () => {
  // Connection A closes (TIME_WAIT), B opens; the next run's SYN of A takes its walk (A's old
  // entry), the handler says reopen (kill and look up again): that second lookup, and the new
  // entry, must use A's tuple, which the packet never loaded while its walk stood.
  const a = { src: '10.0.0.1', dst: '10.0.0.2', sport: 1000, dport: 80 };
  const aReply = { src: '10.0.0.2', dst: '10.0.0.1', sport: 80, dport: 1000 };
  const b = { src: '10.0.0.3', dst: '10.0.0.2', sport: 2000, dport: 80 };
  const first: PacketSpec[] = [
    { ...a, tcp: SYN, seq: 100 }, { ...aReply, tcp: SYN | ACK, seq: 900, ack: 101 }, { ...a, tcp: ACK, seq: 101, ack: 901 },
    { ...a, tcp: FIN | ACK, seq: 101, ack: 901 }, { ...aReply, tcp: FIN | ACK, seq: 901, ack: 102 }, { ...a, tcp: ACK, seq: 102, ack: 902 },
    { ...b, tcp: SYN, seq: 5000 },
  ];
  const second: PacketSpec[] = [{ ...a, tcp: SYN, seq: 7000 }, { ...aReply, tcp: SYN | ACK, seq: 8000, ack: 7001 }];
  const batchOf = (specs: PacketSpec[], fromMs: number): PacketBatch => {
    const batch = new PacketBatch(16, 64);
    specs.forEach((p, i) => { fillSlot(batch, i, p); batch.tsSec[i] = 100; batch.tsNsec[i] = (fromMs + i) * 1e6; });
    batch.count = specs.length;
    return batch;
  };

  for (const hash of ['siphash', 'jhash'] as const) {
    it(`${hash}: the same entries and states as packet by packet`, () => {
      const run = (pipeline: boolean): { table: string[]; states: number[] } => {
        const t = new ConntrackTable(resolveConfig({ buckets: 512, hash }));
        const ct = new ConntrackStage(t) as ConntrackStage & MergeableStage;
        ct.snapshot = () => ({ stage: 'conntrack', counters: {}, data: null });
        const p = new Pipeline([ct]);
        const states: number[] = [];
        for (const batch of [batchOf(first, 0), batchOf(second, 100)]) {
          if (pipeline) p.runBatch(batch, 100);
          else for (let i = 0; i < batch.count; i++) ct.packet(batch, i, batch.timeNs(i, 100));
          states.push(...batch.ctState.subarray(0, batch.count));
        }
        if (pipeline && ChainWalk.available) expect(t.walksTaken).toBeGreaterThan(0);
        return { table: formatTable(t, 1000), states };
      };
      const byPacket = run(false);
      expect(run(true)).toEqual(byPacket);
      // A's new entry (SYN_RECV after its SYN/ACK) and B's, nothing else.
      expect(byPacket.table.length).toBe(2);
      expect(byPacket.table.some((l) => l.includes('src=10.0.0.1 dst=10.0.0.2 sport=1000 dport=80') && l.includes('SYN_RECV'))).toBe(true);
    });
  }
});

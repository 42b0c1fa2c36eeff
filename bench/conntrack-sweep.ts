/**
 * Hashsize sweep: 200k synthetic TCP flows (handshake each, then 400k data packets of random
 * established flows) filled straight into a PacketBatch and run through the conntrack stage once
 * per nf_conntrack_buckets value, max fixed at 262144 (as resizing the sysctl leaves it).
 * Packets run as the pipeline runs them (ConntrackInStage.prepare per run of 128, then packet
 * by packet). Records occupancy, mean and max chain length, nodes visited per lookup, ns per packet and
 * memory per size: the curve goes into results/conntrack-sweep.json.
 *
 *   npm run build && node dist/bench/conntrack-sweep.js [16k,32k,...]
 */
import { writeBenchResult, type BenchMetric } from './support.js';
import { makeFlows, tracePackets, writePacket } from './conntrack-support.js';
import { lookupSummary } from '../src/conntrack/format.js';
import { ConntrackStage } from '../src/conntrack/stage.js';
import { PREPARE_RUN } from '../src/pipeline/pipeline.js';
import { ConntrackTable, resolveConfig } from '../src/conntrack/table.js';
import { PacketBatch } from '../src/trace/batch.js';
import { parseCount } from '../src/cli/options.js';

const FLOWS = 200_000;
const DATA_PACKETS = 400_000;
const sizes = (process.argv[2] ?? '16k,32k,64k,128k,256k,512k,1m').split(',').map(parseCount);
const flows = makeFlows(FLOWS);
const batch = new PacketBatch(4096, 0);

interface Point {
  buckets: number;
  entries: number;
  occupancy: number;
  meanChain: number;
  meanUsedChain: number;
  maxChain: number;
  nodesPerLookupMean: number;
  nodesPerLookupP99: number;
  nodesPerLookupMax: number;
  nsPerPacket: number;
  memoryBytes: number;
}

function runSize(buckets: number): Point {
  const table = new ConntrackTable(resolveConfig({ buckets, max: 262144 }));
  const stage = new ConntrackStage(table);
  let ns = 0;
  let packets = 0;
  let fill = 0;
  let clock = 0;
  const flush = (): void => {
    const t0 = process.hrtime.bigint();
    // The pipeline's order: each run of packets prepared (hashed ahead, chains warmed), then walked.
    for (let from = 0; from < fill; from += PREPARE_RUN) {
      const to = Math.min(fill, from + PREPARE_RUN);
      stage.prepare(batch, null, from, to);
      for (let i = from; i < to; i++) stage.packet(batch, i, batch.timeNs(i, 0));
    }
    ns += Number(process.hrtime.bigint() - t0);
    packets += fill;
    fill = 0;
  };
  for (const [flow, reply, tcp] of tracePackets(flows, DATA_PACKETS)) {
    clock += 1000; // 1 us between packets
    writePacket(batch, fill++, flows, flow, reply, tcp, clock);
    if (fill === batch.capacity) flush();
  }
  flush();
  const hist = table.chainHistogram();
  const used = table.buckets - (hist[0] ?? 0);
  const nodes = hist.reduce((s, b, len) => s + b * len, 0);
  const l = lookupSummary(table);
  if (table.count !== FLOWS) throw new Error(`expected ${FLOWS} entries, table holds ${table.count}`);
  return {
    buckets: table.buckets, entries: table.count, occupancy: used / table.buckets, meanChain: nodes / table.buckets,
    meanUsedChain: nodes / used, maxChain: hist.length - 1, nodesPerLookupMean: l.mean, nodesPerLookupP99: l.p99, nodesPerLookupMax: l.max,
    nsPerPacket: ns / packets, memoryBytes: table.memoryBytes(),
  };
}

const curve: Point[] = [];
console.log('buckets    entries  occupancy  mean chain  max chain  nodes/lookup mean p99 max  ns/packet  memory MiB');
for (const size of sizes) {
  const p = runSize(size);
  curve.push(p);
  console.log(`${String(p.buckets).padEnd(10)} ${String(p.entries).padStart(7)}  ${(p.occupancy * 100).toFixed(1).padStart(8)}%  ${p.meanChain.toFixed(3).padStart(10)}  ${String(p.maxChain).padStart(9)}  ${`${p.nodesPerLookupMean.toFixed(3)} ${p.nodesPerLookupP99} ${p.nodesPerLookupMax}`.padStart(26)}  ${p.nsPerPacket.toFixed(1).padStart(9)}  ${(p.memoryBytes / 1048576).toFixed(1).padStart(10)}`);
}
const metrics: BenchMetric[] = curve.flatMap((p) => [
  { name: 'conntrack.sweep.ns-per-packet', unit: 'ns', direction: 'lower' as const, samples: [p.nsPerPacket], params: { buckets: p.buckets } },
  { name: 'conntrack.sweep.nodes-per-lookup', unit: 'nodes', direction: 'lower' as const, samples: [p.nodesPerLookupMean], params: { buckets: p.buckets } },
]);
console.log(`results: ${writeBenchResult('conntrack-sweep', metrics, { flows: FLOWS, dataPackets: DATA_PACKETS, max: 262144, curve })}`);

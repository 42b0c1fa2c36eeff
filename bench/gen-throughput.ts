/**
 * Generator and writer throughput, side by side in one run:
 * - gen.frames.pps: TraceGenerator.next into a reused buffer (no output);
 * - gen.pcap-memory.pps: generate + pcap encoding into the writer's buffer (sink discards);
 * - gen.pcap-file.pps: generate + write a pcap to disk through TraceFileWriter (temp + rename);
 * - gen.batch.pps: TraceGenerator.fillBatch into a 4096-slot PacketBatch;
 * then one long streaming write (default 4M packets, ~1.8 GB) for peak RSS.
 *
 * node dist/bench/gen-throughput.js [packetsPerSample=1000000] [samples=5] [rssPackets=4000000]
 */
import { rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PacketBatch } from '../src/trace/batch.js';
import { TraceGenerator, type GenerateOptions } from '../src/trace/generate.js';
import { TraceEncoder, TraceFileWriter, writeFrames } from '../src/trace/write.js';
import { median, writeBenchResult, type BenchMetric } from './support.js';

const packets = Number(process.argv[2] ?? 1_000_000);
const samples = Number(process.argv[3] ?? 5);
const rssPackets = Number(process.argv[4] ?? 4_000_000);
const options: GenerateOptions = { seed: 1, packets, flows: Math.max(1, Math.floor(packets / 100)), pattern: 'zipf', ipv6: 0.2 };
const file = join(tmpdir(), `pktbench-gen-bench-${process.pid}.pcap`);

/** Packets per second of wall time and of this process's CPU time (user + system). */
function timed(run: () => number): [number, number] {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const n = run();
  const ns = Number(process.hrtime.bigint() - t0);
  const c = process.cpuUsage(c0);
  if (n !== packets) throw new Error(`made ${n} packets, expected ${packets}`);
  return [(n * 1e9) / ns, (n * 1e6) / (c.user + c.system)];
}

const variants: Record<string, () => number> = {
  'gen.frames.pps': () => {
    const g = new TraceGenerator(options);
    const buf = new Uint8Array(g.maxFrameBytes);
    let n = 0;
    while (g.next(buf, 0) > 0) n++;
    return n;
  },
  'gen.pcap-memory.pps': () => {
    const g = new TraceGenerator(options);
    const enc = new TraceEncoder({ format: 'pcap' }, () => {});
    return writeFrames(g, enc);
  },
  'gen.pcap-file.pps': () => {
    const g = new TraceGenerator(options);
    const w = new TraceFileWriter(file, { format: 'pcap' });
    const n = writeFrames(g, w.encoder);
    w.close();
    return n;
  },
  'gen.batch.pps': () => {
    const g = new TraceGenerator(options);
    const batch = new PacketBatch(4096);
    let n = 0;
    let k: number;
    while ((k = g.fillBatch(batch)) > 0) n += k;
    return n;
  },
};

const names = Object.keys(variants);
const wall: BenchMetric[] = names.map((name) => ({ name, unit: 'packets/s', direction: 'higher', samples: [] }));
// Per CPU second too: on a loaded shared machine wall time mostly measures the neighbours.
const cpu: BenchMetric[] = names.map((name) => ({ name: `${name}-cpu`, unit: 'packets/s', direction: 'higher', samples: [] }));
// Interleave the variants so load changes on this shared machine hit them alike.
for (let s = 0; s < samples; s++) {
  names.forEach((name, i) => {
    const [w, c] = timed(variants[name]!);
    wall[i]!.samples.push(w);
    cpu[i]!.samples.push(c);
  });
}
const metrics: BenchMetric[] = [...wall, ...cpu];
const fileBytes = statSync(file).size;
rmSync(file, { force: true });

// Peak RSS while streaming a long trace to disk: memory must not grow with the packet count.
const rssBefore = process.memoryUsage().rss;
let rssPeak = rssBefore;
{
  const g = new TraceGenerator({ ...options, packets: rssPackets, flows: Math.floor(rssPackets / 100) });
  const w = new TraceFileWriter(file, { format: 'pcap' });
  writeFrames(g, w.encoder, () => {
    rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
  }, 262144);
  w.close();
}
const bigBytes = statSync(file).size;
rmSync(file, { force: true });
metrics.push({ name: 'gen.stream.peak-rss', unit: 'MB', direction: 'lower', samples: [rssPeak / 1e6], params: { packets: rssPackets, fileBytes: bigBytes } });

const path = writeBenchResult('gen-throughput', metrics, { packetsPerSample: packets, samples, fileBytesPerSample: fileBytes, options });
for (const m of metrics) {
  const med = median(m.samples);
  // Ratios against gen.frames of the same clock (wall with wall, CPU with CPU).
  const base = median((m.name.endsWith('-cpu') ? cpu[0]! : wall[0]!).samples);
  const ratio = m.unit === 'packets/s' ? `  (${(med / base).toFixed(2)}x of gen.frames)` : '';
  process.stdout.write(`${m.name.padEnd(26)} median ${m.unit === 'MB' ? med.toFixed(0) : (med / 1e6).toFixed(3) + ' M'}${m.unit}${ratio}\n`);
}
process.stdout.write(`${rssPackets} packets streamed: ${(bigBytes / 1e9).toFixed(2)} GB on disk, peak RSS ${(rssPeak / 1e6).toFixed(0)} MB (${(rssBefore / 1e6).toFixed(0)} MB before)\n`);
process.stdout.write(`results: ${path}\n`);

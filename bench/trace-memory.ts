/**
 * Peak resident memory while streaming a trace: `node dist/bench/trace-memory.js FILE`.
 * Streams every packet through the reader and decoder (one 4096-packet batch, one 1 MiB window)
 * and reports the process's peak RSS (getrusage maxrss). Writes results/trace-memory.json.
 */
import { statSync } from 'node:fs';
import { PacketBatch } from '../src/trace/batch.js';
import { openTrace } from '../src/trace/reader.js';
import { writeBenchResult } from './support.js';

async function main(): Promise<void> {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: node dist/bench/trace-memory.js FILE\n');
    process.exitCode = 2;
    return;
  }
  const rssBefore = process.memoryUsage().rss;
  const batch = new PacketBatch();
  const reader = await openTrace(file);
  const start = process.hrtime.bigint();
  let packets = 0;
  while ((await reader.read(batch)) > 0) packets += batch.count;
  await reader.close();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const peakRss = process.resourceUsage().maxRSS * 1024;
  const bytes = statSync(file).size;
  const path = writeBenchResult('trace-memory', [
    { name: 'stream.peak_rss', unit: 'bytes', direction: 'lower', samples: [peakRss] },
    { name: 'stream.pps', unit: 'packets/s', direction: 'higher', samples: [packets / seconds] },
  ], { file, fileBytes: bytes, packets, rssBeforeOpen: rssBefore, compressed: reader.info.compressed });
  const mb = (v: number): string => (v / 1048576).toFixed(1);
  process.stdout.write(`${file}: ${mb(bytes)} MiB on disk, ${packets} packets in ${seconds.toFixed(2)} s\n`);
  process.stdout.write(`  peak RSS ${mb(peakRss)} MiB (RSS before opening ${mb(rssBefore)} MiB)\n`);
  process.stdout.write(`results: ${path}\n`);
  for (const w of reader.warnings) process.stderr.write(`warning: ${w}\n`);
}

await main();

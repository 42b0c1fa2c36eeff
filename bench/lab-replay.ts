/**
 * How fast the kernel lab replays: set-up + replay + read-back of a trace of N new UDP flows
 * through a conntrack-using forward ruleset, nf_tables and legacy side by side in one run.
 * Needs root and network namespaces (prints why and exits 0 otherwise).
 * Run: npm run build && node dist/bench/lab-replay.js [packets=2000] [runs=3]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildFrame } from '../src/lab/frames.js';
import { labUnavailableReason } from '../src/lab/netns.js';
import { writePcap } from '../src/lab/pcapfile.js';
import { runKernel } from '../src/lab/replay.js';
import { median, writeBenchResult, type BenchMetric } from './support.js';

const packets = Number(process.argv[2] ?? 2000);
const runs = Number(process.argv[3] ?? 3);
const why = labUnavailableReason();
if (why) {
  process.stdout.write(`lab-replay: skipped: ${why}\n`);
  process.exit(0);
}
const work = mkdtempSync(join(tmpdir(), 'pktbench-bench-lab-'));
try {
  const trace = join(work, 'flows.pcap');
  writePcap(trace, 1, Array.from({ length: packets }, (_, i) => ({
    data: buildFrame({ src: '10.1.0.2', dst: '198.51.100.10', proto: 'udp', sport: 10000 + (i % 50000), dport: 53, payload: 20 }, i + 1),
    tsSec: 0,
    tsNsec: i,
  })));
  const ruleset = { name: 'bench.rules', text: '*filter\n:FORWARD DROP [0:0]\n-A FORWARD -m conntrack --ctstate NEW,ESTABLISHED -j ACCEPT\nCOMMIT\n' };
  const metrics: BenchMetric[] = [];
  for (const variant of ['nft', 'legacy'] as const) {
    const wall: number[] = [];
    const pps: number[] = [];
    const forwarded: number[] = [];
    for (let r = 0; r < runs; r++) {
      const t0 = process.hrtime.bigint();
      const run = await runKernel({ tracePath: trace, ruleset, iptables: variant });
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      // Every packet should come through; a few missing ones (seen now and then on the loaded
      // 2-core machine, in the receiver's capture) are reported, not a reason to drop the timing.
      const seen = run.observation.outcome.forwarded.length;
      if (seen !== packets) process.stderr.write(`lab-replay ${variant}: run ${r + 1}: ${seen} of ${packets} packets seen at the receiver\n`);
      forwarded.push(seen / packets);
      wall.push(ms);
      pps.push(packets / (ms / 1000));
    }
    metrics.push({ name: 'lab.run.ms', unit: 'ms', direction: 'lower', samples: wall, params: { iptables: variant, packets } });
    metrics.push({ name: 'lab.run.pps', unit: 'packets/s', direction: 'higher', samples: pps, params: { iptables: variant, packets } });
    metrics.push({ name: 'lab.run.forwarded_share', unit: 'ratio', direction: 'higher', samples: forwarded, params: { iptables: variant, packets } });
    process.stdout.write(`lab-replay ${variant}: ${packets} packets, median ${median(wall).toFixed(0)} ms per run (set-up + replay + read-back), ${median(pps).toFixed(0)} packets/s, ${(Math.min(...forwarded) * 100).toFixed(1)}% or more seen at the receiver\n`);
  }
  const runMs = (variant: string): number => median(metrics.find((m) => m.name === 'lab.run.ms' && m.params?.iptables === variant)!.samples);
  const nft = runMs('nft');
  const legacy = runMs('legacy');
  process.stdout.write(`legacy/nft run time ratio: ${(legacy / nft).toFixed(2)}\n`);
  process.stdout.write(`results: ${writeBenchResult('lab-replay', metrics, { packets, runs })}\n`);
} finally {
  rmSync(work, { recursive: true, force: true });
}

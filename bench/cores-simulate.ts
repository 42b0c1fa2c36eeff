/**
 * Speed of the cores model itself: Toeplitz hash, dispatch (hash + RETA) and the core simulator
 * per packet, tinybench.
 *
 *   npm run build && node dist/bench/cores-simulate.js
 */
import { Bench } from 'tinybench';
import { CoreSimulator } from '../src/cores/cost.js';
import { Dispatcher } from '../src/cores/dispatch.js';
import { SyntheticTrace } from '../src/cores/synthetic.js';
import { MICROSOFT_RSS_KEY, ToeplitzKey } from '../src/hash/toeplitz.js';
import { PacketBatch } from '../src/trace/batch.js';
import { writeBenchResult, type BenchMetric } from './support.js';

const b = new PacketBatch(4096, 0);
new SyntheticTrace({ kind: 'zipf', packets: 4096, flows: 5000 }).fill(b);
const key = new ToeplitzKey(MICROSOFT_RSS_KEY);
const rss = new Dispatcher({ policy: 'rss', cores: 16 });
let sink = 0;
const sim = new CoreSimulator({ dispatch: { policy: 'rss', cores: 16 }, stages: [{ name: 'ct', nsPerPacket: 300 }], connectionCapacity: 1 << 14 });
const bench = new Bench({ time: 500, retainSamples: true });
bench
  .add('toeplitz.v4_ports x4096', () => {
    for (let i = 0; i < 4096; i++) sink ^= key.hashV4(b.src[i * 4]!, b.dst[i * 4]!, b.sport[i]!, b.dport[i]!, true);
  })
  .add('dispatch.rss x4096', () => {
    for (let i = 0; i < 4096; i++) sink ^= rss.assign(b, i);
  })
  .add('simulate.rss x4096', () => {
    sim.addBatch(b);
  });
await bench.run();
const metrics: BenchMetric[] = bench.tasks.map((t) => {
  const r = t.result as unknown as { latency?: { samples?: number[] }; samples?: number[] } | undefined;
  const raw = r?.latency?.samples ?? r?.samples ?? [];
  // tinybench gives ms per iteration; report ns per packet.
  return { name: t.name.replace(' x4096', '.ns_per_packet'), unit: 'ns', direction: 'lower', samples: raw.map((ms) => (ms * 1e6) / 4096) };
});
sink ^= sim.result().packets;
const path = writeBenchResult('cores-simulate', metrics, { sink });
for (const m of metrics) {
  const s = [...m.samples].sort((x, y) => x - y);
  process.stdout.write(`${m.name}: median ${(s[s.length >> 1] ?? NaN).toFixed(1)} ns/packet (${s.length} samples)\n`);
}
process.stdout.write(`wrote ${path}\n`);

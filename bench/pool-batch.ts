/**
 * Batch-size sweep of the pool: 2 workers, rss-symmetric, hash-work (10 rounds) + flow
 * accounting on a Zipf trace; throughput and main-thread dispatch cost per packet.
 *
 *   npm run build && node dist/bench/pool-batch.js [packets] [samples]
 */
import { SyntheticTrace } from '../src/cores/synthetic.js';
import { replay } from '../src/harness/pool.js';
import { median, writeBenchResult, type BenchMetric } from './support.js';

const packets = Number(process.argv[2] ?? 300_000);
const samples = Number(process.argv[3] ?? 3);
const metrics: BenchMetric[] = [];
const rows: string[] = [];
for (const batch of [64, 256, 1024, 4096, 16384]) {
  const pps: number[] = [];
  const dispatch: number[] = [];
  for (let s = 0; s < samples; s++) {
    const trace = new SyntheticTrace({ kind: 'zipf', packets, flows: 20_000, seed: 5 });
    // A reader fills the pool's batches of `batch` packets (indexed transfer: the source batches).
    const r = await replay({ read: (b) => Promise.resolve(trace.fill(b)) }, {
      workers: 2,
      dispatch: { policy: 'rss-symmetric' },
      stages: [{ name: 'hash-work', config: { rounds: 10 } }, { name: 'flow-accounting' }],
      batchSize: batch,
    });
    pps.push(r.pps);
    dispatch.push(r.dispatchNs / r.packets);
  }
  metrics.push({ name: 'pool.pps', unit: 'packets/s', direction: 'higher', samples: pps, params: { batch } });
  metrics.push({ name: 'pool.dispatch_ns_per_packet', unit: 'ns', direction: 'lower', samples: dispatch, params: { batch } });
  rows.push(`batch ${String(batch).padStart(5)}  ${Math.round(median(pps)).toLocaleString('en-US').padStart(10)} packets/s  dispatch ${median(dispatch).toFixed(1)} ns/packet`);
}
const path = writeBenchResult('pool-batch', metrics, { packets, samples, workers: 2 });
process.stdout.write(`${rows.join('\n')}\nwrote ${path}\n`);

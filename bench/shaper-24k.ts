/**
 * Selfnet's question: 24,000 HTB leaves classified by cls_fw marks.
 *
 * 1. Classification ns/packet (htb_classify → fw_classify) with HTSIZE 256 (the kernel) versus
 *    65,536 ("what if it were dynamic"), and entries walked per packet.
 * 2. HTB enqueue + dequeue (+ classification) ns/packet with 24k leaves under one root, traffic
 *    spread over all leaves, arriving faster than the link drains it.
 *
 * Variants are interleaved sample by sample so that both see the same machine load; medians and
 * ratios come from the same run. Run: `npm run build && node dist/bench/shaper-24k.js`.
 */
import { performance } from 'node:perf_hooks';
import { Shaper } from '../src/shaper/shaper.js';
import { parseTcScript } from '../src/shaper/tc-parse.js';
import { getRate64 } from '../src/shaper/tc-units.js';
import { PacketBatch } from '../src/trace/batch.js';
import { median, writeBenchResult, type BenchMetric } from './support.js';

const CLASSES = 24_000;
const SAMPLES = Number(process.env.SAMPLES ?? 11);

function script(): string {
  const lines = ['tc qdisc add dev eth0 root handle 1: htb default 1', 'tc class add dev eth0 parent 1: classid 1:1 htb rate 10gbit'];
  for (let k = 1; k <= CLASSES; k++) {
    lines.push(`tc class add dev eth0 parent 1:1 classid 1:${(0x10 + k).toString(16)} htb rate 1mbit ceil 100mbit`);
  }
  for (let k = 1; k <= CLASSES; k++) {
    lines.push(`tc filter add dev eth0 parent 1: protocol ip prio 1 handle ${k} fw classid 1:${(0x10 + k).toString(16)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** A batch of IPv4 packets with marks drawn uniformly from 1..CLASSES (fixed seed). */
function makeBatch(): PacketBatch {
  const b = new PacketBatch(4096, 0);
  let seed = 12345;
  for (let i = 0; i < b.capacity; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    b.resetSlot(i);
    b.l3[i] = 4;
    b.wireLen[i] = 1000;
    b.mark[i] = 1 + (seed % CLASSES);
  }
  b.count = b.capacity;
  return b;
}

/** Process CPU time in ns (user + system): steadier than wall time on a shared, loaded machine. */
function cpuNs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1e3;
}

/** [wall ns, CPU ns] per packet. */
function classifyNs(shaper: Shaper, batch: PacketBatch, rounds: number): [number, number] {
  const c0 = cpuNs();
  const t0 = performance.now();
  for (let r = 0; r < rounds; r++) for (let i = 0; i < batch.count; i++) shaper.classifyPacket(batch, i);
  const n = rounds * batch.count;
  return [((performance.now() - t0) * 1e6) / n, (cpuNs() - c0) / n];
}

/** classify + enqueue + dequeue through the whole shaper, 1 packet per 500 ns (16 Gbit/s of 1000 B) into a 10gbit link. */
function htbNs(shaper: Shaper, batch: PacketBatch, rounds: number, clock: { t: number }): [number, number] {
  const c0 = cpuNs();
  const t0 = performance.now();
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < batch.count; i++) {
      shaper.packet(batch, i, clock.t);
      clock.t += 500;
    }
  }
  const n = rounds * batch.count;
  return [((performance.now() - t0) * 1e6) / n, (cpuNs() - c0) / n];
}

const parseStart = performance.now();
const config = parseTcScript(script(), '24k.tc');
const parseMs = performance.now() - parseStart;
const link = getRate64('10gbit')!;
const s256 = new Shaper(config, { linkRate: link, htsize: 256 });
const s64k = new Shaper(config, { linkRate: link, htsize: 65536 });
const sHtb = new Shaper(config, { linkRate: link, htsize: 256 });
const batch = makeBatch();

// Warm-up (JIT), then interleaved samples.
classifyNs(s256, batch, 5);
classifyNs(s64k, batch, 5);
const clock = { t: 0 };
htbNs(sHtb, batch, 5, clock);
const c256: number[] = [];
const c64k: number[] = [];
const htb: number[] = [];
const c256cpu: number[] = [];
const c64kcpu: number[] = [];
const htbcpu: number[] = [];
for (let k = 0; k < SAMPLES; k++) {
  const a = classifyNs(s256, batch, 20);
  const b = classifyNs(s64k, batch, 20);
  const h = htbNs(sHtb, batch, 20, clock);
  c256.push(a[0]); c256cpu.push(a[1]);
  c64k.push(b[0]); c64kcpu.push(b[1]);
  htb.push(h[0]); htbcpu.push(h[1]);
}

const walked = (s: Shaper): number => s.walkTotal / s.classified;
const metrics: BenchMetric[] = [
  { name: 'shaper.classify.ns_per_packet', unit: 'ns', direction: 'lower', samples: c256, params: { classes: CLASSES, htsize: 256 } },
  { name: 'shaper.classify.ns_per_packet', unit: 'ns', direction: 'lower', samples: c64k, params: { classes: CLASSES, htsize: 65536 } },
  { name: 'shaper.htb.ns_per_packet', unit: 'ns', direction: 'lower', samples: htb, params: { leaves: CLASSES, htsize: 256, linkRate: '10gbit' } },
  { name: 'shaper.classify.cpu_ns_per_packet', unit: 'ns', direction: 'lower', samples: c256cpu, params: { classes: CLASSES, htsize: 256 } },
  { name: 'shaper.classify.cpu_ns_per_packet', unit: 'ns', direction: 'lower', samples: c64kcpu, params: { classes: CLASSES, htsize: 65536 } },
  { name: 'shaper.htb.cpu_ns_per_packet', unit: 'ns', direction: 'lower', samples: htbcpu, params: { leaves: CLASSES, htsize: 256, linkRate: '10gbit' } },
];
const extra = {
  classes: CLASSES,
  walkedMean: { htsize256: walked(s256), htsize65536: walked(s64k) },
  walkedMax: { htsize256: s256.walkMax, htsize65536: s64k.walkMax },
  ratioClassify256over65536: median(c256) / median(c64k),
  ratioClassify256over65536Cpu: median(c256cpu) / median(c64kcpu),
  htbPackets: sHtb.htb.qdiscPackets,
  htbDrops: sHtb.htb.qdiscDrops,
  parseMs,
};
const path = writeBenchResult('shaper-24k', metrics, extra);
const f = (x: number): string => x.toFixed(1);
process.stdout.write(`24,000 classes, fw marks uniform over them; ${SAMPLES} interleaved samples (medians)\n`);
process.stdout.write(`classify HTSIZE 256:   ${f(median(c256))} ns/packet wall, ${f(median(c256cpu))} CPU; ${f(walked(s256))} entries walked (max ${s256.walkMax})\n`);
process.stdout.write(`classify HTSIZE 65536: ${f(median(c64k))} ns/packet wall, ${f(median(c64kcpu))} CPU; ${f(walked(s64k))} entries walked (max ${s64k.walkMax})\n`);
process.stdout.write(`ratio 256 / 65536: ${extra.ratioClassify256over65536.toFixed(2)}x wall, ${extra.ratioClassify256over65536Cpu.toFixed(2)}x CPU\n`);
process.stdout.write(`HTB classify+enqueue+dequeue, 24k leaves: ${f(median(htb))} ns/packet wall, ${f(median(htbcpu))} CPU (${sHtb.htb.qdiscPackets} sent, ${sHtb.htb.qdiscDrops} dropped)\n`);
process.stdout.write(`tc script of ${CLASSES * 2 + 2} lines parsed in ${parseMs.toFixed(0)} ms\n`);
process.stdout.write(`results: ${path}\n`);

/**
 * Decode throughput of the trace reader, side by side with the npm package pcap-parser and a C
 * libpcap loop on the same file, in one run: `node dist/bench/trace-decode.js FILE [--samples N]
 * [--head BYTES]`. Every side counts packets and extracts the 5-tuple of every packet; the file
 * is read once before timing so that all read it from the page cache. Ours runs three times per
 * sample: with the default batch (`--head`, default DEFAULT_HEAD_BYTES = 64 bytes of each packet's
 * IP header kept, what every command gets), 5-tuples only (head 0), and the default batch with the
 * WebAssembly kernel off (`openTrace(..., { wasm: false })`: the JavaScript fast path), for the
 * kernel's gain in the same rounds. The C reference
 * (bench/c/pcap-decode.c: pcap_open_offline + pcap_next_ex) is compiled here with `cc -O2 ...
 * -lpcap` when a C compiler and libpcap's headers exist, else skipped with a line saying why; it
 * calibrates what a packet rate means on the machine at hand. A pcapng FILE is measured against
 * C libpcap alone (pcap-parser reads pcap only). Writes results/trace-decode.json.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { DEFAULT_HEAD_BYTES, PacketBatch, PacketFlag } from '../src/trace/batch.js';
import { openTrace } from '../src/trace/reader.js';
import { buildCReference, countOption, median, writeBenchResult, type BenchMetric } from './support.js';

interface PcapPacket {
  header: { capturedLength: number };
  data: Buffer;
}
interface PcapParser {
  on(event: 'packet', listener: (packet: PcapPacket) => void): PcapParser;
  on(event: 'end', listener: () => void): PcapParser;
  on(event: 'error', listener: (err: Error) => void): PcapParser;
  on(event: 'globalHeader', listener: (header: { linkLayerType: number }) => void): PcapParser;
}
const require = createRequire(import.meta.url);
const pcapParser = require('pcap-parser') as { parse(path: string): PcapParser };

interface Run {
  packets: number;
  checksum: number;
  /** Wall-clock seconds. */
  seconds: number;
  /** CPU seconds of the whole process (user + system) over the same span. */
  cpuSeconds: number;
}

function cpuSince(start: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(start);
  return (u.user + u.system) / 1e6;
}

/** Ours: stream the file through the reader; the decoder fills the 5-tuple slots. */
async function runOurs(file: string, headBytes: number, wasm = true): Promise<Run> {
  const batch = new PacketBatch(4096, headBytes);
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  const reader = await openTrace(file, { wasm });
  let packets = 0;
  let checksum = 0;
  // The batch's arrays in locals, as the C loop reads its struct: the consumer should cost what
  // C's does, so that the rate measures the reader.
  const { flags, src, dst, sport, dport, proto } = batch;
  while ((await reader.read(batch)) > 0) {
    const n = batch.count;
    for (let i = 0; i < n; i++) {
      if (flags[i]! & PacketFlag.PORTS) checksum = (checksum + src[i * 4]! + dst[i * 4]! + sport[i]! + dport[i]! + proto[i]!) >>> 0;
    }
    packets += n;
  }
  await reader.close();
  return { packets, checksum, seconds: Number(process.hrtime.bigint() - start) / 1e9, cpuSeconds: cpuSince(cpu) };
}

/** pcap-parser: count packets and extract the 5-tuple (Ethernet, IPv4/IPv6, TCP/UDP) in its callback. */
function runPcapParser(file: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const cpu = process.cpuUsage();
    const start = process.hrtime.bigint();
    let packets = 0;
    let checksum = 0;
    const parser = pcapParser.parse(file);
    parser.on('packet', (packet) => {
      packets++;
      const d = packet.data;
      if (d.length < 14) return;
      const type = d.readUInt16BE(12);
      let proto = 0;
      let l4 = 0;
      let src = 0;
      let dst = 0;
      if (type === 0x0800 && d.length >= 34) {
        proto = d[23]!;
        src = d.readUInt32BE(26);
        dst = d.readUInt32BE(30);
        l4 = 14 + (d[14]! & 0x0f) * 4;
      } else if (type === 0x86dd && d.length >= 54) {
        proto = d[20]!;
        src = d.readUInt32BE(22);
        dst = d.readUInt32BE(38);
        l4 = 54;
      } else {
        return;
      }
      if ((proto === 6 || proto === 17 || proto === 132) && d.length >= l4 + 4) {
        checksum = (checksum + src + dst + d.readUInt16BE(l4) + d.readUInt16BE(l4 + 2) + proto) >>> 0;
      }
    });
    parser.on('error', reject);
    parser.on('end', () => resolve({ packets, checksum, seconds: Number(process.hrtime.bigint() - start) / 1e9, cpuSeconds: cpuSince(cpu) }));
  });
}

/** One pass of the C reference over the file (its own timing of the pcap_next_ex loop). */
function runC(binary: string, file: string): Run {
  const out = spawnSync(binary, [file, '1'], { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`C reference failed (exit ${out.status}): ${out.stderr.trim()}`);
  const [packets, checksum, cpuSeconds, seconds] = out.stdout.trim().split(' ').map(Number);
  return { packets: packets!, checksum: checksum!, cpuSeconds: cpuSeconds!, seconds: seconds! };
}

async function main(): Promise<void> {
  const file = process.argv[2];
  if (!file || file.startsWith('--')) {
    process.stderr.write('usage: node dist/bench/trace-decode.js FILE.pcap|FILE.pcapng [--samples N] [--head BYTES]\n');
    process.exitCode = 2;
    return;
  }
  const samples = countOption('--samples', 5);
  // Bytes of each packet's IP header kept in the batch: the default batch keeps 64 (the pipeline
  // and every command use it); 0 is the 5-tuple-only floor, measured alongside.
  const headBytes = countOption('--head', DEFAULT_HEAD_BYTES, 0);
  const bytes = readFileSync(file); // also warms the page cache
  // pcap-parser reads pcap only: for a pcapng file it is left out (C libpcap reads both).
  const pcapng = bytes.length >= 4 && bytes.readUInt32LE(0) === 0x0a0d0d0a;
  const c = buildCReference('pcap-decode', ['-lpcap']);
  const oursHead: Run[] = [];
  const oursBare: Run[] = [];
  const oursJs: Run[] = [];
  const theirs: Run[] = [];
  const cRuns: Run[] = [];
  let checksumNoted = false;
  let packets = 0;
  // Interleave the three so that machine noise hits all alike; one warm-up round first.
  for (let s = -1; s < samples; s++) {
    const a = await runOurs(file, headBytes);
    const b = pcapng ? null : await runPcapParser(file);
    const bare = await runOurs(file, 0);
    const js = await runOurs(file, headBytes, false);
    const ref = 'binary' in c ? runC(c.binary, file) : null;
    if (bare.packets !== a.packets) throw new Error(`packet counts differ: ours ${a.packets} (head ${headBytes}) / ${bare.packets} (head 0)`);
    if (b !== null && a.packets !== b.packets) throw new Error(`packet counts differ: ours ${a.packets}, pcap-parser ${b.packets}`);
    if (js.packets !== a.packets || js.checksum !== a.checksum) throw new Error(`the JavaScript fast path read ${js.packets} packets (checksum ${js.checksum}), the WebAssembly kernel ${a.packets} (${a.checksum})`);
    if (a.checksum !== bare.checksum) throw new Error(`5-tuple checksums differ between head ${headBytes} and head 0: ${a.checksum} vs ${bare.checksum}`);
    if (ref !== null && ref.packets !== a.packets) throw new Error(`packet counts differ: ours ${a.packets}, C libpcap ${ref.packets}`);
    if (ref !== null && ref.checksum !== a.checksum && !checksumNoted) process.stderr.write(`note: 5-tuple checksums differ (ours ${a.checksum}, C libpcap ${ref.checksum}): the file has frames the C loop's simple extraction reads differently\n`);
    if (b !== null && a.checksum !== b.checksum && !checksumNoted) process.stderr.write(`note: 5-tuple checksums differ (ours ${a.checksum}, pcap-parser ${b.checksum}): the file has frames pcap-parser's simple extraction reads differently\n`);
    checksumNoted = true;
    packets = a.packets;
    if (s < 0) continue;
    oursHead.push(a);
    if (b !== null) theirs.push(b);
    oursBare.push(bare);
    oursJs.push(js);
    if (ref !== null) cRuns.push(ref);
  }
  if ('dir' in c) rmSync(c.dir, { recursive: true, force: true });
  const pps = (runs: Run[]): number[] => runs.map((r) => r.packets / r.seconds);
  const ppsCpu = (runs: Run[]): number[] => runs.map((r) => r.packets / r.cpuSeconds);
  const ratio = (a: number[], b: number[]): number[] => a.map((v, i) => v / b[i]!);
  const headWall = pps(oursHead), bareWall = pps(oursBare), theirWall = pps(theirs), jsWall = pps(oursJs);
  const headCpu = ppsCpu(oursHead), bareCpu = ppsCpu(oursBare), theirCpu = ppsCpu(theirs), jsCpu = ppsCpu(oursJs);
  const cWall = pps(cRuns), cCpu = ppsCpu(cRuns);
  const cMetrics: BenchMetric[] = cRuns.length === 0 ? [] : [
    { name: 'decode.pps', unit: 'packets/s', direction: 'higher', samples: cWall, params: { reader: 'c-libpcap' } },
    { name: 'decode.pps_cpu', unit: 'packets/cpu-s', direction: 'higher', samples: cCpu, params: { reader: 'c-libpcap' } },
    // Share of the C loop's rate that ours reaches (per CPU-second, same round).
    { name: 'decode.of_c', unit: 'x', direction: 'higher', samples: ratio(headCpu, cCpu), params: { versus: 'c-libpcap', headBytes } },
    { name: 'decode.of_c', unit: 'x', direction: 'higher', samples: ratio(bareCpu, cCpu), params: { versus: 'c-libpcap', headBytes: 0 } },
  ];
  const theirMetrics: BenchMetric[] = theirs.length === 0 ? [] : [
    { name: 'decode.pps', unit: 'packets/s', direction: 'higher', samples: theirWall, params: { reader: 'pcap-parser' } },
    { name: 'decode.ratio', unit: 'x', direction: 'higher', samples: ratio(headWall, theirWall), params: { versus: 'pcap-parser', headBytes } },
    { name: 'decode.ratio', unit: 'x', direction: 'higher', samples: ratio(bareWall, theirWall), params: { versus: 'pcap-parser', headBytes: 0 } },
    { name: 'decode.pps_cpu', unit: 'packets/cpu-s', direction: 'higher', samples: theirCpu, params: { reader: 'pcap-parser' } },
    { name: 'decode.ratio_cpu', unit: 'x', direction: 'higher', samples: ratio(headCpu, theirCpu), params: { versus: 'pcap-parser', headBytes } },
  ];
  const path = writeBenchResult('trace-decode', [
    { name: 'decode.pps', unit: 'packets/s', direction: 'higher', samples: headWall, params: { reader: 'pktbench', headBytes } },
    { name: 'decode.pps', unit: 'packets/s', direction: 'higher', samples: bareWall, params: { reader: 'pktbench', headBytes: 0 } },
    // Packets per CPU-second: what one thread does when it gets a whole core (the shared machine's
    // load inflates wall time for all sides).
    { name: 'decode.pps_cpu', unit: 'packets/cpu-s', direction: 'higher', samples: headCpu, params: { reader: 'pktbench', headBytes } },
    { name: 'decode.pps_cpu', unit: 'packets/cpu-s', direction: 'higher', samples: bareCpu, params: { reader: 'pktbench', headBytes: 0 } },
    // The JavaScript fast path (openTrace's `wasm: false`), and the WebAssembly kernel's gain over it.
    { name: 'decode.pps', unit: 'packets/s', direction: 'higher', samples: jsWall, params: { reader: 'pktbench-javascript', headBytes } },
    { name: 'decode.pps_cpu', unit: 'packets/cpu-s', direction: 'higher', samples: jsCpu, params: { reader: 'pktbench-javascript', headBytes } },
    { name: 'decode.wasm_gain', unit: 'x', direction: 'higher', samples: ratio(headCpu, jsCpu), params: { headBytes } },
    ...theirMetrics,
    ...cMetrics,
  ], { file, format: pcapng ? 'pcapng' : 'pcap', packets, cReference: 'binary' in c ? 'bench/c/pcap-decode.c (cc -O2, -lpcap)' : `skipped: ${c.skipped}` });
  const mpps = (v: number): string => (v / 1e6).toFixed(2);
  const ofC = (cpu: number[]): string => (cRuns.length === 0 ? '' : `, ${median(ratio(cpu, cCpu)).toFixed(2)}x of C libpcap`);
  const ofTheirs = (wall: number[], cpu: number[]): string => (theirs.length === 0 ? 'pcap-parser: no pcapng' : `${median(ratio(wall, theirWall)).toFixed(2)}x / ${median(ratio(cpu, theirCpu)).toFixed(2)}x pcap-parser`);
  const line = (label: string, wall: number[], cpu: number[]): string =>
    `  ${label.padEnd(36)} ${mpps(median(wall))} Mpps wall, ${mpps(median(cpu))} Mpps per CPU-second (${ofTheirs(wall, cpu)}${ofC(cpu)})\n`;
  process.stdout.write(`${file}: ${packets} packets, ${samples} samples (median; ratios are per-sample, same round)\n`);
  process.stdout.write(line(`pktbench, head ${headBytes} (default)`, headWall, headCpu));
  process.stdout.write(line('pktbench, head 0 (5-tuple)', bareWall, bareCpu));
  process.stdout.write(line(`pktbench, head ${headBytes}, JavaScript path`, jsWall, jsCpu));
  process.stdout.write(`  WebAssembly kernel vs JavaScript fast path, head ${headBytes}: ${median(ratio(headCpu, jsCpu)).toFixed(2)}x per CPU-second\n`);
  if (theirs.length > 0) process.stdout.write(line('pcap-parser + 5-tuple', theirWall, theirCpu));
  if (cRuns.length > 0) process.stdout.write(line('C libpcap + 5-tuple', cWall, cCpu));
  else if ('skipped' in c) process.stdout.write(`  C libpcap reference skipped: ${c.skipped}\n`);
  process.stdout.write(`results: ${path}\n`);
}

await main();

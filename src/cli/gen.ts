import { Option, InvalidArgumentError, type Command } from 'commander';
import { ExitCode, RunFailure, UsageError } from '../errors.js';
import { minimumPackets, PATTERNS, resolveGenerateOptions, TraceGenerator, type GenerateOptions, type Pattern, type ProtocolMix } from '../trace/generate.js';
import { TraceFileWriter, type TimePrecision, type TraceFormat } from '../trace/write.js';
import { parseCount, parsePositive } from './options.js';

/** `tcp=70,udp=25,icmp=5` (any subset; missing protocols get 0). */
export function parseMix(value: string): ProtocolMix {
  const mix: ProtocolMix = { tcp: 0, udp: 0, icmp: 0 };
  const seen = new Set<string>();
  for (const part of value.split(',')) {
    const m = /^\s*(tcp|udp|icmp)\s*=\s*(\d+(?:\.\d+)?)\s*$/i.exec(part);
    if (!m) throw new InvalidArgumentError(`expected tcp=N,udp=N,icmp=N, got "${part}"`);
    const key = m[1]!.toLowerCase() as keyof ProtocolMix;
    if (seen.has(key)) throw new InvalidArgumentError(`${key} given twice`);
    seen.add(key);
    mix[key] = Number(m[2]);
  }
  if (mix.tcp + mix.udp + mix.icmp <= 0) throw new InvalidArgumentError('the shares must not all be 0');
  return mix;
}

/** `N` or `MIN-MAX`. */
export function parseRange(value: string): [number, number] {
  const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(value);
  if (!m) throw new InvalidArgumentError(`expected N or MIN-MAX, got "${value}"`);
  const min = Number(m[1]);
  const max = m[2] === undefined ? min : Number(m[2]);
  if (min > max) throw new InvalidArgumentError(`minimum ${min} is above maximum ${max}`);
  return [min, max];
}

export function parseFraction(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError(`expected a fraction 0..1, got "${value}"`);
  return n;
}

export function parsePositiveReal(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`expected a positive number, got "${value}"`);
  return n;
}

interface GenFlags {
  output: string;
  seed: number;
  flows: number;
  packets: number;
  pps: number;
  mix: ProtocolMix;
  pattern: Pattern;
  zipfS: number;
  ipv6: number;
  format: TraceFormat;
  precision?: TimePrecision;
  snaplen: number;
  payloadBytes: [number, number];
  concurrent: number;
  start: number;
  clientNet?: string;
  serverNet?: string;
  clientNet6?: string;
  serverNet6?: string;
  json?: boolean;
}

export interface GenSummary {
  file: string;
  format: TraceFormat;
  precision: TimePrecision;
  pattern: Pattern;
  seed: number;
  packets: number;
  flows: number;
  bytes: number;
  firstTime: number;
  lastTime: number;
  seconds: number;
}

/** Generates and writes the trace; the file appears under its name only when complete. */
export async function runGen(flags: GenFlags): Promise<GenSummary> {
  const genOptions: GenerateOptions = {
    seed: flags.seed,
    flows: flags.flows,
    packets: flags.packets,
    pps: flags.pps,
    mix: flags.mix,
    pattern: flags.pattern,
    zipfS: flags.zipfS,
    ipv6: flags.ipv6,
    payloadMin: flags.payloadBytes[0],
    payloadMax: flags.payloadBytes[1],
    concurrent: flags.concurrent,
    snaplen: flags.snaplen,
    startSec: flags.start,
  };
  if (flags.clientNet !== undefined) genOptions.clientNet = flags.clientNet;
  if (flags.serverNet !== undefined) genOptions.serverNet = flags.serverNet;
  if (flags.clientNet6 !== undefined) genOptions.clientNet6 = flags.clientNet6;
  if (flags.serverNet6 !== undefined) genOptions.serverNet6 = flags.serverNet6;
  let generator: TraceGenerator;
  try {
    const resolved = resolveGenerateOptions(genOptions);
    const need = minimumPackets(resolved);
    if (resolved.packets < need) {
      throw new RangeError(`--packets ${resolved.packets} is too few for --flows ${resolved.flows}: complete lifecycles need at least ${need} (4 per flow with TCP in the mix, 2 otherwise)`);
    }
    const lastSec = resolved.startSec + Math.floor((resolved.packets - 1) / resolved.pps);
    if (flags.format === 'pcap' && lastSec >= 2 ** 32) throw new RangeError(`the trace would end at ${lastSec} s, past what pcap's 32-bit seconds hold; use --format pcapng or an earlier --start`);
    generator = new TraceGenerator(genOptions);
  } catch (err) {
    if (err instanceof RangeError) throw new UsageError(`gen: ${err.message}`);
    throw err;
  }
  let writer: TraceFileWriter;
  try {
    writer = new TraceFileWriter(flags.output, { format: flags.format, precision: flags.precision, interfaces: [{ linkType: generator.linkType, snaplen: flags.snaplen }] });
  } catch (err) {
    throw new UsageError(`gen: cannot write ${flags.output}: ${(err as Error).message}`);
  }
  // A Ctrl-C between chunks drops the temp file instead of leaving it behind.
  let interrupted = false;
  const onSignal = (): void => {
    interrupted = true;
  };
  // A progress line on a terminal only (never in pipes, logs or tests).
  const progress = process.stderr.isTTY === true;
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const enc = writer.encoder;
    const chunk = 65536;
    let firstSec = -1;
    let firstNsec = 0;
    for (;;) {
      let n = 0;
      for (; n < chunk; n++) {
        const at = enc.frameSlot(generator.maxFrameBytes);
        const len = generator.next(enc.buffer, at);
        if (len === 0) break;
        if (firstSec < 0) {
          firstSec = generator.tsSec;
          firstNsec = generator.tsNsec;
        }
        enc.commitFrame(generator.tsSec, generator.tsNsec, generator.caplen, len);
      }
      if (n < chunk) break;
      if (progress) process.stderr.write(`\rgen: ${enc.packetCount} of ${generator.options.packets} packets (${((100 * enc.packetCount) / generator.options.packets).toFixed(0)} %)`);
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (interrupted) throw new RunFailure(`gen: interrupted; ${flags.output} was not written`);
    }
    writer.close();
    const first = firstSec + firstNsec / 1e9;
    const last = generator.tsSec + generator.tsNsec / 1e9;
    // From the integer parts: epoch seconds as a double keep only about microseconds.
    const seconds = generator.tsSec - firstSec + (generator.tsNsec - firstNsec) / 1e9;
    return {
      file: flags.output,
      format: flags.format,
      precision: enc.options.precision,
      pattern: generator.options.pattern,
      seed: generator.options.seed,
      packets: enc.packetCount,
      flows: generator.flowCount,
      bytes: enc.byteCount,
      firstTime: first,
      lastTime: last,
      seconds,
    };
  } catch (err) {
    writer.abort();
    if (err instanceof RunFailure) throw err;
    throw new RunFailure(`gen: writing ${flags.output} failed: ${(err as Error).message}`);
  } finally {
    if (progress) process.stderr.write('\r\x1b[K');
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

/** Registers `pktbench gen`. */
export function register(program: Command): void {
  program
    .command('gen')
    .description('Write a synthetic, deterministic trace (Ethernet + IPv4/IPv6 + TCP/UDP/ICMP with correct checksums)')
    .requiredOption('-o, --output <file>', 'trace file to write (written to a temp file, renamed when complete)')
    .option('--seed <n>', 'PRNG seed: the same seed and flags give a byte-identical file', parseCount, 1)
    .option('--flows <n>', 'flows in the trace (uniform, zipf, elephant)', parsePositive, 1000)
    .option('--packets <n>', 'packets in the trace (exact; k and m suffixes are powers of 1024)', parsePositive, 100_000)
    .option('--pps <n>', 'packets per second of trace time; timestamps are spaced by 1/pps', parsePositive, 100_000)
    .addOption(new Option('--mix <shares>', 'protocol shares of the flows').argParser(parseMix).default({ tcp: 70, udp: 25, icmp: 5 }, 'tcp=70,udp=25,icmp=5'))
    .addOption(new Option('--pattern <name>', 'traffic pattern').choices(PATTERNS).default('uniform'))
    .option('--zipf-s <s>', 'Zipf exponent of flow popularity (pattern zipf)', parsePositiveReal, 1.1)
    .option('--ipv6 <fraction>', 'share of flows (synflood: of SYNs) that are IPv6', parseFraction, 0)
    .addOption(new Option('--format <format>', 'file format').choices(['pcap', 'pcapng']).default('pcap'))
    .addOption(new Option('--precision <unit>', 'timestamp resolution in the file (default: us for pcap, ns for pcapng)').choices(['us', 'ns']))
    .option('--snaplen <n>', 'bytes captured per frame (longer frames are cut, their wire length kept)', parsePositive, 262144)
    .addOption(new Option('--payload-bytes <range>', 'payload bytes of TCP data and UDP packets: N or MIN-MAX (at most 1440)').argParser(parseRange).default([64, 1400], '64-1400'))
    .option('--concurrent <n>', 'flows active at the same time, on average', parsePositive, 1000)
    .option('--start <seconds>', 'time of the first packet, seconds since the epoch', parseCount, 1_700_000_000)
    .option('--client-net <prefix>', 'IPv4 prefix of the clients', '10.0.0.0/16')
    .option('--server-net <prefix>', 'IPv4 prefix of the servers', '198.51.100.0/24')
    .option('--client-net6 <prefix>', 'IPv6 prefix of the clients', 'fd00::/64')
    .option('--server-net6 <prefix>', 'IPv6 prefix of the servers', '2001:db8::/64')
    .option('--json', 'print the summary as JSON')
    .action(async (flags: GenFlags) => {
      const s = await runGen(flags);
      if (flags.json) process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
      else {
        process.stdout.write(
          `wrote ${s.file}: ${s.format} (${s.precision}), pattern ${s.pattern}, seed ${s.seed}, ${s.packets} packets, ${s.flows} flows, ` +
            `${s.bytes} bytes, ${s.seconds.toFixed(6)} s of trace time\n`,
        );
      }
      process.exitCode = ExitCode.OK;
    });
}

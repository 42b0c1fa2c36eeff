import type { Command } from 'commander';
import { parseCount } from './options.js';
import { PacketBatch, PacketFlag } from '../trace/batch.js';
import { linkTypeName } from '../trace/decode.js';
import { FlowCounter } from '../trace/flows.js';
import { TUPLE_COLUMNS, formatEpoch, formatIPv4, formatIPv6, tupleFields } from '../trace/format.js';
import { openTrace } from '../trace/reader.js';
import type { TraceReader } from '../trace/source.js';

/** Columns printed as JSON numbers by `trace tuples --json`. */
const NUMERIC_COLUMNS = new Set(['frame', 'caplen', 'len', 'l3', 'proto', 'sport', 'dport', 'ip_frag']);

/** Writes to stdout, waiting when the pipe is full; stops quietly when the reader went away. */
async function write(text: string): Promise<void> {
  if (!process.stdout.write(text)) {
    await new Promise<void>((resolve) => {
      process.stdout.once('drain', resolve);
      process.stdout.once('error', () => resolve());
    });
  }
}

function printWarnings(reader: TraceReader): void {
  for (const w of reader.warnings) process.stderr.write(`pktbench: warning: ${w}\n`);
}

async function tuples(file: string, options: { json?: boolean }): Promise<void> {
  const reader = await openTrace(file);
  const batch = new PacketBatch(4096, 0);
  const fields: string[] = [];
  try {
    if (!options.json) await write(`${TUPLE_COLUMNS.join('\t')}\n`);
    else await write('[');
    let first = true;
    while ((await reader.read(batch)) > 0) {
      let out = '';
      for (let i = 0; i < batch.count; i++) {
        tupleFields(batch, i, fields);
        if (!options.json) {
          out += `${fields.join('\t')}\n`;
          continue;
        }
        const row: Record<string, string | number | null> = {};
        for (let c = 0; c < TUPLE_COLUMNS.length; c++) {
          const name = TUPLE_COLUMNS[c]!;
          const v = fields[c]!;
          row[name] = v === '-' ? null : NUMERIC_COLUMNS.has(name) ? Number(v) : v;
        }
        out += `${first ? '\n' : ',\n'}${JSON.stringify(row)}`;
        first = false;
      }
      await write(out);
    }
    if (options.json) await write(first ? ']\n' : '\n]\n');
  } finally {
    await reader.close();
    printWarnings(reader);
  }
}

function formatTime(sec: number, nsec: number): string {
  const iso = new Date(sec * 1000).toISOString();
  return `${iso.slice(0, 19)}.${String(nsec).padStart(9, '0')}Z`;
}

function flowText(f: { l3: number; proto: number; src: readonly number[]; dst: readonly number[]; sport: number; dport: number }): { src: string; dst: string } {
  const addr = (w: readonly number[]): string => (f.l3 === 4 ? formatIPv4(w[0]!) : formatIPv6(w[0]!, w[1]!, w[2]!, w[3]!));
  return { src: addr(f.src), dst: addr(f.dst) };
}

async function info(file: string, options: { json?: boolean; top: number }): Promise<void> {
  const reader = await openTrace(file);
  const batch = new PacketBatch(4096, 0);
  const flows = new FlowCounter();
  let packets = 0;
  let capturedBytes = 0;
  let wireBytes = 0;
  let notDecoded = 0;
  let withIp = 0;
  let firstSec = Infinity, firstNsec = 0, lastSec = -Infinity, lastNsec = 0;
  try {
    while ((await reader.read(batch)) > 0) {
      for (let i = 0; i < batch.count; i++) {
        packets++;
        capturedBytes += batch.caplen[i]!;
        wireBytes += batch.wireLen[i]!;
        const sec = batch.tsSec[i]!;
        const nsec = batch.tsNsec[i]!;
        if (sec < firstSec || (sec === firstSec && nsec < firstNsec)) { firstSec = sec; firstNsec = nsec; }
        if (sec > lastSec || (sec === lastSec && nsec > lastNsec)) { lastSec = sec; lastNsec = nsec; }
        const flags = batch.flags[i]!;
        if (flags & PacketFlag.LINK_NOT_DECODED) notDecoded++;
        if (flags & PacketFlag.IP) withIp++;
        flows.add(batch, i);
      }
    }
  } finally {
    await reader.close();
  }
  const traceInfo = reader.info;
  const duration = packets > 0 ? lastSec - firstSec + (lastNsec - firstNsec) / 1e9 : 0;
  const pps = duration > 0 ? packets / duration : null;
  const bitRate = duration > 0 ? (capturedBytes * 8) / duration : null;
  const top = flows.top(options.top).map((f) => ({ ...flowText(f), l3: f.l3, proto: f.proto, sport: f.hasPorts ? f.sport : null, dport: f.hasPorts ? f.dport : null, packets: f.packets, bytes: f.bytes }));
  const linkTypes = [...new Set(traceInfo.linkTypes)].map((t) => ({ linkType: t, name: linkTypeName(t) }));
  if (options.json) {
    await write(`${JSON.stringify({
      file, format: traceInfo.format, compressed: traceInfo.compressed, interfaces: traceInfo.linkTypes.length, linkTypes,
      packets, capturedBytes, wireBytes, packetsWithIp: withIp, linkNotDecoded: notDecoded,
      first: packets ? formatEpoch(firstSec, firstNsec) : null, last: packets ? formatEpoch(lastSec, lastNsec) : null,
      durationSeconds: duration, averagePps: pps, averageBitRate: bitRate, flows: flows.size, topFlows: top,
      warnings: reader.warnings,
    }, null, 2)}\n`);
    printWarnings(reader);
    return;
  }
  const rows: [string, string][] = [
    ['File', file],
    ['Format', `${traceInfo.format}${traceInfo.compressed ? ' (gzip-compressed)' : ''}`],
    ['Link types', linkTypes.map((l) => `${l.linkType} (${l.name})`).join(', ') || '-'],
    ['Interfaces', String(traceInfo.linkTypes.length)],
    ['Packets', String(packets)],
    ['Captured bytes', String(capturedBytes)],
    ['Wire bytes', String(wireBytes)],
    ['Packets with IP', String(withIp)],
    ['Link not decoded', String(notDecoded)],
    ['First packet', packets ? `${formatTime(firstSec, firstNsec)} (${formatEpoch(firstSec, firstNsec)})` : '-'],
    ['Last packet', packets ? `${formatTime(lastSec, lastNsec)} (${formatEpoch(lastSec, lastNsec)})` : '-'],
    ['Duration', `${duration.toFixed(6)} s`],
    ['Average rate', pps === null ? '-' : `${pps.toFixed(2)} packets/s`],
    ['Average bit rate', bitRate === null ? '-' : `${bitRate.toFixed(0)} bit/s (captured bytes)`],
    ['Flows seen', `${flows.size} (unidirectional 5-tuples of IP packets)`],
  ];
  let out = rows.map(([k, v]) => `${`${k}:`.padEnd(18)}${v}\n`).join('');
  out += `Top ${top.length} flows by packets:\n`;
  if (top.length > 0) {
    out += `  ${'packets'.padStart(10)} ${'bytes'.padStart(12)}  proto  flow\n`;
    for (const f of top) {
      const ports = f.sport !== null;
      const a = ports ? (f.l3 === 6 ? `[${f.src}]:${f.sport}` : `${f.src}:${f.sport}`) : f.src;
      const b = ports ? (f.l3 === 6 ? `[${f.dst}]:${f.dport}` : `${f.dst}:${f.dport}`) : f.dst;
      out += `  ${String(f.packets).padStart(10)} ${String(f.bytes).padStart(12)}  ${String(f.proto).padStart(5)}  ${a} -> ${b}\n`;
    }
  }
  await write(out);
  printWarnings(reader);
}

/** Registers this file's subcommands. */
export function register(program: Command): void {
  const trace = program.command('trace').description('read pcap/pcapng traces (optionally gzip-compressed)');
  trace
    .command('tuples')
    .description('print one line per frame: the 14 columns of the tshark truth (frame, caplen, len, ts_epoch, linktype, l3, src, dst, proto, sport, dport, tcp_flags, vlan_ids, ip_frag)')
    .argument('<file>', 'pcap, pcapng or .gz of either (detected by magic)')
    .option('--json', 'a JSON array of objects (numbers as numbers, - as null) instead of TSV')
    .action(async (file: string, opts: { json?: boolean }) => tuples(file, opts));
  trace
    .command('info')
    .description('capinfos-like summary: format, link types, packets, bytes, first/last time, duration, rates, flows, top flows')
    .argument('<file>', 'pcap, pcapng or .gz of either (detected by magic)')
    .option('--json', 'print the summary as JSON')
    .option('--top <n>', 'how many flows to list', parseCount, 10)
    .action(async (file: string, opts: { json?: boolean; top: number }) => info(file, opts));
}

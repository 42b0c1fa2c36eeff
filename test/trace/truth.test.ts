import { readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PacketBatch } from '../../src/trace/batch.js';
import { hasShared, sharedDir } from '../support/shared.js';
import { readFileSync } from 'node:fs';
import { openTrace } from '../../src/trace/reader.js';
import { rows, streamRows } from './helpers.js';
import { compareWithTruth, type CellDiff } from './truth-compare.js';

/**
 * Frames where pktbench differs from tshark on purpose: (file, frame, column) and why. Every
 * other cell of the 830-file corpus must match.
 */
interface Exception {
  file: string;
  frame: number;
  column: string;
  reason: string;
}

function sunAtm(file: string): Exception[] {
  const reason = 'SunATM: tshark subtracts the 4-byte pseudo-header from the record lengths';
  return [{ file, frame: 1, column: 'caplen', reason }, { file, frame: 1, column: 'len', reason }];
}

function invalidTs(file: string, frame: number): Exception {
  return { file, frame, column: 'ts_epoch', reason: 'sub-second field out of range; tshark prints it unnormalised' };
}

const EXCEPTIONS: readonly Exception[] = [
  // SunATM (LINKTYPE 123): Wireshark strips the 4-byte pseudo-header from caplen and len; we
  // report the record header as it is (the link type is not decoded).
  ...sunAtm('atm-heapoverflow.pcap'),
  ...sunAtm('atm-oam-heapoverflow.pcap'),
  ...sunAtm('atm-oam-loopback-print-overrun.pcap'),
  // Sub-second field out of range (truth README "Invalid timestamps"): tshark prints odd values;
  // we carry whole seconds over into the seconds field.
  invalidTs('atm-oam-loopback-print-overrun.pcap', 1),
  invalidTs('rx_serviceid_oobr.pcap', 2),
  invalidTs('timestamp_invalid_micro.pcap', 2),
  invalidTs('timestamp_invalid_micro.pcap', 3),
  invalidTs('timestamp_invalid_nano.pcap', 2),
  invalidTs('timestamp_invalid_nano.pcap', 3),
];

const corpus = resolve(sharedDir, 'fixtures/pcap');

describe.skipIf(!hasShared)('decoder against the tshark truth of the whole corpus', () => {
  it('matches all 14 columns on every frame of every file, except the listed ones', () => {
    const files = readdirSync(resolve(corpus, 'tcpdump')).filter((f) => /\.pcap(ng)?$/.test(f)).sort();
    expect(files.length).toBe(830);
    const batch = new PacketBatch(256);
    const diffs: CellDiff[] = [];
    for (const file of files) diffs.push(...compareWithTruth(corpus, file, batch));
    const key = (d: { file: string; frame: number; column: string }): string => `${d.file}#${d.frame}#${d.column}`;
    const allowed = new Set(EXCEPTIONS.map(key));
    const unexpected = diffs.filter((d) => !allowed.has(key(d)));
    if (process.env.TRUTH_DUMP) console.log(unexpected.map((d) => `${d.file}\t${d.frame}\t${d.column}\tours=${d.ours}\ttruth=${d.truth}`).join('\n'));
    expect(unexpected.slice(0, 20)).toEqual([]);
    // Every listed exception still happens (the list holds no stale entries).
    const seen = new Set(diffs.map(key));
    expect(EXCEPTIONS.filter((e) => !seen.has(key(e)))).toEqual([]);
  });

  it('the streaming reader (64 KiB window) gives the same rows as the in-memory one on every file', async () => {
    const files = readdirSync(resolve(corpus, 'tcpdump')).filter((f) => /\.pcap(ng)?$/.test(f)).sort();
    const differing: string[] = [];
    for (const file of files) {
      const path = resolve(corpus, 'tcpdump', file);
      const memory = rows(new Uint8Array(readFileSync(path)), 64).rows.map((r) => r.tsv);
      const streamed = await streamRows(await openTrace(path, { chunkBytes: 65536 }), 64);
      if (JSON.stringify(memory) !== JSON.stringify(streamed)) differing.push(file);
    }
    expect(differing).toEqual([]);
  });
});

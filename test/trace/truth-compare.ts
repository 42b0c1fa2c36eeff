/**
 * Compares the decoder with the corpus truth (../shared/fixtures/pcap/truth/*.tsv): used by
 * truth.test.ts. Returns one line per differing cell.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { PacketBatch } from '../../src/trace/batch.js';
import { isDecodedLinkType } from '../../src/trace/decode.js';
import { TUPLE_COLUMNS, tupleFields } from '../../src/trace/format.js';
import { readTraceBytes } from '../../src/trace/reader.js';

export interface CellDiff {
  file: string;
  frame: number;
  column: string;
  ours: string;
  truth: string;
}

/** Record columns, always compared; the rest only for decoded link types. */
const RECORD_COLUMNS = new Set(['frame', 'caplen', 'len', 'ts_epoch', 'linktype']);

export function compareWithTruth(corpusDir: string, file: string, batch: PacketBatch): CellDiff[] {
  const bytes = readFileSync(resolve(corpusDir, 'tcpdump', file));
  const truthText = readFileSync(resolve(corpusDir, 'truth', `${file}.tsv`), 'utf8');
  const truthRows = truthText.split('\n').filter((l) => l.length > 0).slice(1).map((l) => l.split('\t'));
  const ours: { row: string[]; decoded: boolean }[] = [];
  const scratch: string[] = [];
  readTraceBytes(bytes, batch, (b) => {
    for (let i = 0; i < b.count; i++) ours.push({ row: [...tupleFields(b, i, scratch)], decoded: isDecodedLinkType(b.linkType[i]!) });
  }, file);
  const diffs: CellDiff[] = [];
  // Files tshark cannot read have no truth rows; we still must read them without error.
  if (truthRows.length === 0) return diffs;
  if (truthRows.length !== ours.length) {
    diffs.push({ file, frame: 0, column: 'rows', ours: String(ours.length), truth: String(truthRows.length) });
  }
  const n = Math.min(truthRows.length, ours.length);
  for (let f = 0; f < n; f++) {
    const t = truthRows[f]!;
    const o = ours[f]!;
    for (let c = 0; c < TUPLE_COLUMNS.length; c++) {
      const column = TUPLE_COLUMNS[c]!;
      const truth = t[c] ?? '';
      const mine = o.row[c]!;
      // Other link types: record columns compared, ours must be '-' elsewhere.
      const expected = RECORD_COLUMNS.has(column) || o.decoded ? truth : '-';
      if (mine !== expected) diffs.push({ file, frame: f + 1, column, ours: mine, truth: expected });
    }
  }
  return diffs;
}

import { PacketBatch } from '../../src/trace/batch.js';
import { tupleFields } from '../../src/trace/format.js';
import { readTraceBytes, type TraceBytesResult } from '../../src/trace/reader.js';
import type { TraceReader } from '../../src/trace/source.js';

export interface Row {
  tsv: string;
  ifIndex: number;
  linkType: number;
}

/** Decodes an in-memory trace to truth-format lines (tab-separated 14 columns). */
export function rows(bytes: Uint8Array, capacity = 7): { rows: Row[]; result: TraceBytesResult } {
  const batch = new PacketBatch(capacity);
  const out: Row[] = [];
  const scratch: string[] = [];
  const result = readTraceBytes(bytes, batch, (b) => {
    for (let i = 0; i < b.count; i++) out.push({ tsv: tupleFields(b, i, scratch).join('\t'), ifIndex: b.ifIndex[i]!, linkType: b.linkType[i]! });
  }, 'test.pcap');
  return { rows: out, result };
}

export async function streamRows(reader: TraceReader, capacity = 7): Promise<string[]> {
  const batch = new PacketBatch(capacity);
  const out: string[] = [];
  const scratch: string[] = [];
  while ((await reader.read(batch)) > 0) for (let i = 0; i < batch.count; i++) out.push(tupleFields(batch, i, scratch).join('\t'));
  await reader.close();
  return out;
}

/** Captures the error a function throws (or undefined). */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

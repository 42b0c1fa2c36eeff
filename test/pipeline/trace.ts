import { readTraceBytes } from '../../src/trace/reader.js';
import { PacketBatch } from '../../src/trace/batch.js';
import { TraceGenerator, type GenerateOptions } from '../../src/trace/generate.js';
import { MemoryTraceWriter, writeFrames, type TraceFormat } from '../../src/trace/write.js';

/** A generated trace as file bytes (pcap or pcapng). */
export function generatedTrace(options: GenerateOptions, format: TraceFormat = 'pcap'): Uint8Array {
  const gen = new TraceGenerator(options);
  const w = new MemoryTraceWriter({ format, interfaces: [{ linkType: gen.linkType, snaplen: 262144 }] });
  writeFrames(gen, w.encoder);
  return w.bytes();
}

/** The trace decoded into independent batches (copies: the reader reuses its batch). */
export function batchesOf(bytes: Uint8Array, capacity = 1024): PacketBatch[] {
  const out: PacketBatch[] = [];
  readTraceBytes(bytes, new PacketBatch(capacity), (b) => {
    out.push(PacketBatch.fromBuffer(b.buffer.slice(0)));
  });
  return out;
}

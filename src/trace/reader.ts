import { RunFailure } from '../errors.js';
import type { TraceReader } from './source.js';

export interface OpenTraceOptions {
  /** Bytes read from the file per system call (the reader's only buffer besides the batch). */
  chunkBytes?: number;
}

/** Opens a pcap, pcapng or gzip-compressed trace for streaming (format detected by magic). */
export async function openTrace(path: string, _options: OpenTraceOptions = {}): Promise<TraceReader> {
  throw new RunFailure(`${path}: the trace reader is not built yet`);
}

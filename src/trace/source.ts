import type { PacketBatch } from './batch.js';

/** What a trace file says about itself (the reader fills it while reading). */
export interface TraceInfo {
  readonly path: string;
  readonly format: 'pcap' | 'pcapng';
  /** gzip-compressed on disk. */
  readonly compressed: boolean;
  /** LINKTYPE per interface index (pcap: one entry). */
  readonly linkTypes: readonly number[];
}

/**
 * A streaming trace reader: constant memory whatever the file size. `read` fills the batch from
 * slot 0 (record fields, decoded fields, model slots reset) and returns how many packets it put
 * there, 0 at the end of the trace. Problems that do not stop reading (a truncated last record)
 * go into `warnings`; problems that do are thrown as InputError naming the byte offset.
 */
export interface TraceReader {
  readonly info: TraceInfo;
  readonly warnings: readonly string[];
  read(batch: PacketBatch): Promise<number>;
  close(): Promise<void>;
}

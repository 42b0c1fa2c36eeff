/**
 * Trace readers: `openTrace` streams a file (pcap, pcapng, either gzip-compressed, detected by
 * magic) through one fixed window; `readTraceBytes` walks an in-memory trace synchronously.
 * Both use TraceParser (parser.ts), which decodes records straight into PacketBatch slots.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { createReadStream } from 'node:fs';
import { createGunzip, gunzipSync } from 'node:zlib';
import { InputError, UsageError } from '../errors.js';
import type { PacketBatch } from './batch.js';
import { ParseStatus, TraceParser } from './parser.js';
import type { TraceInfo, TraceReader } from './source.js';

export interface OpenTraceOptions {
  /** Bytes read from the file per system call (the reader's only buffer besides the batch). */
  chunkBytes?: number;
  /**
   * pcap records and pcapng packet blocks of the common shapes through the WebAssembly kernel
   * (default true, where the host has one); false keeps them on the JavaScript fast path (for
   * comparisons).
   */
  wasm?: boolean;
}

export const DEFAULT_CHUNK_BYTES = 1 << 20;
const MIN_CHUNK_BYTES = 64 * 1024;

function isGzip(head: Uint8Array, n: number): boolean {
  return n >= 2 && head[0] === 0x1f && head[1] === 0x8b;
}

/** Where the window's bytes come from. */
interface ByteSource {
  /** Reads up to `length` bytes into `into` at `offset`; 0 at the end. */
  read(into: Uint8Array, offset: number, length: number): number | Promise<number>;
  close(): void;
}

class FileSource implements ByteSource {
  constructor(private readonly fd: number) {}
  read(into: Uint8Array, offset: number, length: number): number {
    return readSync(this.fd, into, offset, length, null);
  }
  close(): void {
    closeSync(this.fd);
  }
}

/** gunzip as a stream: the decompressor's own chunks are copied into the window as they come. */
class GzipSource implements ByteSource {
  private readonly iterator: AsyncIterator<Buffer>;
  private pending: Buffer | null = null;
  private pendingAt = 0;
  private readonly stream: ReturnType<typeof createReadStream>;
  private ended = false;
  private produced = 0;

  constructor(path: string, private readonly name: string, private readonly warnings: string[]) {
    this.stream = createReadStream(path, { highWaterMark: 256 * 1024 });
    const gunzip = createGunzip({ chunkSize: 256 * 1024 });
    this.iterator = this.stream.pipe(gunzip)[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }

  async read(into: Uint8Array, offset: number, length: number): Promise<number> {
    let n = 0;
    if (this.ended) return 0;
    while (n < length) {
      if (this.pending === null || this.pendingAt >= this.pending.length) {
        let next: IteratorResult<Buffer>;
        try {
          next = await this.iterator.next();
        } catch (e) {
          // A cut or corrupt gzip stream ends the input: the packets before it still count.
          const detail = e instanceof Error ? e.message : String(e);
          this.warnings.push(`${this.name}: gzip data is corrupt or cut short after ${this.produced + n} decompressed byte(s) (${detail})`);
          this.ended = true;
          break;
        }
        if (next.done) break;
        this.pending = next.value;
        this.pendingAt = 0;
      }
      const take = Math.min(length - n, this.pending.length - this.pendingAt);
      into.set(this.pending.subarray(this.pendingAt, this.pendingAt + take), offset + n);
      this.pendingAt += take;
      n += take;
    }
    this.produced += n;
    return n;
  }

  close(): void {
    this.stream.destroy();
  }
}

class StreamingTraceReader implements TraceReader {
  readonly warnings: string[];
  private closed = false;
  /** An error met after some packets of a batch: raised by the next read. */
  private failure: unknown = null;
  private readonly traceInfo: { path: string; format: 'pcap' | 'pcapng'; compressed: boolean; linkTypes: number[] };

  constructor(path: string, private readonly parser: TraceParser, private readonly source: ByteSource, compressed: boolean) {
    this.warnings = parser.warnings;
    this.traceInfo = { path, format: 'pcap', compressed, linkTypes: parser.linkTypes };
  }

  /** The format seen from the magic before parsing starts. */
  formatHint: 'pcap' | 'pcapng' = 'pcap';

  get info(): TraceInfo {
    this.traceInfo.format = this.parser.format ?? this.formatHint;
    return this.traceInfo;
  }

  async read(batch: PacketBatch): Promise<number> {
    if (this.failure !== null) {
      const failure = this.failure;
      this.failure = null;
      throw failure;
    }
    batch.count = 0;
    const parser = this.parser;
    try {
      while (true) {
        const status = parser.parse(batch);
        if (status !== ParseStatus.NEED_MORE) return batch.count;
        if (batch.count === batch.capacity) return batch.count;
        const at = parser.compact();
        const n = await this.source.read(parser.window, at, parser.window.length - at);
        if (n === 0) parser.eof = true;
        else parser.end += n;
      }
    } catch (e) {
      // Bad input mid-batch: hand over the packets decoded before it, raise the error on the
      // next read, so that no caller loses what came before the bad record.
      if (batch.count === 0) throw e;
      this.failure = e;
      return batch.count;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.source.close();
  }
}

function errorCode(e: unknown): string {
  return typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : '';
}

/** Opens a pcap, pcapng or gzip-compressed trace for streaming (format detected by magic). */
export async function openTrace(path: string, options: OpenTraceOptions = {}): Promise<TraceReader> {
  const chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  if (!Number.isInteger(chunkBytes) || chunkBytes < MIN_CHUNK_BYTES) throw new UsageError(`chunk size must be at least ${MIN_CHUNK_BYTES} bytes, got ${chunkBytes}`);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    const code = errorCode(e);
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'permission denied' : (e instanceof Error ? e.message : String(e));
    throw new InputError(path, why);
  }
  const parser = new TraceParser(path, chunkBytes);
  parser.wasmPath = options.wasm ?? true;
  let n: number;
  try {
    n = readSync(fd, parser.window, 0, parser.window.length, null);
  } catch (e) {
    closeSync(fd);
    throw new InputError(path, errorCode(e) === 'EISDIR' ? 'is a directory' : `cannot read: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (isGzip(parser.window, n)) {
    closeSync(fd);
    return new StreamingTraceReader(path, parser, new GzipSource(path, path, parser.warnings), true);
  }
  parser.end = n;
  if (n === 0) parser.eof = true;
  const reader = new StreamingTraceReader(path, parser, new FileSource(fd), false);
  // Know the format before the first read (a gzip stream is known after it).
  if (n >= 4 && parser.window[0] === 0x0a && parser.window[1] === 0x0d && parser.window[2] === 0x0d && parser.window[3] === 0x0a) reader.formatHint = 'pcapng';
  return reader;
}

export interface TraceBytesResult {
  readonly format: 'pcap' | 'pcapng';
  readonly compressed: boolean;
  readonly linkTypes: readonly number[];
  readonly packets: number;
  readonly warnings: readonly string[];
}

/**
 * Decodes a whole in-memory trace (pcap, pcapng, or gzip of either) synchronously, calling
 * `onBatch` each time the batch is full and once at the end with the rest. The batch is reused.
 * Throws InputError (named `name`, with the byte offset) on a fatal format error.
 */
export function readTraceBytes(bytes: Uint8Array, batch: PacketBatch, onBatch: (batch: PacketBatch) => void, name = '<memory>'): TraceBytesResult {
  let input = bytes;
  let compressed = false;
  if (isGzip(bytes, bytes.length)) {
    compressed = true;
    try {
      input = gunzipSync(bytes);
    } catch (e) {
      throw new InputError(name, `gzip data is corrupt or cut short (${e instanceof Error ? e.message : String(e)})`);
    }
  }
  // The window is the input itself: no copy, and every record fits.
  const parser = new TraceParser(name, input);
  batch.count = 0;
  while (true) {
    let status: number;
    try {
      status = parser.parse(batch);
    } catch (e) {
      // The packets before the bad record first, then the error (as the streaming reader does).
      if (batch.count > 0) onBatch(batch);
      batch.count = 0;
      throw e;
    }
    if (status === ParseStatus.BATCH_FULL) {
      onBatch(batch);
      batch.count = 0;
      continue;
    }
    if (batch.count > 0) onBatch(batch);
    batch.count = 0;
    break;
  }
  return { format: parser.format ?? 'pcap', compressed, linkTypes: parser.linkTypes, packets: parser.packets, warnings: parser.warnings };
}

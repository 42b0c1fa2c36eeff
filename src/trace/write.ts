/**
 * pcap and pcapng writers.
 *
 * `TraceEncoder` lays records into one reused buffer and hands each full buffer to a sink that
 * must consume it before returning (the buffer is overwritten afterwards). On top of it:
 * - `TraceFileWriter` streams to `<path>.tmp-<pid>-<n>` with synchronous writes and renames the
 *   temp file onto `path` at `close()`, so a crash or `abort()` never leaves a half-written trace
 *   under the final name;
 * - `MemoryTraceWriter` collects the bytes in memory (tests, small fixtures).
 *
 * Formats written (little-endian, the host order of every machine we run on):
 * - pcap: magic 0xa1b2c3d4 (microseconds) or 0xa1b23c4d (nanoseconds), version 2.4;
 * - pcapng: one Section Header Block, one Interface Description Block per interface (with
 *   `if_tsresol` = 9 for nanoseconds, none for the default microseconds), Enhanced Packet Blocks.
 */
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';

export type TraceFormat = 'pcap' | 'pcapng';
export type TimePrecision = 'us' | 'ns';

export const LINKTYPE_ETHERNET = 1;
export const DEFAULT_SNAPLEN = 262144;

export interface TraceInterface {
  linkType: number;
  snaplen?: number;
  /** pcapng `if_name`. */
  name?: string;
}

export interface TraceWriterOptions {
  format?: TraceFormat;
  /** Timestamp resolution stored in the file (default us for pcap, ns for pcapng). */
  precision?: TimePrecision;
  /** pcap: the file's single interface; pcapng: one IDB each, in order (default one Ethernet). */
  interfaces?: readonly TraceInterface[];
  /** pcapng `shb_userappl`. */
  application?: string;
  /** Size of the reused output buffer (default 1 MiB, at least one maximal record). */
  bufferBytes?: number;
}

export interface ResolvedInterface {
  readonly linkType: number;
  readonly snaplen: number;
  readonly name?: string;
}

export interface ResolvedWriterOptions {
  readonly format: TraceFormat;
  readonly precision: TimePrecision;
  readonly interfaces: readonly ResolvedInterface[];
}

const PCAP_MAGIC_US = 0xa1b2c3d4;
const PCAP_MAGIC_NS = 0xa1b23c4d;
const PCAP_RECORD_HEADER = 16;
const PCAPNG_SHB = 0x0a0d0d0a;
const PCAPNG_IDB = 0x00000001;
const PCAPNG_EPB = 0x00000006;
const PCAPNG_BYTE_ORDER_MAGIC = 0x1a2b3c4d;
/** EPB without packet data: type, length, interface, ts high, ts low, caplen, origlen, length. */
const PCAPNG_EPB_OVERHEAD = 32;
const TWO_32 = 4294967296;

function pad4(n: number): number {
  return (n + 3) & ~3;
}

/**
 * Splits sec * 10^9 + nsec (or sec * 10^6 + usec) into two 32-bit halves without BigInt and
 * without losing precision past 2^53 (epoch nanoseconds need about 61 bits).
 */
function splitTimestamp(sec: number, frac: number, unitsPerSec: number, out: Uint32Array): void {
  const secLo = sec % 65536;
  const secHi = (sec - secLo) / 65536;
  const p1 = secLo * unitsPerSec + frac; // < 2^16 * 10^9 + 10^9: exact
  const p2 = secHi * unitsPerSec; // exact while sec < 2^34
  const r = p2 % 65536;
  const q = (p2 - r) / 65536;
  const s = r * 65536 + p1; // exact
  const sLo = s % TWO_32;
  out[0] = q + (s - sLo) / TWO_32;
  out[1] = sLo;
}

export function resolveWriterOptions(options: TraceWriterOptions = {}): ResolvedWriterOptions {
  const format = options.format ?? 'pcap';
  if (format !== 'pcap' && format !== 'pcapng') throw new RangeError(`unknown trace format ${String(format)}`);
  const precision = options.precision ?? (format === 'pcapng' ? 'ns' : 'us');
  if (precision !== 'us' && precision !== 'ns') throw new RangeError(`unknown time precision ${String(precision)}`);
  const interfaces: ResolvedInterface[] = (options.interfaces ?? [{ linkType: LINKTYPE_ETHERNET }]).map((i) => ({ ...i, snaplen: i.snaplen ?? DEFAULT_SNAPLEN }));
  if (interfaces.length === 0) throw new RangeError('a trace needs at least one interface');
  if (format === 'pcap' && interfaces.length > 1) throw new RangeError('pcap holds one interface; use pcapng for several');
  for (const i of interfaces) {
    if (!Number.isInteger(i.linkType) || i.linkType < 0 || i.linkType > 0xffff) throw new RangeError(`link type must be 0..65535, got ${i.linkType}`);
    if (!Number.isInteger(i.snaplen) || i.snaplen < 1 || i.snaplen > 0x7fffffff) throw new RangeError(`snaplen must be 1..2^31-1, got ${i.snaplen}`);
  }
  return { format, precision, interfaces };
}

export type ChunkSink = (chunk: Uint8Array) => void;

/** Encodes records into one reused buffer; see the file comment. */
export class TraceEncoder {
  readonly options: ResolvedWriterOptions;
  private readonly buf: Uint8Array;
  private readonly view: DataView;
  private readonly snaplens: Uint32Array;
  private readonly tsParts = new Uint32Array(2);
  private pos = 0;
  private packets = 0;
  private bytes = 0;

  constructor(options: TraceWriterOptions, private readonly sink: ChunkSink) {
    this.options = resolveWriterOptions(options);
    this.snaplens = Uint32Array.from(this.options.interfaces, (i) => i.snaplen);
    const maxRecord = PCAPNG_EPB_OVERHEAD + pad4(Math.max(...this.snaplens));
    const size = Math.max(options.bufferBytes ?? 1 << 20, maxRecord, 4096);
    this.buf = new Uint8Array(size);
    this.view = new DataView(this.buf.buffer);
    this.writeFileHeader();
  }

  /** Packets written so far. */
  get packetCount(): number {
    return this.packets;
  }

  /** Bytes of file produced so far (flushed or not). */
  get byteCount(): number {
    return this.bytes + this.pos;
  }

  /**
   * Appends one record. `caplen` bytes are taken from `data` at `offset` (cut to the interface's
   * snaplen); `wireLen` is the frame's length on the wire. `tsNsec` is nanoseconds within the
   * second (rounded down to microseconds in a microsecond file).
   */
  writePacket(tsSec: number, tsNsec: number, data: Uint8Array, offset: number, caplen: number, wireLen: number, ifIndex = 0): void {
    if (caplen > data.length - offset || caplen < 0) throw new RangeError(`caplen ${caplen} runs past the ${data.length - offset} bytes given`);
    const snaplen = this.snaplens[ifIndex];
    if (snaplen === undefined) throw new RangeError(`interface ${ifIndex} does not exist (the trace has ${this.snaplens.length})`);
    const cap = Math.min(caplen, snaplen);
    const at = this.frameSlot(cap, ifIndex);
    // A whole-array source needs no view; a view (one small object) only when slicing.
    if (offset === 0 && cap === data.length) this.buf.set(data, at);
    else this.buf.set(data.subarray(offset, offset + cap), at);
    this.commitFrame(tsSec, tsNsec, caplen, wireLen, ifIndex);
  }

  /**
   * Zero-copy path: makes room for a record whose frame is at most `maxFrameBytes` long and
   * returns the offset in `buffer` where the frame's bytes go. Write the frame there, then call
   * `commitFrame`. Bytes past the record's caplen are ignored (the next record overwrites them).
   */
  frameSlot(maxFrameBytes: number, ifIndex = 0): number {
    const snaplen = this.snaplens[ifIndex];
    if (snaplen === undefined) throw new RangeError(`interface ${ifIndex} does not exist (the trace has ${this.snaplens.length})`);
    const header = this.options.format === 'pcap' ? PCAP_RECORD_HEADER : PCAPNG_EPB_OVERHEAD - 4;
    if (this.pos + header + pad4(maxFrameBytes) + 4 > this.buf.length) {
      this.flush();
      if (header + pad4(maxFrameBytes) + 4 > this.buf.length) throw new RangeError(`a ${maxFrameBytes}-byte frame does not fit the ${this.buf.length}-byte buffer`);
    }
    return this.pos + header;
  }

  /** The reused output buffer (for `frameSlot`). */
  get buffer(): Uint8Array {
    return this.buf;
  }

  /**
   * Writes the record header for the frame placed at the last `frameSlot` offset. `caplen` is
   * cut to the interface's snaplen; `tsNsec` is nanoseconds within the second (rounded down to
   * microseconds in a microsecond file).
   */
  commitFrame(tsSec: number, tsNsec: number, caplen: number, wireLen: number, ifIndex = 0): void {
    const snaplen = this.snaplens[ifIndex];
    if (snaplen === undefined) throw new RangeError(`interface ${ifIndex} does not exist (the trace has ${this.snaplens.length})`);
    if (!(tsSec >= 0 && tsSec < 2 ** 34 && tsNsec >= 0 && tsNsec < 1e9)) throw new RangeError(`timestamp ${tsSec}.${tsNsec} out of range`);
    const cap = caplen < snaplen ? caplen : snaplen;
    const wire = wireLen > cap ? wireLen : cap;
    const sec = Math.floor(tsSec);
    const frac = this.options.precision === 'ns' ? Math.floor(tsNsec) : Math.floor(tsNsec / 1000);
    const v = this.view;
    const p = this.pos;
    if (this.options.format === 'pcap') {
      if (sec >= TWO_32) throw new RangeError(`timestamp ${sec} s is past what pcap's 32-bit seconds hold (2106-02-07); use pcapng`);
      v.setUint32(p, sec, true);
      v.setUint32(p + 4, frac, true);
      v.setUint32(p + 8, cap, true);
      v.setUint32(p + 12, wire, true);
      this.pos = p + PCAP_RECORD_HEADER + cap;
    } else {
      const total = PCAPNG_EPB_OVERHEAD + pad4(cap);
      splitTimestamp(sec, frac, this.options.precision === 'ns' ? 1e9 : 1e6, this.tsParts);
      v.setUint32(p, PCAPNG_EPB, true);
      v.setUint32(p + 4, total, true);
      v.setUint32(p + 8, ifIndex, true);
      v.setUint32(p + 12, this.tsParts[0]!, true);
      v.setUint32(p + 16, this.tsParts[1]!, true);
      v.setUint32(p + 20, cap, true);
      v.setUint32(p + 24, wire, true);
      this.buf.fill(0, p + 28 + cap, p + 28 + pad4(cap));
      v.setUint32(p + total - 4, total, true);
      this.pos = p + total;
    }
    this.packets++;
  }

  /** Hands the buffered bytes to the sink. */
  flush(): void {
    if (this.pos === 0) return;
    this.sink(this.buf.subarray(0, this.pos));
    this.bytes += this.pos;
    this.pos = 0;
  }

  private writeFileHeader(): void {
    const v = this.view;
    const o = this.options;
    if (o.format === 'pcap') {
      v.setUint32(0, o.precision === 'ns' ? PCAP_MAGIC_NS : PCAP_MAGIC_US, true);
      v.setUint16(4, 2, true);
      v.setUint16(6, 4, true);
      v.setInt32(8, 0, true); // thiszone
      v.setUint32(12, 0, true); // sigfigs
      v.setUint32(16, o.interfaces[0]!.snaplen, true);
      v.setUint32(20, o.interfaces[0]!.linkType, true);
      this.pos = 24;
      return;
    }
    const enc = new TextEncoder();
    // Section Header Block with shb_userappl (code 4).
    const app = enc.encode('pktbench');
    const shbLen = 28 + 4 + pad4(app.length) + 4;
    let p = 0;
    v.setUint32(p, PCAPNG_SHB, true);
    v.setUint32(p + 4, shbLen, true);
    v.setUint32(p + 8, PCAPNG_BYTE_ORDER_MAGIC, true);
    v.setUint16(p + 12, 1, true);
    v.setUint16(p + 14, 0, true);
    v.setInt32(p + 16, -1, true); // section length unknown (0xffffffffffffffff)
    v.setInt32(p + 20, -1, true);
    p = this.option(p + 24, 4, app);
    v.setUint32(p, 0, true); // opt_endofopt
    v.setUint32(p + 4, shbLen, true);
    p += 8;
    for (const itf of o.interfaces) {
      const name = itf.name === undefined ? undefined : enc.encode(itf.name);
      const optBytes = (name ? 4 + pad4(name.length) : 0) + (o.precision === 'ns' ? 8 : 0);
      const len = 20 + (optBytes > 0 ? optBytes + 4 : 0);
      const start = p;
      v.setUint32(p, PCAPNG_IDB, true);
      v.setUint32(p + 4, len, true);
      v.setUint16(p + 8, itf.linkType, true);
      v.setUint16(p + 10, 0, true);
      v.setUint32(p + 12, itf.snaplen, true);
      p += 16;
      if (name) p = this.option(p, 2, name); // if_name
      if (o.precision === 'ns') p = this.option(p, 9, Uint8Array.of(9)); // if_tsresol: 10^-9
      if (optBytes > 0) {
        v.setUint32(p, 0, true);
        p += 4;
      }
      v.setUint32(p, len, true);
      p += 4;
      if (p - start !== len) throw new Error('IDB length mismatch');
    }
    this.pos = p;
  }

  private option(p: number, code: number, value: Uint8Array): number {
    this.view.setUint16(p, code, true);
    this.view.setUint16(p + 2, value.length, true);
    this.buf.set(value, p + 4);
    this.buf.fill(0, p + 4 + value.length, p + 4 + pad4(value.length));
    return p + 4 + pad4(value.length);
  }
}

/** Collects a whole trace in memory. */
export class MemoryTraceWriter {
  private readonly chunks: Uint8Array[] = [];
  readonly encoder: TraceEncoder;

  constructor(options: TraceWriterOptions = {}) {
    this.encoder = new TraceEncoder(options, (chunk) => this.chunks.push(chunk.slice()));
  }

  writePacket(tsSec: number, tsNsec: number, data: Uint8Array, offset: number, caplen: number, wireLen: number, ifIndex = 0): void {
    this.encoder.writePacket(tsSec, tsNsec, data, offset, caplen, wireLen, ifIndex);
  }

  /** The file's bytes so far (flushes). */
  bytes(): Uint8Array {
    this.encoder.flush();
    const out = new Uint8Array(this.chunks.reduce((n, c) => n + c.length, 0));
    let p = 0;
    for (const c of this.chunks) {
      out.set(c, p);
      p += c.length;
    }
    return out;
  }
}

let tempCounter = 0;

/**
 * Streams a trace to disk through a temp file beside `path`, renamed onto it at `close()`.
 * Throws the file system's error (ENOENT, EACCES, ENOSPC...) as is; callers name the file.
 */
export class TraceFileWriter {
  readonly encoder: TraceEncoder;
  readonly tempPath: string;
  private fd: number;
  private done = false;

  constructor(readonly path: string, options: TraceWriterOptions = {}) {
    this.tempPath = `${path}.tmp-${process.pid}-${tempCounter++}`;
    this.fd = openSync(this.tempPath, 'wx', 0o644);
    try {
      this.encoder = new TraceEncoder(options, (chunk) => {
        let off = 0;
        while (off < chunk.length) off += writeSync(this.fd, chunk, off, chunk.length - off);
      });
    } catch (err) {
      this.abort();
      throw err;
    }
  }

  writePacket(tsSec: number, tsNsec: number, data: Uint8Array, offset: number, caplen: number, wireLen: number, ifIndex = 0): void {
    this.encoder.writePacket(tsSec, tsNsec, data, offset, caplen, wireLen, ifIndex);
  }

  /** Flushes, syncs and renames the temp file onto `path`. */
  close(): void {
    if (this.done) return;
    try {
      this.encoder.flush();
      fsyncSync(this.fd);
      closeSync(this.fd);
      this.fd = -1;
      renameSync(this.tempPath, this.path);
      this.done = true;
    } catch (err) {
      this.abort();
      throw err;
    }
  }

  /** Drops the temp file; `path` is left as it was. */
  abort(): void {
    if (this.done) return;
    this.done = true;
    if (this.fd >= 0) {
      try {
        closeSync(this.fd);
      } catch {
        // already closed
      }
      this.fd = -1;
    }
    try {
      unlinkSync(this.tempPath);
    } catch {
      // never created or already gone
    }
  }
}

/** Anything that writes frames one at a time into a caller's buffer (the generator does). */
export interface FrameSource {
  readonly maxFrameBytes: number;
  readonly tsSec: number;
  readonly tsNsec: number;
  readonly caplen: number;
  /** Writes the next frame at out[offset..] and returns its length, 0 at the end. */
  next(out: Uint8Array, offset: number): number;
}

/**
 * Moves every frame of `source` into `encoder` without copying: each frame is built straight in
 * the encoder's buffer. `onProgress` is called every `progressEvery` packets. Returns the count.
 */
export function writeFrames(source: FrameSource, encoder: TraceEncoder, onProgress?: (packets: number) => void, progressEvery = 65536): number {
  let n = 0;
  for (;;) {
    const at = encoder.frameSlot(source.maxFrameBytes);
    const len = source.next(encoder.buffer, at);
    if (len === 0) break;
    encoder.commitFrame(source.tsSec, source.tsNsec, source.caplen, len);
    n++;
    if (onProgress && n % progressEvery === 0) onProgress(n);
  }
  return n;
}

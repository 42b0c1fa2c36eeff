/**
 * Classic-pcap reading and appending for the lab's kernel side and live capture. The lab's kernel
 * side needs each frame's raw bytes (the agents inject them whole), which the project's reader
 * (src/trace/reader.ts) does not expose — it decodes into a PacketBatch — so whole-file reading
 * stays here; the model side reads with the project's reader. Whole traces are written with the
 * project's writer; PcapWriter appends record by record so that a capture cut short stays readable.
 */
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { InputError } from '../errors.js';
import { TraceFileWriter } from '../trace/write.js';

export const LINKTYPE_ETHERNET = 1;
export const LINKTYPE_RAW = 101;
export const LINKTYPE_IPV4 = 228;
export const LINKTYPE_IPV6 = 229;

export interface PcapRecord {
  /** 1-based position in the file. */
  readonly frameNo: number;
  readonly tsSec: number;
  readonly tsNsec: number;
  readonly wireLen: number;
  readonly data: Uint8Array;
}

export interface PcapFile {
  readonly linkType: number;
  readonly snaplen: number;
  readonly records: PcapRecord[];
}

/** Reads a classic pcap (either byte order, micro- or nanosecond stamps) whole. */
export function readPcap(path: string): PcapFile {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (err) {
    throw new InputError(path, `cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  return parsePcap(buf, path);
}

export function parsePcap(buf: Uint8Array, path: string): PcapFile {
  if (buf.length < 24) throw new InputError(`${path}: byte 0`, `too short for a pcap header (${buf.length} bytes)`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const magicBe = view.getUint32(0, false);
  let little: boolean;
  let nano: boolean;
  if (magicBe === 0xa1b2c3d4 || magicBe === 0xa1b23c4d) {
    little = false;
    nano = magicBe === 0xa1b23c4d;
  } else if (magicBe === 0xd4c3b2a1 || magicBe === 0x4d3cb2a1) {
    little = true;
    nano = magicBe === 0x4d3cb2a1;
  } else if (magicBe === 0x0a0d0d0a) {
    throw new InputError(`${path}: byte 0`, 'pcapng is not supported by the lab until the trace reader lands; convert with `tcpdump -r IN -w OUT`');
  } else {
    throw new InputError(`${path}: byte 0`, `not a pcap file (magic 0x${magicBe.toString(16).padStart(8, '0')})`);
  }
  const snaplen = view.getUint32(16, little);
  const linkType = view.getUint32(20, little) & 0x0fffffff;
  const records: PcapRecord[] = [];
  let off = 24;
  while (off < buf.length) {
    if (off + 16 > buf.length) throw new InputError(`${path}: byte ${off}`, `truncated record header (${buf.length - off} of 16 bytes)`);
    const tsSec = view.getUint32(off, little);
    const frac = view.getUint32(off + 4, little);
    const capLen = view.getUint32(off + 8, little);
    const wireLen = view.getUint32(off + 12, little);
    if (capLen > 262144) throw new InputError(`${path}: byte ${off + 8}`, `record length ${capLen} is implausible`);
    if (off + 16 + capLen > buf.length) throw new InputError(`${path}: byte ${off}`, `truncated record: ${capLen} bytes announced, ${buf.length - off - 16} present`);
    records.push({
      frameNo: records.length + 1,
      tsSec,
      tsNsec: nano ? frac : frac * 1000,
      wireLen,
      data: buf.subarray(off + 16, off + 16 + capLen),
    });
    off += 16 + capLen;
  }
  return { linkType, snaplen, records };
}

/** Appends records to a nanosecond pcap as they come (so a capture cut short stays readable). */
export class PcapWriter {
  private readonly fd: number;
  private readonly header = new Uint8Array(16);
  private readonly headerView = new DataView(this.header.buffer);
  count = 0;

  constructor(readonly path: string, readonly linkType: number, readonly snaplen = 262144) {
    this.fd = openSync(path, 'w');
    const fileHeader = new Uint8Array(24);
    const v = new DataView(fileHeader.buffer);
    v.setUint32(0, 0xa1b23c4d, true);
    v.setUint16(4, 2, true);
    v.setUint16(6, 4, true);
    v.setUint32(16, snaplen, true);
    v.setUint32(20, linkType, true);
    writeSync(this.fd, fileHeader);
  }

  /** Writes the first min(length, snaplen) bytes of `data`; `wireLen` is the frame's real length. */
  write(data: Uint8Array, length: number, wireLen: number, tsSec: number, tsNsec: number): void {
    const capLen = Math.min(length, this.snaplen);
    this.headerView.setUint32(0, tsSec, true);
    this.headerView.setUint32(4, tsNsec, true);
    this.headerView.setUint32(8, capLen, true);
    this.headerView.setUint32(12, wireLen, true);
    writeSync(this.fd, this.header);
    writeSync(this.fd, data, 0, capLen);
    this.count++;
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** Writes whole records to a new nanosecond pcap with the project's trace writer (src/trace/write.ts). */
export function writePcap(path: string, linkType: number, records: readonly { data: Uint8Array; tsSec: number; tsNsec: number }[]): void {
  const w = new TraceFileWriter(path, { format: 'pcap', precision: 'ns', interfaces: [{ linkType }] });
  try {
    for (const r of records) w.writePacket(r.tsSec, r.tsNsec, r.data, 0, r.data.length, r.data.length);
    w.close();
  } catch (err) {
    w.abort();
    throw err;
  }
}

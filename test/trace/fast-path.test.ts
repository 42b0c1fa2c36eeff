/**
 * Differential test of the pcap fast path (parser.ts parsePcapFast) against the general decoder
 * (resetSlot + decodeFrame for every record, forced with TraceParser.fastPath = false): every
 * field of every filled slot, head bytes and VLAN entries included, must be equal, on the corpus
 * and on generated traces built to sit on both sides of each fast-path condition.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { PacketBatch } from '../../src/trace/batch.js';
import { TraceGenerator } from '../../src/trace/generate.js';
import { ParseStatus, TraceParser } from '../../src/trace/parser.js';
import { PcapKernel } from '../../src/trace/pcap-kernel.js';
import { openTrace } from '../../src/trace/reader.js';
import { MemoryTraceWriter, writeFrames } from '../../src/trace/write.js';
import { hasShared, sharedDir } from '../support/shared.js';
import { block, epb, idb, obsoletePb, pcapFile, shb, type PcapRecord } from './build.js';

/** Every per-packet array of a batch (fields with several entries per packet included), by name. */
function slotArrays(batch: PacketBatch): [string, ArrayLike<number>, number][] {
  const out: [string, ArrayLike<number>, number][] = [];
  for (const [name, value] of Object.entries(batch)) {
    // meta and the whole-buffer views (all64..all8) start at byte 0; every field lies after them.
    if (!ArrayBuffer.isView(value) || (value.buffer === batch.buffer && value.byteOffset === 0)) continue;
    const array = value as unknown as ArrayLike<number>;
    out.push([name, array, array.length / batch.capacity]);
  }
  return out;
}

/**
 * Every field of slot i as one string: of the head bytes the first headLen, of the VLAN ids the
 * first vlanCount (what lies past them is unspecified: left as it was, or zeros).
 */
function slotText(arrays: [string, ArrayLike<number>, number][], i: number): string {
  let s = '';
  const headLen = arrays.find(([name]) => name === 'headLen')![1][i]!;
  const vlanCount = arrays.find(([name]) => name === 'vlanCount')![1][i]!;
  for (const [name, array, per] of arrays) {
    s += `${name}=`;
    const used = name === 'head' ? Math.min(headLen, per) : name === 'vlan' ? Math.min(vlanCount, per) : per;
    for (let k = 0; k < used; k++) s += `${array[i * per + k]},`;
    s += ' ';
  }
  return s;
}

/**
 * How a trace is decoded: the general decoder alone (in memory), the JavaScript fast path (in
 * memory), or streamed through a window of `window` bytes with the WebAssembly kernel on.
 */
type DecodePath = 'general' | 'fast' | { window: number; wasm?: boolean };

/**
 * Decodes a whole pcap/pcapng along `path`; returns one string per packet holding every field of
 * its slot, or the error thrown, and how many records the fast path (JavaScript or WebAssembly) took.
 */
function decodeAll(bytes: Uint8Array, path: DecodePath, capacity: number, headBytes: number): { slots: string[]; error: string; fastRecords: number; wasmRecords: number } {
  const batch = new PacketBatch(capacity, headBytes);
  // Start from garbage: whatever a path leaves unwritten shows up as a difference.
  new Uint8Array(batch.buffer).fill(0x5a);
  batch.count = 0;
  const streamed = typeof path === 'object';
  const parser = streamed ? new TraceParser('diff.pcap', path.window) : new TraceParser('diff.pcap', bytes);
  parser.fastPath = path !== 'general';
  if (typeof path === 'object') parser.wasmPath = path.wasm ?? true;
  let fed = 0;
  const arrays = slotArrays(batch);
  const slots: string[] = [];
  const take = (): void => {
    for (let i = 0; i < batch.count; i++) slots.push(slotText(arrays, i));
    batch.count = 0;
  };
  let error = '';
  try {
    for (;;) {
      const status = parser.parse(batch);
      if (status === ParseStatus.NEED_MORE && streamed && !parser.eof && batch.count < batch.capacity) {
        // What the streaming reader does: move the unread bytes to the front, refill behind them.
        const at = parser.compact();
        const n = Math.min(bytes.length - fed, parser.window.length - at);
        parser.window.set(bytes.subarray(fed, fed + n), at);
        fed += n;
        parser.end += n;
        if (n === 0) parser.eof = true;
        continue;
      }
      take();
      if (status === ParseStatus.END || (status === ParseStatus.NEED_MORE && !streamed)) break;
    }
  } catch (e) {
    take();
    error = e instanceof Error ? e.message : String(e);
  }
  return { slots, error, fastRecords: path === 'general' ? 0 : parser.packets - parser.generalRecords, wasmRecords: parser.wasmRecords };
}

function expectEqual(path: DecodePath, bytes: Uint8Array, capacity: number, headBytes: number, general: ReturnType<typeof decodeAll>): ReturnType<typeof decodeAll> {
  const got = decodeAll(bytes, path, capacity, headBytes);
  expect(got.error).toBe(general.error);
  expect(got.slots.length).toBe(general.slots.length);
  const first = got.slots.findIndex((s, i) => s !== general.slots[i]);
  if (first >= 0) expect({ path, packet: first + 1, fields: got.slots[first] }).toEqual({ path, packet: first + 1, fields: general.slots[first] });
  return got;
}

/** Records the WebAssembly kernel took over the expectSame calls (pcap only; none without a kernel). */
let wasmRecords = 0;

/**
 * Both fast paths against the general decoder: the JavaScript one in memory, and the WebAssembly
 * kernel streamed through a window of `window` bytes (records cut at its edge; it must hold the
 * largest record). Returns the records the JavaScript fast path took.
 */
function expectSame(bytes: Uint8Array, capacity: number, headBytes: number, window = 2048): number {
  const general = decodeAll(bytes, 'general', capacity, headBytes);
  const fast = expectEqual('fast', bytes, capacity, headBytes, general).fastRecords;
  const kernel = expectEqual({ window }, bytes, capacity, headBytes, general);
  expect(kernel.fastRecords).toBe(fast);
  wasmRecords += kernel.wasmRecords;
  return fast;
}

// ---- Generated frames: each header either well formed or bent at one fast-path condition. ----

const byte = fc.integer({ min: 0, max: 255 });

/** Mostly `usual` (the fast path's case), sometimes anything `other` gives. */
function mostly<T>(usual: T, other: fc.Arbitrary<T>): fc.Arbitrary<T> {
  return fc.oneof({ arbitrary: fc.constant(usual), weight: 6 }, { arbitrary: other, weight: 1 });
}

/** Transport header bytes: usually a whole TCP header or more, sometimes shorter. */
const transport = fc.oneof(
  { arbitrary: fc.uint8Array({ minLength: 20, maxLength: 40 }), weight: 3 },
  { arbitrary: fc.uint8Array({ minLength: 0, maxLength: 19 }), weight: 1 },
  { arbitrary: fc.uint8Array({ minLength: 0, maxLength: 8 }), weight: 1 },
);

/** ICMP/ICMPv6 types with an identifier (echo, timestamp) and without. */
const ICMP_TYPES = [0, 8, 13, 14, 128, 129, 3, 11, 135];

/** Makes a random transport header plausible: a valid TCP data offset, an ICMP type of interest. */
function shapeTransport(proto: number, l4: number[], pick: number): number[] {
  if (proto === 6 && l4.length > 12 && l4[12]! < 0x50 && pick % 4 !== 0) l4[12] = 0x50 | (l4[12]! & 0x0f);
  if ((proto === 1 || proto === 58) && l4.length > 0 && pick % 4 !== 0) l4[0] = ICMP_TYPES[pick % ICMP_TYPES.length]!;
  return l4;
}

const ipv4 = fc.record({
  ihlWords: mostly(5, fc.integer({ min: 0, max: 15 })),
  version: mostly(4, fc.integer({ min: 0, max: 15 })),
  lengthDelta: mostly(0, fc.integer({ min: -70, max: 70 })),
  zeroLength: mostly(false, fc.boolean()),
  fragHigh: mostly(0x40, fc.oneof(fc.constant(0), byte)),
  fragLow: mostly(0, byte),
  proto: fc.oneof(fc.constantFrom(6, 17, 1, 132, 136, 58, 47, 50), byte),
  fields: fc.uint8Array({ minLength: 60, maxLength: 60 }),
  l4: transport,
}).map((h) => {
  const ihl = h.ihlWords * 4;
  const header = Array.from(h.fields.subarray(0, Math.max(20, ihl)));
  header[0] = (h.version << 4) | h.ihlWords;
  header[6] = h.fragHigh;
  header[7] = h.fragLow;
  header[9] = h.proto;
  const l4 = shapeTransport(h.proto, Array.from(h.l4), h.fields[59]!);
  const total = h.zeroLength ? 0 : Math.max(0, header.length + l4.length + h.lengthDelta) & 0xffff;
  header[2] = total >>> 8;
  header[3] = total & 0xff;
  return [...header, ...l4];
});

const ipv6 = fc.record({
  version: mostly(6, fc.integer({ min: 0, max: 15 })),
  next: fc.oneof({ arbitrary: fc.constantFrom(6, 17, 58, 1, 132, 59), weight: 4 }, { arbitrary: fc.constantFrom(0, 43, 44, 60), weight: 1 }, { arbitrary: byte, weight: 1 }),
  lengthDelta: mostly(0, fc.integer({ min: -40, max: 40 })),
  zeroLength: mostly(false, fc.boolean()),
  fields: fc.uint8Array({ minLength: 40, maxLength: 40 }),
  l4: transport,
}).map((h) => {
  const header = Array.from(h.fields);
  header[0] = (h.version << 4) | (header[0]! & 0x0f);
  header[6] = h.next;
  const l4 = shapeTransport(h.next, Array.from(h.l4), h.fields[39]!);
  const payload = h.zeroLength ? 0 : Math.max(0, l4.length + h.lengthDelta) & 0xffff;
  header[4] = payload >>> 8;
  header[5] = payload & 0xff;
  return [...header, ...l4];
});

interface VlanTag {
  tpid: number;
  tci: number;
}

const ETHER_TYPES = [0x0800, 0x86dd, 0x8100, 0x88a8, 0x9100, 0x0806, 0x8864, 0x8847, 0x05dc];

/** An Ethernet frame: zero to two VLAN tags (random inner types), then IPv4/IPv6 or other bytes. */
const ethernet = fc.record({
  macs: fc.uint8Array({ minLength: 12, maxLength: 12 }),
  tags: fc.oneof(
    { arbitrary: fc.constant<VlanTag[]>([]), weight: 2 },
    { arbitrary: fc.array(fc.record<VlanTag>({ tpid: fc.constantFrom(0x8100, 0x88a8, 0x9100), tci: fc.integer({ min: 0, max: 0xffff }) }), { minLength: 1, maxLength: 2 }), weight: 1 },
  ),
  ip: fc.oneof(
    { arbitrary: ipv4.map((d) => ({ type: 0x0800, d })), weight: 3 },
    { arbitrary: ipv6.map((d) => ({ type: 0x86dd, d })), weight: 2 },
    { arbitrary: fc.record({ type: fc.constantFrom(...ETHER_TYPES), d: fc.uint8Array({ maxLength: 60 }).map((a) => Array.from(a)) }), weight: 1 },
  ),
  swapType: mostly(false, fc.boolean()),
}).map((e) => {
  // The IP header's EtherType, or sometimes the other IP version's, so version checks are hit.
  const ipType = e.swapType ? (e.ip.type === 0x0800 ? 0x86dd : e.ip.type === 0x86dd ? 0x0800 : e.ip.type) : e.ip.type;
  // macs, TPID of the first tag (or the IP type), then per tag: TCI and the next type.
  const types = [...e.tags.map((t) => t.tpid), ipType];
  const out = [...e.macs, types[0]! >>> 8, types[0]! & 0xff];
  e.tags.forEach((t, k) => out.push(t.tci >>> 8, t.tci & 0xff, types[k + 1]! >>> 8, types[k + 1]! & 0xff));
  return [...out, ...e.ip.d];
});

const raw = fc.oneof({ arbitrary: ipv4, weight: 3 }, { arbitrary: ipv6, weight: 2 }, { arbitrary: fc.uint8Array({ maxLength: 30 }).map((a) => Array.from(a)), weight: 1 });

/** A pcap of one link type whose records are cut at random points (caplen < frame) now and then. */
const trace = fc.constantFrom(1, 1, 1, 101, 12, 14, 228, 229).chain((linkType) =>
  fc.record({
    linkType: fc.constant(linkType),
    bigEndian: fc.boolean(),
    nano: fc.boolean(),
    kuznetzov: fc.boolean(),
    frames: fc.array(fc.record({ frame: linkType === 1 ? ethernet : raw, cut: fc.option(fc.nat(), { freq: 4, nil: undefined }) }), { minLength: 1, maxLength: 24 }),
    capacity: fc.integer({ min: 1, max: 9 }),
    headBytes: fc.constantFrom(64, 0, 1, 20, 40, 63, 255),
  }),
);

describe('fast path equals the general decoder (pcap records, pcapng packet blocks)', () => {
  it('on generated Ethernet and raw-IP traces: every field of every slot, head bytes included', () => {
    let fastRecords = 0;
    let records = 0;
    fc.assert(fc.property(trace, (t) => {
      const recs: PcapRecord[] = t.frames.map(({ frame, cut }, i) => {
        const data = cut === undefined ? frame : frame.slice(0, cut % (frame.length + 1));
        return { sec: 1_700_000_000 + i, sub: i * 1000, data, wireLen: frame.length };
      });
      records += recs.length;
      fastRecords += expectSame(pcapFile({ linkType: t.linkType, bigEndian: t.bigEndian, nano: t.nano && !t.kuznetzov, kuznetzov: t.kuznetzov }, recs), t.capacity, t.headBytes);
      // The same frames as pcapng: interface 0 of another fast link type (no packets: a decoder
      // must use each block's own interface), two of the trace's link type and one the fast path
      // does not take (Linux SLL); enhanced packet blocks on them, now and then a simple or
      // obsolete packet block, a statistics block and a second section (all through the general
      // handler).
      const be = t.bigEndian;
      const other = t.linkType === 1 ? 101 : 1;
      // Interfaces 4 and 5: binary (2^-10 s) and millisecond units, with offsets either way.
      const section = (): number[] => [...shb(be), ...idb(other, { be }), ...idb(t.linkType, { be }), ...idb(t.linkType, { be, tsresol: 9 }), ...idb(113, { be }),
        ...idb(t.linkType, { be, tsresol: 0x8a, tsoffset: 86400 }), ...idb(t.linkType, { be, tsresol: 3, tsoffset: -3600 })];
      const blocks = section();
      recs.forEach((r, i) => {
        if (i === 7) blocks.push(...section());
        if (i % 9 === 5) blocks.push(...block(5, [0, 0, 0, 0, 0, 0, 0, 0], be));
        blocks.push(...(i % 13 === 6 ? epb(3, 0, r.sec, r.data, be, r.wireLen) : i % 11 === 3 ? obsoletePb(1 + (i & 1), 0, r.sec, r.data, be) : epb([1, 2, 4, 5][i % 4]!, 0, r.sec * 1000 + i, r.data, be, r.wireLen)));
      });
      fastRecords += expectSame(Uint8Array.from(blocks), t.capacity, t.headBytes);
      records += recs.length;
    }), { numRuns: 600, seed: 20261122 });
    // The generator reaches the fast path often (about a fifth of the records), and the fallback too.
    expect(fastRecords).toBeGreaterThan(records / 6);
    expect(fastRecords).toBeLessThan(records * 0.9);
    // The WebAssembly kernel took most of the fast path's share, pcap and pcapng.
    if (PcapKernel.available) expect(wasmRecords).toBeGreaterThan(records / 10);
  });

  it.each(['pcap', 'pcapng'] as const)('on `pktbench gen` traces (what the decode benchmark reads), %s: all on the fast path', (format) => {
    for (const [ipv6, payloadMax, snaplen] of [[0, 0, 262144], [0.3, 1400, 262144], [0.5, 200, 60]] as const) {
      const gen = new TraceGenerator({ packets: 3000, flows: 200, ipv6, payloadMin: 0, payloadMax, snaplen, mix: { tcp: 60, udp: 30, icmp: 10 } });
      const writer = new MemoryTraceWriter({ format, interfaces: [{ linkType: gen.linkType }] });
      writeFrames(gen, writer.encoder);
      const bytes = writer.bytes();
      // Every generated frame is of the common shape, snaplen-cut ones included (caplen 60 still
      // holds Ethernet + IPv4 + TCP; for IPv6 + TCP it does not, and those take the general path).
      const wasmBefore = wasmRecords;
      const fast = expectSame(bytes, 512, 64);
      if (snaplen === 262144) expect(fast).toBe(3000);
      // The records go through the kernel (cut records at the window edge excepted).
      if (PcapKernel.available) expect(wasmRecords - wasmBefore).toBeGreaterThan(2500);
      else expect(fast).toBeGreaterThan(1000);
    }
  });

  it.each(['pcap', 'pcapng'] as const)('streamed through a 64 KiB window (records cut at the window edge), %s: same slots as the general path in memory', async (format) => {
    const gen = new TraceGenerator({ packets: 2500, flows: 100, ipv6: 0.3, payloadMin: 0, payloadMax: 300 });
    const writer = new MemoryTraceWriter({ format, interfaces: [{ linkType: gen.linkType }] });
    writeFrames(gen, writer.encoder);
    const bytes = writer.bytes();
    expect(bytes.length).toBeGreaterThan(3 * 65536);
    const dir = mkdtempSync(join(tmpdir(), 'pktbench-fast-path-'));
    try {
      const path = join(dir, `gen.${format}`);
      writeFileSync(path, bytes);
      const reader = await openTrace(path, { chunkBytes: 65536 });
      const batch = new PacketBatch(300, 64);
      new Uint8Array(batch.buffer).fill(0x5a);
      const arrays = slotArrays(batch);
      const streamed: string[] = [];
      while ((await reader.read(batch)) > 0) for (let i = 0; i < batch.count; i++) streamed.push(slotText(arrays, i));
      await reader.close();
      const general = decodeAll(bytes, 'general', 300, 64).slots;
      expect(streamed.length).toBe(2500);
      const first = streamed.findIndex((v, i) => v !== general[i]);
      expect(first).toBe(-1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('on the real captures of the corpus', () => {
    if (!hasShared) return;
    const dir = resolve(sharedDir, 'fixtures/pcap/tcpdump');
    const files = readdirSync(dir).filter((f) => /\.pcap(ng)?$/.test(f)).sort();
    expect(files.length).toBe(830);
    let fastRecords = 0;
    for (const file of files) {
      const bytes = new Uint8Array(readFileSync(resolve(dir, file)));
      fastRecords += expectSame(bytes, 64, 64, Math.max(1 << 16, bytes.length));
    }
    expect(fastRecords).toBeGreaterThan(1000);
  });
});

describe('without WebAssembly memory for the kernel', () => {
  it('a streaming parser reads on the JavaScript paths alone, slot for slot the same', () => {
    const gen = new TraceGenerator({ packets: 500, flows: 20, ipv6: 0.3, payloadMin: 0, payloadMax: 100 });
    const writer = new MemoryTraceWriter({ format: 'pcap', interfaces: [{ linkType: gen.linkType }] });
    writeFrames(gen, writer.encoder);
    const bytes = writer.bytes();
    const general = decodeAll(bytes, 'general', 64, 64);
    const memory = vi.spyOn(WebAssembly, 'Memory').mockImplementation(() => { throw new RangeError('WebAssembly.Memory(): could not allocate memory'); });
    try {
      const got = expectEqual({ window: 2048 }, bytes, 64, 64, general);
      expect(got.wasmRecords).toBe(0);
      expect(got.fastRecords).toBe(500);
    } finally {
      memory.mockRestore();
    }
  });
});

describe('corrupted traces: the fast paths still equal the general decoder', () => {
  it.each(['pcap', 'pcapng'] as const)('%s with random bytes changed (lengths, trailers, link types, headers): same slots and the same error', (format) => {
    const gen = new TraceGenerator({ packets: 150, flows: 20, ipv6: 0.3, payloadMin: 0, payloadMax: 60, mix: { tcp: 60, udp: 30, icmp: 10 } });
    const writer = new MemoryTraceWriter({ format, interfaces: [{ linkType: gen.linkType }] });
    writeFrames(gen, writer.encoder);
    const base = writer.bytes();
    let errors = 0;
    fc.assert(fc.property(fc.array(fc.record({ at: fc.nat(base.length - 1), value: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 4 }), (changes) => {
      const bytes = Uint8Array.from(base);
      for (const { at, value } of changes) bytes[at] = value;
      const general = decodeAll(bytes, 'general', 64, 64);
      expectEqual('fast', bytes, 64, 64, general);
      // Streamed, the kernel against the JavaScript fast path through the same window (a block
      // claiming more than the window is an error when streaming, a cut file in memory).
      const window = Math.max(4096, bytes.length >> 1);
      expectEqual({ window }, bytes, 64, 64, decodeAll(bytes, { window, wasm: false }, 64, 64));
      if (general.error !== '') errors++;
    }), { numRuns: 400, seed: 20261123 });
    // Some changes break the framing for good.
    expect(errors).toBeGreaterThan(10);
  });
});

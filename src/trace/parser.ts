/**
 * The record walker shared by the streaming and the in-memory readers: pcap (libpcap
 * sf-pcap.c) and pcapng (libpcap sf-pcapng.c, draft-ietf-opsawg-pcapng) over one reusable
 * window of bytes. It never allocates per packet: records are decoded straight from the window
 * into PacketBatch slots. A record larger than the window is decoded from the part that fits and
 * the rest is skipped, so memory stays bounded whatever length a record claims.
 */
import { InputError } from '../errors.js';
import { HOST_LITTLE_ENDIAN, NO_CONNECTION, PacketFlag, type PacketBatch } from './batch.js';
import { decodeFrame, LinkType } from './decode.js';
import { PcapKernel } from './pcap-kernel.js';

export const PCAP_MAGIC_USEC = 0xa1b2c3d4;
export const PCAP_MAGIC_NSEC = 0xa1b23c4d;
/** Alexey Kuznetsov's patched libpcap: 24-byte record headers (ifindex, protocol, pkt_type, pad). */
export const PCAP_MAGIC_KUZNETZOV = 0xa1b2cd34;
export const PCAPNG_SHB = 0x0a0d0d0a;
/**
 * pcapng block types and the byte-order magic. Numbers the record loops compare against are const
 * enums throughout this file: tsc writes them into the code, where V8 would read a module-level
 * constant from its cell (a load and a hole check) at every use.
 */
const enum Pcapng {
  BYTE_ORDER_MAGIC = 0x1a2b3c4d,
  IDB = 1,
  OBSOLETE_PB = 2,
  SPB = 3,
  EPB = 6,
}

/** libpcap's LT_LINKTYPE: the upper bits of the pcap link-type field carry the FCS length. */
export const LINKTYPE_MASK = 0x03ffffff;
/**
 * Largest record we accept. libpcap refuses more than 262144 bytes for most link types; we allow
 * far more (BIG TCP/jumbo captures), but a length past this is corruption, not a packet.
 */
const enum Limit {
  RECORD_BYTES = 64 * 1024 * 1024,
}
export const MAX_RECORD_BYTES: number = Limit.RECORD_BYTES;

export type TraceFormat = 'pcap' | 'pcapng';

/** What the parser wants from its caller next. */
export const ParseStatus = {
  /** The batch is full. */
  BATCH_FULL: 0,
  /** The window holds no complete record: compact and refill it (or end, if the input is done). */
  NEED_MORE: 1,
  /** The input is done (possibly after a truncation warning). */
  END: 2,
} as const;
export type ParseStatusValue = (typeof ParseStatus)[keyof typeof ParseStatus];
/** Inside the parser: the fast loop met a pcapng block it leaves to the general handler. */
const SLOW_BLOCK = -1;
/** Inside the parser: one pcapng block handled, go on. */
const NEXT_BLOCK = -2;
/** Inside the parser: the WebAssembly kernel stopped before a pcapng block it does not take. */
const KERNEL_STOPPED = -3;

interface InterfaceState {
  linkType: number;
  snaplen: number;
  /** Timestamp units per second (10^n or 2^n). */
  unitsPerSecond: number;
  /** if_tsoffset, seconds added to every timestamp. */
  offsetSeconds: number;
  /** How the fast path reaches the IP header on this interface's link type (FastLink.NONE: never). */
  fast: FastLink;
  /**
   * The last timestamp split (setUnitsTimestamp): its high word, low word, seconds (before the
   * offset) and remaining units. Packets come in time order, so the next one usually lies in the
   * same second and its split needs no division (lastHigh -1: none yet).
   */
  lastHigh: number;
  lastLow: number;
  lastSec: number;
  lastRem: number;
}

function u16le(b: Uint8Array, p: number): number {
  return b[p]! | (b[p + 1]! << 8);
}
function u16be(b: Uint8Array, p: number): number {
  return (b[p]! << 8) | b[p + 1]!;
}
function u32le(b: Uint8Array, p: number): number {
  return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
}
function u32be(b: Uint8Array, p: number): number {
  return ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
}

/**
 * Splits a 64-bit count of `unitsPerSecond` units (high and low 32-bit words) into seconds and
 * nanoseconds exactly, without BigInt: long division in base 2^16 keeps every step below 2^53.
 * Writes into batch slot `slot`.
 */
function setUnitsTimestamp(batch: PacketBatch, slot: number, high: number, low: number, iface: InterfaceState): void {
  const unitsPerSecond = iface.unitsPerSecond;
  let sec: number;
  let rem: number;
  // Same high word, a little later than the last packet: carry on from its split.
  const later = high === iface.lastHigh ? low - iface.lastLow + iface.lastRem : -1;
  if (later >= 0 && later < unitsPerSecond) {
    sec = iface.lastSec;
    rem = later;
  } else if (high < 0x200000) {
    const units = high * 4294967296 + low;
    sec = Math.floor(units / unitsPerSecond);
    rem = units - sec * unitsPerSecond;
  } else {
    sec = 0;
    rem = 0;
    const digits0 = high >>> 16, digits1 = high & 0xffff, digits2 = low >>> 16, digits3 = low & 0xffff;
    let cur = digits0;
    let q = Math.floor(cur / unitsPerSecond); rem = cur - q * unitsPerSecond; sec = q;
    cur = rem * 65536 + digits1; q = Math.floor(cur / unitsPerSecond); rem = cur - q * unitsPerSecond; sec = sec * 65536 + q;
    cur = rem * 65536 + digits2; q = Math.floor(cur / unitsPerSecond); rem = cur - q * unitsPerSecond; sec = sec * 65536 + q;
    cur = rem * 65536 + digits3; q = Math.floor(cur / unitsPerSecond); rem = cur - q * unitsPerSecond; sec = sec * 65536 + q;
  }
  iface.lastHigh = high;
  iface.lastLow = low;
  iface.lastSec = sec;
  iface.lastRem = rem;
  batch.tsSec[slot] = sec + iface.offsetSeconds;
  batch.tsNsec[slot] = unitsPerSecond === 1e9 ? rem : unitsPerSecond === 1e6 ? rem * 1000 : Math.floor((rem * 1e9) / unitsPerSecond);
}

/**
 * Clears the decoded fields and model slots of the whole batch in one pass per array (a memset
 * each), which is much cheaper than PacketBatch.resetSlot per packet in the record loop. Must
 * clear exactly what resetSlot clears.
 */
export function clearBatch(batch: PacketBatch): void {
  clearDecodedFields(batch);
  clearModelSlots(batch);
}

/** The decoded fields' part of clearBatch. */
function clearDecodedFields(batch: PacketBatch): void {
  batch.flags.fill(0);
  batch.l3.fill(0);
  batch.src.fill(0);
  batch.dst.fill(0);
  batch.proto.fill(0);
  batch.ttl.fill(0);
  batch.ipLen.fill(0);
  batch.ipId.fill(0);
  batch.fragOffset.fill(0);
  batch.sport.fill(0);
  batch.dport.fill(0);
  batch.tcpFlags.fill(0);
  batch.tcpSeq.fill(0);
  batch.tcpAck.fill(0);
  batch.tcpWindow.fill(0);
  batch.icmpType.fill(0);
  batch.icmpCode.fill(0);
  batch.icmpId.fill(0);
  batch.vlanCount.fill(0);
  batch.headLen.fill(0);
}

/**
 * The decoded fields that are zero for nearly every packet the pcap fast path takes (fragment
 * offset always; ICMP fields but for ICMP; VLAN count but for tagged frames): cleared per batch so
 * that the fast path writes them only when they are not zero.
 */
function clearRareFields(batch: PacketBatch): void {
  batch.fragOffset.fill(0);
  batch.icmpType.fill(0);
  batch.icmpCode.fill(0);
  batch.icmpId.fill(0);
  batch.vlanCount.fill(0);
}

/** The model slots' part of clearBatch (what the models write: marks, classes, conntrack, verdicts). */
function clearModelSlots(batch: PacketBatch): void {
  batch.mark.fill(0);
  batch.priority.fill(0);
  batch.classId.fill(0);
  batch.flowHash.fill(0);
  batch.ctId.fill(NO_CONNECTION);
  batch.core.fill(0);
  batch.ctState.fill(0);
  batch.ctReply.fill(0);
  batch.verdict.fill(0);
}

/**
 * How the pcap fast path reaches a frame's IP header, by link type: Ethernet (with at most one
 * 802.1Q/802.1ad tag), raw IP (version nibble), raw IPv4 only, raw IPv6 only; NONE = always the
 * general decoder.
 */
const enum FastLink {
  NONE = 0,
  ETHERNET = 1,
  RAW = 2,
  IPV4 = 3,
  IPV6 = 4,
}

function fastLinkOf(linkType: number): FastLink {
  switch (linkType) {
    case LinkType.ETHERNET: return FastLink.ETHERNET;
    case LinkType.RAW: case LinkType.RAW_OPENBSD: case LinkType.RAW_BSDOS: return FastLink.RAW;
    case LinkType.IPV4: return FastLink.IPV4;
    case LinkType.IPV6: return FastLink.IPV6;
    default: return FastLink.NONE;
  }
}

/** Flag sets the fast path writes. */
const enum FastFlags {
  IP_ALL = PacketFlag.IP | PacketFlag.IP_HAS_SRC | PacketFlag.IP_HAS_DST | PacketFlag.IP_HAS_PROTO | PacketFlag.IP_HAS_FRAG,
  PORTS_TCP = PacketFlag.PORTS | PacketFlag.TCP,
}

export class TraceParser {
  /** The window: bytes [start, end) are unread; `base` is the input offset of window[0]. */
  readonly window: Uint8Array;
  /** The same bytes as `window`: one DataView load per header field beats four byte loads. */
  private readonly view: DataView;
  start = 0;
  end = 0;
  base = 0;
  /** The source has no more bytes. */
  eof = false;
  /** Bytes still to drop before the next record (the rest of a record larger than the window). */
  private skip = 0;

  format: TraceFormat | null = null;
  readonly linkTypes: number[] = [];
  readonly warnings: string[] = [];
  packets = 0;

  private bigEndian = false;
  private pcapSubsecondScale = 1000;
  private pcapRecordHeader = 16;
  private pcapSnaplen = 0;
  /** Interfaces of the current pcapng section; `ifBase` is the global index of its first one. */
  private interfaces: InterfaceState[] = [];
  private ifBase = 0;
  private done = false;
  /**
   * Whether pcap records of the common shapes take the fast path (parsePcapFast). Setting it to
   * false forces the general decoder for every record: the differential tests compare the two.
   */
  fastPath = true;
  /**
   * Whether fast-path runs (pcap records, pcapng enhanced packet blocks) go through the WebAssembly
   * kernel (pcap-kernel.ts) where there is one: a streaming parser (window allocated by size) on a
   * little-endian host. Setting it to false keeps them in JavaScript (parseFast); the differential
   * tests compare all three paths.
   */
  wasmPath = true;
  /** Records the WebAssembly kernel took (generalRecords counts those it left to the general decoder). */
  wasmRecords = 0;
  /** The WebAssembly kernel whose memory holds the window, or null. */
  private readonly kernel: PcapKernel | null = null;
  /** Records of a fast-path link type that the fast path handed to the general decoder. */
  generalRecords = 0;
  /** 32-bit words over the head bytes of the batch last filled by the fast path. */
  private headWordsOf: Uint8Array | null = null;
  /** The batch the fast loop zeroed address words of, and up to which slot (see parseFast). */
  private zeroedBatch: PacketBatch | null = null;
  private zeroedTo = 0;
  private headWords: Uint32Array = new Uint32Array(0);

  /** `window`: a size to allocate, or the whole input itself (in-memory reading, no copy). */
  constructor(readonly name: string, window: number | Uint8Array) {
    if (typeof window === 'number') {
      let kernel: PcapKernel | null = null;
      try {
        if (PcapKernel.available) kernel = new PcapKernel(window);
      } catch (e) {
        // No WebAssembly memory of that size: the JavaScript paths alone.
        if (!(e instanceof RangeError)) throw e;
      }
      this.kernel = kernel;
      this.window = kernel ? kernel.window : new Uint8Array(window);
    } else {
      this.window = window;
      this.end = window.length;
      this.eof = true;
    }
    this.view = new DataView(this.window.buffer, this.window.byteOffset, this.window.byteLength);
  }

  /** Input offset of window position p (for messages). */
  private at(p: number): string {
    return `${this.name}: byte ${this.base + p}`;
  }

  private fail(p: number, detail: string): never {
    throw new InputError(`${this.name}: byte ${this.base + p}`, detail);
  }

  private u16(p: number): number {
    return this.bigEndian ? u16be(this.window, p) : u16le(this.window, p);
  }

  private u32(p: number): number {
    return this.bigEndian ? u32be(this.window, p) : u32le(this.window, p);
  }

  /** Moves the unread bytes to the front of the window; returns where the caller may write. */
  compact(): number {
    if (this.start > 0) {
      this.window.copyWithin(0, this.start, this.end);
      this.base += this.start;
      this.end -= this.start;
      this.start = 0;
    }
    return this.end;
  }

  /** Reads the file header once the window holds its first bytes. Returns false while it needs more. */
  private parseFileHeader(): boolean {
    const b = this.window;
    const avail = this.end - this.start;
    if (avail < 4) {
      if (!this.eof) return false;
      if (avail === 0) this.fail(0, 'empty file: no pcap or pcapng header');
      this.fail(0, `file of ${avail} bytes is too short for a pcap or pcapng header`);
    }
    const magicBe = u32be(b, 0);
    const magicLe = u32le(b, 0);
    if (magicBe === PCAPNG_SHB) {
      this.format = 'pcapng';
      return true; // the SHB is parsed as a block
    }
    let magic: number;
    if (magicLe === PCAP_MAGIC_USEC || magicLe === PCAP_MAGIC_NSEC || magicLe === PCAP_MAGIC_KUZNETZOV) {
      this.bigEndian = false;
      magic = magicLe;
    } else if (magicBe === PCAP_MAGIC_USEC || magicBe === PCAP_MAGIC_NSEC || magicBe === PCAP_MAGIC_KUZNETZOV) {
      this.bigEndian = true;
      magic = magicBe;
    } else {
      this.fail(0, `not a pcap or pcapng file (magic 0x${magicBe.toString(16).padStart(8, '0')})`);
    }
    if (avail < 24) {
      if (!this.eof) return false;
      this.fail(avail, `pcap file header cut short: ${avail} of 24 bytes`);
    }
    const major = this.u16(4);
    if (major !== 2) this.fail(4, `unsupported pcap version ${major}.${this.u16(6)} (only 2.x exists)`);
    this.format = 'pcap';
    this.pcapSubsecondScale = magic === PCAP_MAGIC_NSEC ? 1 : 1000;
    this.pcapRecordHeader = magic === PCAP_MAGIC_KUZNETZOV ? 24 : 16;
    this.pcapSnaplen = this.u32(16);
    this.linkTypes.push((this.u32(20) & LINKTYPE_MASK) >>> 0);
    this.start = 24;
    return true;
  }

  /**
   * Fills batch slots from `batch.count` on with the complete records in the window. Returns why
   * it stopped. Never throws anything but InputError.
   */
  parse(batch: PacketBatch): ParseStatusValue {
    if (this.done) return ParseStatus.END;
    if (this.format === null && !this.parseFileHeader()) return ParseStatus.NEED_MORE;
    if (this.skip > 0) {
      const n = Math.min(this.skip, this.end - this.start);
      this.start += n;
      this.skip -= n;
      if (this.skip > 0) return this.needMore('record');
    }
    if (this.format === 'pcap' && this.fastPath) {
      const fast = fastLinkOf(this.linkTypes[0]!);
      // The fast walk writes the decoded fields of a slot itself; the model slots and the fields
      // that are nearly always zero are cleared per batch (a fill is cheaper than a store per packet).
      if (fast !== FastLink.NONE) {
        if (batch.count === 0) {
          clearModelSlots(batch);
          clearRareFields(batch);
        }
        if (this.kernel !== null && this.wasmPath) return this.parseKernel(batch, fast, this.kernel, false) as ParseStatusValue;
        return this.parseFast(batch, fast, false) as ParseStatusValue;
      }
    }
    if (this.format === 'pcapng' && this.fastPath) {
      if (batch.count === 0) {
        clearModelSlots(batch);
        clearRareFields(batch);
      }
      // Enhanced packet blocks of fast-link interfaces through the kernel where there is one, else
      // (and those of interfaces it does not take) in the fast loop; every other block (section
      // and interface headers, other link types, odd or cut blocks) one at a time the general way.
      for (;;) {
        if (this.kernel !== null && this.wasmPath) {
          const kernelStatus = this.parseKernel(batch, FastLink.NONE, this.kernel, true);
          if (kernelStatus !== KERNEL_STOPPED) return kernelStatus;
        }
        const fastStatus = this.parseFast(batch, FastLink.NONE, true);
        if (fastStatus !== SLOW_BLOCK) return fastStatus;
        const status = this.pcapngBlock(batch, true);
        if (status !== NEXT_BLOCK) return status;
      }
    }
    // The general decoder writes only what it finds: clear the batch's slots first.
    if (batch.count === 0) clearBatch(batch);
    return this.format === 'pcap' ? this.parsePcap(batch) : this.parsePcapng(batch);
  }

  private needMore(what: string): ParseStatusValue {
    if (!this.eof) return ParseStatus.NEED_MORE;
    this.done = true;
    const left = this.end - this.start;
    if (left > 0 || this.skip > 0) {
      this.warnings.push(`${this.at(this.start)}: file cut short inside a ${what} (${left} byte(s) left); ${this.packets} packet(s) read before it`);
    }
    return ParseStatus.END;
  }

  /** Whether the window is as full as it can get (a record that still does not fit is oversized). */
  private windowFull(): boolean {
    return this.start === 0 && this.end === this.window.length;
  }

  private parsePcap(batch: PacketBatch): ParseStatusValue {
    const b = this.window;
    const hdr = this.pcapRecordHeader;
    const scale = this.pcapSubsecondScale;
    const linkType = this.linkTypes[0]!;
    const little = !this.bigEndian;
    const view = this.view;
    // The record fields' arrays, loaded once (the decoder call in between would force reloads).
    const tsSec = batch.tsSec, tsNsec = batch.tsNsec, caplens = batch.caplen, wireLens = batch.wireLen;
    const linkTypes = batch.linkType, ifIndex = batch.ifIndex, frameNo = batch.frameNo;
    let slot = batch.count;
    let start = this.start;
    const end = this.end;
    const capacity = batch.capacity;
    while (slot < capacity) {
      const p = start;
      const avail = end - p;
      if (avail < hdr) {
        this.start = start;
        batch.count = slot;
        return avail === 0 && this.eof ? this.finish() : this.needMore('pcap record header');
      }
      const sec = view.getUint32(p, little);
      const sub = view.getUint32(p + 4, little);
      const caplen = view.getUint32(p + 8, little);
      const wireLen = view.getUint32(p + 12, little);
      if (caplen > Limit.RECORD_BYTES) {
        this.start = start;
        batch.count = slot;
        this.fail(p + 8, `record ${this.packets + 1} claims ${caplen} captured bytes (more than ${MAX_RECORD_BYTES}; snaplen is ${this.pcapSnaplen}): corrupt record header`);
      }
      let decodeLen = caplen;
      if (avail < hdr + caplen) {
        this.start = start;
        batch.count = slot;
        if (this.eof) return this.needMore('pcap record');
        if (!this.windowFull()) return ParseStatus.NEED_MORE;
        decodeLen = avail - hdr; // oversized: decode what fits, skip the rest
      }
      const ns = sub * scale;
      if (ns < 1e9) {
        tsSec[slot] = sec;
        tsNsec[slot] = ns;
      } else {
        // Out-of-range sub-second field (fuzzed files): carry whole seconds over.
        tsSec[slot] = sec + Math.floor(ns / 1e9);
        tsNsec[slot] = ns % 1e9;
      }
      caplens[slot] = caplen;
      wireLens[slot] = wireLen;
      linkTypes[slot] = linkType;
      ifIndex[slot] = 0;
      frameNo[slot] = ++this.packets;
      decodeFrame(b, p + hdr, decodeLen, linkType, batch, slot);
      slot++;
      if (decodeLen < caplen) {
        this.skip = caplen - decodeLen;
        this.start = end;
        batch.count = slot;
        return this.needMore('pcap record');
      }
      start = p + hdr + caplen;
    }
    this.start = start;
    batch.count = slot;
    return ParseStatus.BATCH_FULL;
  }

  /**
   * The fast path's record loop, for pcap records (`pcapFast`: the file's link kind) and for
   * pcapng enhanced packet blocks (`pcapng`: each block's interface gives the link kind; the loop
   * returns SLOW_BLOCK at the first block it does not take, for pcapngBlock). The decoder's common
   * case is inlined: Ethernet (at most one VLAN tag) or raw IP; IPv4 not a fragment (options
   * allowed) or IPv6 without extension headers; TCP (whole 20-byte header), UDP/SCTP/DCCP (ports),
   * ICMP/ICMPv6, or any other protocol; every header whole within the capture and the datagram's
   * stated length. Such a record is checked completely first and then every decoded field of its
   * slot written (those that are zero and were cleared per batch by clearRareFields, and IPv4's
   * zero address words, excepted), so that the slot needs no other clearing (parse clears the
   * model slots per batch too) and equals what resetSlot + decodeFrame give
   * (test/trace/fast-path.test.ts checks that); any other record takes exactly that general path.
   */
  private parseFast(batch: PacketBatch, pcapFast: FastLink, pcapng: boolean): ParseStatusValue | typeof SLOW_BLOCK {
    const b = this.window;
    const hdr = this.pcapRecordHeader;
    const scale = this.pcapSubsecondScale;
    const linkType = this.linkTypes[0] ?? 0;
    const little = !this.bigEndian;
    const view = this.view;
    // Four views over the batch's buffer and each field's element offset in them: one array base
    // per element width instead of a reload of array, data pointer and length per field stored
    // (the decoded fields always live in the buffer; only model slots may not).
    const all64 = batch.all64, all32 = batch.all32, all16 = batch.all16, all8 = batch.all8;
    const tsSec = batch.tsSec.byteOffset >>> 3, frameNo = batch.frameNo.byteOffset >>> 3;
    const tsNsec = batch.tsNsec.byteOffset >>> 2, caplens = batch.caplen.byteOffset >>> 2, wireLens = batch.wireLen.byteOffset >>> 2;
    const linkTypeOut = batch.linkType.byteOffset >>> 2, ifIndexOut = batch.ifIndex.byteOffset >>> 1;
    const ipLenOut = batch.ipLen.byteOffset >>> 2, ipIdOut = batch.ipId.byteOffset >>> 2;
    const seqOut = batch.tcpSeq.byteOffset >>> 2, ackOut = batch.tcpAck.byteOffset >>> 2;
    const srcOut = batch.src.byteOffset >>> 2, dstOut = batch.dst.byteOffset >>> 2;
    const flagsOut = batch.flags.byteOffset >>> 1, sportOut = batch.sport.byteOffset >>> 1;
    const dportOut = batch.dport.byteOffset >>> 1, tcpFlagsOut = batch.tcpFlags.byteOffset >>> 1, windowOut = batch.tcpWindow.byteOffset >>> 1;
    const icmpIdOut = batch.icmpId.byteOffset >>> 1, vlanOut = batch.vlan.byteOffset >>> 1;
    const l3Out = batch.l3.byteOffset, protoOut = batch.proto.byteOffset, ttlOut = batch.ttl.byteOffset;
    const icmpTypeOut = batch.icmpType.byteOffset, icmpCodeOut = batch.icmpCode.byteOffset;
    const vlanCountOut = batch.vlanCount.byteOffset, headLenOut = batch.headLen.byteOffset, head = batch.head;
    const headBytes = batch.headBytes;
    // Word-wise head copy when slots are word-aligned (the head array starts 8-aligned).
    // (On a little-endian host only, so that the word reads' byte order is a constant for V8;
    // elsewhere the byte loop copies.)
    const wordHead = HOST_LITTLE_ENDIAN && (headBytes & 3) === 0;
    if (wordHead && this.headWordsOf !== head) {
      this.headWordsOf = head;
      this.headWords = new Uint32Array(head.buffer, head.byteOffset, head.byteLength >>> 2);
    }
    const headWords = this.headWords;
    let slot = batch.count;
    const first = slot;
    let start = this.start;
    let packets = this.packets;
    const end = this.end;
    const capacity = batch.capacity;
    // Filled instead of stored per packet: the address words an IPv4 packet leaves zero (an IPv6
    // packet writes all four), over the slots this call can reach (each record takes at least a
    // header's bytes; slots zeroed by an earlier call for this batch are not zeroed again); in
    // pcap also the interface (0), and the link type (one per file) over the slots used, on the
    // way out.
    const reach = Math.min(capacity, first + Math.ceil((end - start) / (pcapng ? 32 : hdr)));
    if (first === 0 || this.zeroedBatch !== batch) {
      this.zeroedBatch = batch;
      this.zeroedTo = first;
    }
    if (reach > this.zeroedTo) {
      batch.src.fill(0, this.zeroedTo * 4, reach * 4);
      batch.dst.fill(0, this.zeroedTo * 4, reach * 4);
      this.zeroedTo = reach;
    }
    if (!pcapng) batch.ifIndex.fill(0, first, reach);
    const interfaces = this.interfaces;
    const ifBase = this.ifBase;
    while (slot < capacity) {
      const p = start;
      const avail = end - p;
      let fast = pcapFast;
      let frame: number;
      let decodeLen: number;
      let caplen: number;
      let next: number;
      let recordLinkType = linkType;
      if (pcapng) {
        // An enhanced packet block of a fast-link interface, whole in the window and well formed;
        // anything else goes to pcapngBlock, which also has the messages for what is wrong.
        const length = avail >= 32 ? view.getUint32(p + 4, little) : 0;
        const ifId = length >= 32 ? view.getUint32(p + 8, little) : 0;
        const iface = length >= 32 && (length & 3) === 0 && length <= avail && view.getUint32(p, little) === Pcapng.EPB &&
          view.getUint32(p + length - 4, little) === length ? interfaces[ifId] : undefined;
        caplen = iface === undefined ? 0 : view.getUint32(p + 20, little);
        if (iface === undefined || iface.fast === FastLink.NONE || caplen > length - 32) {
          this.leaveRun(batch, start, packets, slot, -1, 0);
          return SLOW_BLOCK;
        }
        fast = iface.fast;
        recordLinkType = iface.linkType;
        setUnitsTimestamp(batch, slot, view.getUint32(p + 12, little), view.getUint32(p + 16, little), iface);
        all32[caplens + slot] = caplen;
        all32[wireLens + slot] = view.getUint32(p + 24, little);
        all32[linkTypeOut + slot] = recordLinkType;
        all16[ifIndexOut + slot] = ifBase + ifId;
        all64[frameNo + slot] = ++packets;
        frame = p + 28;
        decodeLen = caplen;
        next = p + length;
      } else {
        if (avail < hdr) {
          this.leaveRun(batch, start, packets, slot, first, linkType);
          return avail === 0 && this.eof ? this.finish() : this.needMore('pcap record header');
        }
        const sec = view.getUint32(p, little);
        const sub = view.getUint32(p + 4, little);
        caplen = view.getUint32(p + 8, little);
        const wireLen = view.getUint32(p + 12, little);
        if (caplen > Limit.RECORD_BYTES) {
          this.leaveRun(batch, start, packets, slot, first, linkType);
          this.fail(p + 8, `record ${packets + 1} claims ${caplen} captured bytes (more than ${MAX_RECORD_BYTES}; snaplen is ${this.pcapSnaplen}): corrupt record header`);
        }
        decodeLen = caplen;
        if (avail < hdr + caplen) {
          this.leaveRun(batch, start, packets, slot, first, linkType);
          if (this.eof) return this.needMore('pcap record');
          if (!this.windowFull()) return ParseStatus.NEED_MORE;
          decodeLen = avail - hdr; // oversized: decode what fits, skip the rest
        }
        const ns = sub * scale;
        if (ns < 1e9) {
          all64[tsSec + slot] = sec;
          all32[tsNsec + slot] = ns;
        } else {
          all64[tsSec + slot] = sec + Math.floor(ns / 1e9);
          all32[tsNsec + slot] = ns % 1e9;
        }
        all32[caplens + slot] = caplen;
        all32[wireLens + slot] = wireLen;
        all64[frameNo + slot] = ++packets;
        frame = p + hdr;
        next = frame + decodeLen;
      }
      const frameEnd = frame + decodeLen;
      let decoded = false;
      fastPath: {
        // Link layer: where the IP header starts and which version it must be.
        let o = frame;
        let vlanTag = -1;
        let version: number;
        if (fast === FastLink.ETHERNET) {
          if (decodeLen < 14) break fastPath;
          let type = (b[frame + 12]! << 8) | b[frame + 13]!;
          o = frame + 14;
          if (type === 0x8100 || type === 0x88a8 || type === 0x9100) {
            if (frameEnd - o < 4) break fastPath;
            vlanTag = ((b[o]! << 8) | b[o + 1]!) & 0x0fff;
            type = (b[o + 2]! << 8) | b[o + 3]!;
            o += 4;
          }
          if (type === 0x0800) version = 4;
          else if (type === 0x86dd) version = 6;
          else break fastPath;
          if (o >= frameEnd || b[o]! >> 4 !== version) break fastPath;
        } else {
          if (o >= frameEnd) break fastPath;
          version = b[o]! >> 4;
          if (fast === FastLink.IPV4 ? version !== 4 : fast === FastLink.IPV6 ? version !== 6 : version !== 4 && version !== 6) break fastPath;
        }
        // IP header: all checks and reads before any write.
        const ipAvail = frameEnd - o;
        let proto: number, ttl: number, ipLen: number, ipId: number;
        let transport: number, payloadEnd: number;
        const w = slot << 2;
        if (version === 4) {
          if (ipAvail < 20) break fastPath;
          const ihl = (b[o]! & 0x0f) << 2;
          if (ihl < 20 || ipAvail < ihl) break fastPath;
          ipLen = (b[o + 2]! << 8) | b[o + 3]!;
          if (ipLen < ihl) break fastPath; // also 0 (TSO): the general path
          if ((b[o + 6]! & 0x3f) !== 0 || b[o + 7] !== 0) break fastPath; // MF or an offset: a fragment
          ipId = (b[o + 4]! << 8) | b[o + 5]!;
          ttl = b[o + 8]!;
          proto = b[o + 9]!;
          transport = o + ihl;
          payloadEnd = o + ipLen < frameEnd ? o + ipLen : frameEnd;
        } else {
          if (ipAvail < 40) break fastPath;
          const payloadLen = (b[o + 4]! << 8) | b[o + 5]!;
          proto = b[o + 6]!;
          if (payloadLen === 0 || proto === 0 || proto === 43 || proto === 44 || proto === 60) break fastPath;
          ipLen = 40 + payloadLen;
          ipId = 0;
          ttl = b[o + 7]!;
          transport = o + 40;
          payloadEnd = o + ipLen < frameEnd ? o + ipLen : frameEnd;
        }
        // Transport header.
        const tAvail = payloadEnd - transport;
        let flags = FastFlags.IP_ALL;
        let sport = 0, dport = 0, tcpFlags = 0, seq = 0, ack = 0, window = 0, icmpType = 0, icmpCode = 0, icmpId = 0;
        if (proto === 6) {
          if (tAvail < 16 || b[transport + 12]! >> 4 < 5) break fastPath;
          sport = (b[transport]! << 8) | b[transport + 1]!;
          dport = (b[transport + 2]! << 8) | b[transport + 3]!;
          seq = view.getUint32(transport + 4);
          ack = view.getUint32(transport + 8);
          tcpFlags = ((b[transport + 12]! & 0x0f) << 8) | b[transport + 13]!;
          window = (b[transport + 14]! << 8) | b[transport + 15]!;
          flags |= FastFlags.PORTS_TCP;
        } else if (proto === 17 || proto === 132 || proto === 136) {
          if (tAvail < 4) break fastPath;
          sport = (b[transport]! << 8) | b[transport + 1]!;
          dport = (b[transport + 2]! << 8) | b[transport + 3]!;
          flags |= PacketFlag.PORTS;
        } else if (proto === 1 || proto === 58) {
          if (tAvail < 2) break fastPath;
          icmpType = b[transport]!;
          icmpCode = b[transport + 1]!;
          const echo = proto === 1 ? icmpType === 0 || icmpType === 8 || icmpType === 13 || icmpType === 14 : icmpType === 128 || icmpType === 129;
          if (echo && tAvail >= 6) icmpId = (b[transport + 4]! << 8) | b[transport + 5]!;
          flags |= PacketFlag.ICMP;
        }
        // Writes: every decoded field and model slot of the slot.
        all16[flagsOut + slot] = flags;
        all8[l3Out + slot] = version;
        if (version === 4) {
          all32[srcOut + w] = view.getUint32(o + 12);
          all32[dstOut + w] = view.getUint32(o + 16);
        } else {
          all32[srcOut + w] = view.getUint32(o + 8);
          all32[srcOut + w + 1] = view.getUint32(o + 12);
          all32[srcOut + w + 2] = view.getUint32(o + 16);
          all32[srcOut + w + 3] = view.getUint32(o + 20);
          all32[dstOut + w] = view.getUint32(o + 24);
          all32[dstOut + w + 1] = view.getUint32(o + 28);
          all32[dstOut + w + 2] = view.getUint32(o + 32);
          all32[dstOut + w + 3] = view.getUint32(o + 36);
        }
        all8[protoOut + slot] = proto;
        all8[ttlOut + slot] = ttl;
        all32[ipLenOut + slot] = ipLen;
        all32[ipIdOut + slot] = ipId;
        all16[sportOut + slot] = sport;
        all16[dportOut + slot] = dport;
        all16[tcpFlagsOut + slot] = tcpFlags;
        all32[seqOut + slot] = seq;
        all32[ackOut + slot] = ack;
        all16[windowOut + slot] = window;
        // Zero in the common case, cleared per batch (clearRareFields): written only when not.
        if (flags & PacketFlag.ICMP) {
          all8[icmpTypeOut + slot] = icmpType;
          all8[icmpCodeOut + slot] = icmpCode;
          all16[icmpIdOut + slot] = icmpId;
        }
        if (vlanTag >= 0) {
          all16[vlanOut + slot * 4] = vlanTag;
          all8[vlanCountOut + slot] = 1;
        }
        // Head bytes: the first min(headBytes, captured) bytes from the IP header on.
        const n = ipAvail < headBytes ? ipAvail : headBytes;
        const base = slot * headBytes;
        let i = 0;
        if (wordHead) {
          let hw = base >>> 2;
          for (; i + 16 <= n; i += 16, hw += 4) {
            const s = o + i;
            headWords[hw] = view.getUint32(s, true);
            headWords[hw + 1] = view.getUint32(s + 4, true);
            headWords[hw + 2] = view.getUint32(s + 8, true);
            headWords[hw + 3] = view.getUint32(s + 12, true);
          }
          for (; i + 4 <= n; i += 4, hw++) headWords[hw] = view.getUint32(o + i, true);
        }
        for (; i < n; i++) head[base + i] = b[o + i]!;
        all8[headLenOut + slot] = n;
        decoded = true;
      }
      if (!decoded) {
        this.generalRecords++;
        batch.resetSlot(slot);
        decodeFrame(b, frame, decodeLen, recordLinkType, batch, slot);
      }
      slot++;
      if (decodeLen < caplen) {
        this.skip = caplen - decodeLen;
        this.leaveRun(batch, end, packets, slot, first, linkType);
        return this.needMore('pcap record');
      }
      start = next;
    }
    this.leaveRun(batch, start, packets, slot, pcapng ? -1 : first, linkType);
    return ParseStatus.BATCH_FULL;
  }

  /**
   * The fast path through the WebAssembly kernel: runs of whole pcap records (or pcapng enhanced
   * packet blocks, `pcapng`) decoded there and copied into the batch, the records it leaves (not
   * the common case) decoded the general way in their slots. Where it stops short (a record not
   * whole in the window, an oversized or corrupt one, another block, the end), parseFast takes
   * over, with its messages: for pcap its status is returned; for pcapng KERNEL_STOPPED says so.
   */
  private parseKernel(batch: PacketBatch, fast: FastLink, kernel: PcapKernel, pcapng: boolean): ParseStatusValue | typeof KERNEL_STOPPED {
    const linkType = this.linkTypes[0] ?? 0;
    if (pcapng) kernel.syncInterfaces(this.interfaces);
    for (;;) {
      const first = batch.count;
      const room = Math.min(batch.capacity - first, kernel.slots);
      if (room === 0) return ParseStatus.BATCH_FULL;
      const n = pcapng
        ? kernel.decodePcapng(this.start, this.end, room, this.bigEndian, this.ifBase, batch.headBytes, this.packets)
        : kernel.decodePcap(this.start, this.end, room, this.pcapRecordHeader, this.pcapSubsecondScale, this.bigEndian, fast, linkType, batch.headBytes, this.packets);
      if (n > 0) {
        kernel.copyInto(batch, first, n);
        this.start = kernel.next;
        this.packets += n;
        this.wasmRecords += n;
        batch.count = first + n;
        const slow = kernel.slowCount;
        for (let k = 0; k < slow; k++) {
          const slot = first + kernel.slowSlot(k);
          this.generalRecords++;
          batch.resetSlot(slot);
          decodeFrame(this.window, kernel.slowFrame(k), batch.caplen[slot]!, batch.linkType[slot]!, batch, slot);
        }
        // Every address word of these slots is written: parseFast zeroes only from here on.
        this.zeroedBatch = batch;
        this.zeroedTo = batch.count;
      }
      if (n < room) return pcapng ? KERNEL_STOPPED : this.parseFast(batch, fast, false) as ParseStatusValue;
    }
  }

  /**
   * parseFast's way out: where the next record starts, packets counted, slots used; a pcap run
   * (`linkFrom` >= 0) also gets its link type over the slots it filled from `linkFrom` on.
   */
  private leaveRun(batch: PacketBatch, start: number, packets: number, slot: number, linkFrom: number, linkType: number): void {
    this.start = start;
    this.packets = packets;
    batch.count = slot;
    if (linkFrom >= 0) batch.linkType.fill(linkType, linkFrom, slot);
  }

  private finish(): ParseStatusValue {
    this.done = true;
    return ParseStatus.END;
  }

  private parsePcapng(batch: PacketBatch): ParseStatusValue {
    while (batch.count < batch.capacity) {
      const status = this.pcapngBlock(batch, false);
      if (status !== NEXT_BLOCK) return status;
    }
    return ParseStatus.BATCH_FULL;
  }

  /**
   * One pcapng block at the window's start: NEXT_BLOCK once handled, else the status to return.
   * `reset`: the batch was not cleared whole (the fast path's), so a packet's slot is reset first.
   */
  private pcapngBlock(batch: PacketBatch, reset: boolean): ParseStatusValue | typeof NEXT_BLOCK {
    const b = this.window;
    const p = this.start;
    const avail = this.end - p;
    if (avail < 12) return avail === 0 && this.eof ? this.finish() : this.needMore('pcapng block header');
    const rawType = u32le(b, p);
    if (rawType === PCAPNG_SHB) {
      // The byte-order magic decides how to read everything in the section, the length included.
      const bom = u32le(b, p + 8);
      if (bom === Pcapng.BYTE_ORDER_MAGIC) this.bigEndian = false;
      else if (u32be(b, p + 8) === Pcapng.BYTE_ORDER_MAGIC) this.bigEndian = true;
      else this.fail(p + 8, `section header block with a bad byte-order magic 0x${u32be(b, p + 8).toString(16).padStart(8, '0')}`);
    }
    const type = this.u32(p);
    const length = this.u32(p + 4);
    if (length < 12 || length % 4 !== 0) this.fail(p + 4, `pcapng block (type 0x${type.toString(16)}) has total length ${length}: must be a multiple of 4 and at least 12`);
    if (length > MAX_RECORD_BYTES) this.fail(p + 4, `pcapng block (type 0x${type.toString(16)}) claims ${length} bytes (more than ${MAX_RECORD_BYTES}): corrupt block header`);
    const isPacket = type === Pcapng.EPB || type === Pcapng.SPB || type === Pcapng.OBSOLETE_PB;
    if (avail < length) {
      if (this.eof) return this.needMore('pcapng block');
      if (!this.windowFull()) return ParseStatus.NEED_MORE;
      // Oversized: a packet block is decoded from the part that fits; other blocks are skipped.
      if (isPacket) this.packetBlock(batch, type, p, length, avail, reset);
      else if (type === PCAPNG_SHB || type === Pcapng.IDB) this.fail(p + 4, `pcapng ${type === Pcapng.IDB ? 'interface description' : 'section header'} block of ${length} bytes is larger than the reader's ${this.window.length}-byte window`);
      this.skip = length - avail;
      this.start = this.end;
      return this.needMore('pcapng block');
    }
    const trailer = this.u32(p + length - 4);
    if (trailer !== length) this.fail(p + length - 4, `pcapng block (type 0x${type.toString(16)}) total length ${length} at its start but ${trailer} at its end`);
    if (type === PCAPNG_SHB) this.sectionHeader(p, length);
    else if (type === Pcapng.IDB) this.interfaceDescription(p, length);
    else if (isPacket) this.packetBlock(batch, type, p, length, length, reset);
    // Any other block (statistics, name resolution, custom, unknown) is skipped by its length.
    this.start = p + length;
    return NEXT_BLOCK;
  }

  private sectionHeader(p: number, length: number): void {
    if (length < 28) this.fail(p + 4, `section header block of ${length} bytes (at least 28)`);
    const major = this.u16(p + 12);
    if (major !== 1) this.fail(p + 12, `unsupported pcapng version ${major}.${this.u16(p + 14)}`);
    this.ifBase = this.linkTypes.length;
    this.interfaces = [];
  }

  private interfaceDescription(p: number, length: number): void {
    if (length < 20) this.fail(p + 4, `interface description block of ${length} bytes (at least 20)`);
    const linkType = this.u16(p + 8);
    const iface: InterfaceState = { linkType, snaplen: this.u32(p + 12), unitsPerSecond: 1e6, offsetSeconds: 0, fast: fastLinkOf(linkType), lastHigh: -1, lastLow: 0, lastSec: 0, lastRem: 0 };
    // Options: code(2) length(2) value padded to 4, until opt_endofopt or the block's end.
    const optEnd = p + length - 4;
    let o = p + 16;
    while (optEnd - o >= 4) {
      const code = this.u16(o);
      const len = this.u16(o + 2);
      if (code === 0) break;
      if (o + 4 + len > optEnd) this.fail(o + 2, `interface description option ${code} of ${len} bytes runs past the block's end`);
      if (code === 9 && len >= 1) {
        // if_tsresol: high bit set = negative power of 2, else of 10.
        const v = this.window[o + 4]!;
        const exp = v & 0x7f;
        const units = v & 0x80 ? 2 ** exp : 10 ** exp;
        if (!Number.isFinite(units) || units > 2 ** 37 || (v & 0x80 && exp > 37) || (!(v & 0x80) && exp > 11)) this.fail(o + 4, `if_tsresol 0x${v.toString(16)} is finer than this reader supports`);
        iface.unitsPerSecond = units;
      } else if (code === 14 && len >= 8) {
        // if_tsoffset: signed 64-bit seconds.
        const hi = this.bigEndian ? u32be(this.window, o + 4) | 0 : u32le(this.window, o + 8) | 0;
        const lo = this.bigEndian ? u32be(this.window, o + 8) : u32le(this.window, o + 4);
        iface.offsetSeconds = hi * 4294967296 + lo;
      }
      o += 4 + ((len + 3) & ~3);
    }
    this.interfaces.push(iface);
    this.linkTypes.push(iface.linkType);
  }

  /** Decodes an EPB, SPB or obsolete PB whose first `present` bytes are in the window. */
  private packetBlock(batch: PacketBatch, type: number, p: number, length: number, present: number, reset: boolean): void {
    let ifId: number;
    let high = 0;
    let low = 0;
    let caplen: number;
    let wireLen: number;
    let data: number;
    if (type === Pcapng.EPB || type === Pcapng.OBSOLETE_PB) {
      if (length < 32) this.fail(p + 4, `${type === Pcapng.EPB ? 'enhanced' : 'obsolete'} packet block of ${length} bytes (at least 32)`);
      ifId = type === Pcapng.EPB ? this.u32(p + 8) : this.u16(p + 8);
      high = this.u32(p + 12);
      low = this.u32(p + 16);
      caplen = this.u32(p + 20);
      wireLen = this.u32(p + 24);
      data = p + 28;
      if (caplen > length - 32) this.fail(p + 20, `packet block of ${length} bytes claims ${caplen} captured bytes`);
    } else {
      if (length < 16) this.fail(p + 4, `simple packet block of ${length} bytes (at least 16)`);
      ifId = 0;
      wireLen = this.u32(p + 8);
      data = p + 12;
      caplen = Math.min(wireLen, length - 16);
    }
    const iface = this.interfaces[ifId];
    if (iface === undefined) this.fail(p + 8, `packet block refers to interface ${ifId}, but the section has ${this.interfaces.length} interface(s)`);
    if (type === Pcapng.SPB && iface.snaplen > 0) caplen = Math.min(caplen, iface.snaplen);
    const slot = batch.count;
    if (reset) batch.resetSlot(slot);
    if (type === Pcapng.SPB) {
      batch.tsSec[slot] = 0;
      batch.tsNsec[slot] = 0;
    } else {
      setUnitsTimestamp(batch, slot, high, low, iface);
    }
    batch.caplen[slot] = caplen;
    batch.wireLen[slot] = wireLen;
    batch.linkType[slot] = iface.linkType;
    batch.ifIndex[slot] = this.ifBase + ifId;
    batch.frameNo[slot] = ++this.packets;
    const decodeLen = Math.max(0, Math.min(caplen, p + present - data));
    decodeFrame(this.window, data, decodeLen, iface.linkType, batch, slot);
    batch.count = slot + 1;
  }
}

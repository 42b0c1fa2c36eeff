/**
 * PacketBatch: a struct of typed arrays carved out of one SharedArrayBuffer.
 *
 * A reader fills it in place, a worker reads it in place (the buffer crosses threads without a
 * copy), and the models write their verdicts into the writable slots. Nothing here allocates per
 * packet; a batch is created once and reused for the whole trace.
 *
 * Addresses: four 32-bit words per packet, in network order read as big-endian numbers, so
 * 192.0.2.1 is 0xc0000201 in word 0. IPv4 uses word 0 only (words 1..3 are zero).
 */

/**
 * Bits of `flags`. A const enum, so that tsc writes the numbers into the per-packet code: V8 reads
 * a module-level object's property through a cell load, a hole check and a map check at every use.
 */
export const enum PacketFlag {
  /** The outermost IP header was decoded (src/dst/proto valid). */
  IP = 1 << 0,
  /** sport/dport are valid (TCP, UDP or SCTP header directly after the outer IP header). */
  PORTS = 1 << 1,
  /** tcpFlags/tcpSeq/tcpAck/tcpWindow are valid. */
  TCP = 1 << 2,
  /** icmpType/icmpCode (and icmpId for echo/timestamp kinds) are valid. */
  ICMP = 1 << 3,
  /** IPv4 MF set or fragment offset non-zero; IPv6 fragment header with M=1 or offset non-zero. */
  FRAGMENT = 1 << 4,
  /** A fragment other than the first (offset non-zero): no transport header. */
  LATER_FRAGMENT = 1 << 5,
  /** The frame was cut before the end of a header the decoder wanted. */
  TRUNCATED = 1 << 6,
  /** A header was present but invalid (bad version, bad header length...). */
  MALFORMED = 1 << 7,
  /** The link type is not one the decoder understands; only the record fields are valid. */
  LINK_NOT_DECODED = 1 << 8,
  /** The IP layer started (l3 set) but its addresses could not be read. */
  IP_PARTIAL = 1 << 9,
  /**
   * Which fields of the outer IP header are valid. All four come with IP; with IP_PARTIAL (a cut
   * or odd header) they say which fields could still be read, as tshark shows them.
   */
  IP_HAS_SRC = 1 << 10,
  IP_HAS_DST = 1 << 11,
  IP_HAS_PROTO = 1 << 12,
  /** The fragment fields (FRAGMENT, LATER_FRAGMENT, fragOffset) could be read. */
  IP_HAS_FRAG = 1 << 13,
}

/** Connection-tracking state written by the conntrack model (0 = not yet looked at). */
export const enum CtState {
  NONE = 0,
  NEW = 1,
  ESTABLISHED = 2,
  RELATED = 3,
  INVALID = 4,
  UNTRACKED = 5,
}
export type CtStateValue = CtState;

/** Verdict written by the pipeline (0 = no stage has decided yet). */
export const enum Verdict {
  NONE = 0,
  ACCEPT = 1,
  DROP = 2,
  REJECT = 3,
}

/**
 * Whether this machine stores numbers little-endian (how a Uint32Array store lays out bytes):
 * the word copies of the decoder and the WebAssembly tuple hash (whose memory is little-endian)
 * depend on it.
 */
export const HOST_LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

export const MAX_VLAN_TAGS = 4;
export const DEFAULT_BATCH_CAPACITY = 4096;
/** Bytes kept per packet from the start of the outermost IP header (for u32 matches and rewrites). */
export const DEFAULT_HEAD_BYTES = 64;
export const NO_VLAN = 0xffff;
export const NO_CONNECTION = 0xffffffff;

/** Index into `meta`. */
const META_COUNT = 0;
const META_BATCH_ID = 1;
const META_HEAD_BYTES = 2;
const META_CAPACITY = 3;
const META_WORDS = 8;

interface Field {
  readonly name: string;
  readonly bytesPerElement: number;
  readonly perPacket: number;
}

/** The layout, in order; every field starts on an 8-byte boundary. */
function layout(headBytes: number): Field[] {
  return [
    { name: 'tsSec', bytesPerElement: 8, perPacket: 1 },
    { name: 'frameNo', bytesPerElement: 8, perPacket: 1 },
    { name: 'src', bytesPerElement: 4, perPacket: 4 },
    { name: 'dst', bytesPerElement: 4, perPacket: 4 },
    { name: 'tsNsec', bytesPerElement: 4, perPacket: 1 },
    { name: 'caplen', bytesPerElement: 4, perPacket: 1 },
    { name: 'wireLen', bytesPerElement: 4, perPacket: 1 },
    { name: 'linkType', bytesPerElement: 4, perPacket: 1 },
    { name: 'ipLen', bytesPerElement: 4, perPacket: 1 },
    { name: 'ipId', bytesPerElement: 4, perPacket: 1 },
    { name: 'tcpSeq', bytesPerElement: 4, perPacket: 1 },
    { name: 'tcpAck', bytesPerElement: 4, perPacket: 1 },
    { name: 'mark', bytesPerElement: 4, perPacket: 1 },
    { name: 'priority', bytesPerElement: 4, perPacket: 1 },
    { name: 'classId', bytesPerElement: 4, perPacket: 1 },
    { name: 'flowHash', bytesPerElement: 4, perPacket: 1 },
    { name: 'ctId', bytesPerElement: 4, perPacket: 1 },
    { name: 'ifIndex', bytesPerElement: 2, perPacket: 1 },
    { name: 'flags', bytesPerElement: 2, perPacket: 1 },
    { name: 'sport', bytesPerElement: 2, perPacket: 1 },
    { name: 'dport', bytesPerElement: 2, perPacket: 1 },
    { name: 'tcpFlags', bytesPerElement: 2, perPacket: 1 },
    { name: 'tcpWindow', bytesPerElement: 2, perPacket: 1 },
    { name: 'icmpId', bytesPerElement: 2, perPacket: 1 },
    { name: 'fragOffset', bytesPerElement: 2, perPacket: 1 },
    { name: 'vlan', bytesPerElement: 2, perPacket: MAX_VLAN_TAGS },
    { name: 'core', bytesPerElement: 2, perPacket: 1 },
    { name: 'l3', bytesPerElement: 1, perPacket: 1 },
    { name: 'proto', bytesPerElement: 1, perPacket: 1 },
    { name: 'ttl', bytesPerElement: 1, perPacket: 1 },
    { name: 'icmpType', bytesPerElement: 1, perPacket: 1 },
    { name: 'icmpCode', bytesPerElement: 1, perPacket: 1 },
    { name: 'vlanCount', bytesPerElement: 1, perPacket: 1 },
    { name: 'headLen', bytesPerElement: 1, perPacket: 1 },
    { name: 'ctState', bytesPerElement: 1, perPacket: 1 },
    { name: 'ctReply', bytesPerElement: 1, perPacket: 1 },
    { name: 'verdict', bytesPerElement: 1, perPacket: 1 },
    { name: 'head', bytesPerElement: 1, perPacket: headBytes },
  ].filter((f) => f.perPacket > 0);
}

/**
 * The slots the models write (and the dispatcher's flowHash and core): a worker that runs its
 * packets in place in a batch shared with other workers keeps these in arrays of its own
 * (`ownModelSlots`), so that two cores never write into the same cache lines.
 */
const MODEL_SLOTS: ReadonlySet<string> = new Set(['mark', 'priority', 'classId', 'flowHash', 'ctId', 'core', 'ctState', 'ctReply', 'verdict']);

interface ModelSlotViews {
  readonly u32: readonly (readonly [Uint32Array, Uint32Array])[];
  readonly u16: readonly (readonly [Uint16Array, Uint16Array])[];
  readonly u8: readonly (readonly [Uint8Array, Uint8Array])[];
}

/** Field f's typed array of n elements: a view over `buffer` at `offset`, or (null) memory of its own. */
function fieldArray(f: Field, n: number, buffer: SharedArrayBuffer | null, offset: number): Float64Array | Uint32Array | Uint16Array | Uint8Array {
  if (f.name === 'tsSec' || f.name === 'frameNo') return buffer ? new Float64Array(buffer, offset, n) : new Float64Array(n);
  if (f.bytesPerElement === 4) return buffer ? new Uint32Array(buffer, offset, n) : new Uint32Array(n);
  if (f.bytesPerElement === 2) return buffer ? new Uint16Array(buffer, offset, n) : new Uint16Array(n);
  return buffer ? new Uint8Array(buffer, offset, n) : new Uint8Array(n);
}

function align8(n: number): number {
  return (n + 7) & ~7;
}

/**
 * Bytes left free after each field, so that field k starts 128*k bytes further along the 4 KiB
 * grid than it would packed. With the usual power-of-two capacities every field's size is a
 * multiple of 4 KiB, so packed fields put slot i of every 32-bit field in the same L1 cache set
 * (4 KiB aliasing): a loop writing a dozen fields per packet then misses L1 on nearly every store
 * (measured: 2.9 vs 1.2 ns per store for 30 fields of 4096 slots).
 */
const FIELD_STAGGER = 128;

/** Bytes of SharedArrayBuffer a batch of this shape needs. */
export function batchByteLength(capacity: number, headBytes: number = DEFAULT_HEAD_BYTES): number {
  let offset = META_WORDS * 4;
  for (const f of layout(headBytes)) offset = align8(offset + f.bytesPerElement * f.perPacket * capacity) + FIELD_STAGGER;
  return offset;
}

export class PacketBatch {
  readonly buffer: SharedArrayBuffer;
  readonly capacity: number;
  readonly headBytes: number;
  /** [count, batchId, headBytes, capacity, ...reserved]: travels with the buffer. */
  readonly meta: Int32Array;
  /**
   * The whole buffer as 64-, 32-, 16- and 8-bit elements: a writer of many fields (the pcap fast
   * path) indexes these four at each field's element offset (`byteOffset` of the field's view
   * divided by its element size) instead of reaching through one array object per field.
   */
  readonly all64: Float64Array;
  readonly all32: Uint32Array;
  readonly all16: Uint16Array;
  readonly all8: Uint8Array;

  // Record fields.
  /** Seconds since the epoch (integer valued; float64 so that times past 2^32 s fit). */
  readonly tsSec: Float64Array;
  /** Nanoseconds within the second. */
  readonly tsNsec: Uint32Array;
  /** 1-based position of the frame in its trace. */
  readonly frameNo: Float64Array;
  readonly caplen: Uint32Array;
  readonly wireLen: Uint32Array;
  /** LINKTYPE_* of the frame's interface (upper bits already masked off). */
  readonly linkType: Uint32Array;
  /** Interface index within the trace (pcapng interface id; 0 for pcap). */
  readonly ifIndex: Uint16Array;

  // Decoded fields.
  readonly flags: Uint16Array;
  /** 0 = no IP layer, 4 or 6. */
  readonly l3: Uint8Array;
  readonly src: Uint32Array;
  readonly dst: Uint32Array;
  /** IP protocol (IPv6: the next header after hop-by-hop, routing, fragment and destination options). */
  readonly proto: Uint8Array;
  readonly ttl: Uint8Array;
  /** Length of the IP datagram as its header states (IPv4 total length; IPv6 40 + payload length). */
  readonly ipLen: Uint32Array;
  /** IPv4 identification or IPv6 fragment identification. */
  readonly ipId: Uint32Array;
  /** Fragment offset in 8-byte units. */
  readonly fragOffset: Uint16Array;
  readonly sport: Uint16Array;
  readonly dport: Uint16Array;
  /** 12-bit TCP flags field ((byte12 & 0x0f) << 8 | byte13). */
  readonly tcpFlags: Uint16Array;
  readonly tcpSeq: Uint32Array;
  readonly tcpAck: Uint32Array;
  readonly tcpWindow: Uint16Array;
  readonly icmpType: Uint8Array;
  readonly icmpCode: Uint8Array;
  readonly icmpId: Uint16Array;
  /** Up to MAX_VLAN_TAGS VLAN ids per packet, outermost first. */
  readonly vlan: Uint16Array;
  readonly vlanCount: Uint8Array;
  /** The first `headLen[i]` bytes of the outermost IP header onwards, `headBytes` per slot. */
  readonly head: Uint8Array;
  readonly headLen: Uint8Array;

  // Slots the models write.
  readonly mark: Uint32Array;
  /** skb->priority, as CLASSIFY sets it (major:minor packed as tc does). */
  readonly priority: Uint32Array;
  readonly classId: Uint32Array;
  readonly flowHash: Uint32Array;
  /** The conntrack model's entry id for this packet's connection (NO_CONNECTION when none). */
  readonly ctId: Uint32Array;
  readonly core: Uint16Array;
  readonly ctState: Uint8Array;
  /** 1 when the packet travels in the reply direction of its connection. */
  readonly ctReply: Uint8Array;
  readonly verdict: Uint8Array;

  /** With own model slots: [shared view, own array] per model slot, for takeModelSlots. */
  private readonly modelSlotPairs: ModelSlotViews | null;

  /**
   * `ownModelSlots`: the model slots (MODEL_SLOTS) are arrays of this thread's own instead of
   * views over the buffer; everything else is shared. For a worker running its share of a batch
   * in place (see takeModelSlots).
   */
  constructor(capacity: number = DEFAULT_BATCH_CAPACITY, headBytes: number = DEFAULT_HEAD_BYTES, buffer?: SharedArrayBuffer, ownModelSlots = false) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 1 << 20) throw new RangeError(`batch capacity must be 1..1048576, got ${capacity}`);
    if (!Number.isInteger(headBytes) || headBytes < 0 || headBytes > 255) throw new RangeError(`head bytes must be 0..255, got ${headBytes}`);
    const size = batchByteLength(capacity, headBytes);
    this.buffer = buffer ?? new SharedArrayBuffer(size);
    if (this.buffer.byteLength < size) throw new RangeError(`buffer of ${this.buffer.byteLength} bytes is too small for a batch needing ${size}`);
    this.capacity = capacity;
    this.headBytes = headBytes;
    this.meta = new Int32Array(this.buffer, 0, META_WORDS);
    this.all64 = new Float64Array(this.buffer, 0, this.buffer.byteLength >>> 3);
    this.all32 = new Uint32Array(this.buffer, 0, this.buffer.byteLength >>> 2);
    this.all16 = new Uint16Array(this.buffer, 0, this.buffer.byteLength >>> 1);
    this.all8 = new Uint8Array(this.buffer);
    if (!buffer) {
      this.meta[META_HEAD_BYTES] = headBytes;
      this.meta[META_CAPACITY] = capacity;
    }
    let offset = META_WORDS * 4;
    const views: Record<string, ArrayBufferView> = {};
    const pairs = { u32: [] as [Uint32Array, Uint32Array][], u16: [] as [Uint16Array, Uint16Array][], u8: [] as [Uint8Array, Uint8Array][] };
    for (const f of layout(headBytes)) {
      const n = f.perPacket * capacity;
      const shared = fieldArray(f, n, this.buffer, offset);
      if (ownModelSlots && MODEL_SLOTS.has(f.name)) {
        const own = fieldArray(f, n, null, 0);
        views[f.name] = own;
        // One list per element type keeps takeModelSlots' copy loops monomorphic.
        if (shared instanceof Uint32Array) pairs.u32.push([shared, own as Uint32Array]);
        else if (shared instanceof Uint16Array) pairs.u16.push([shared, own as Uint16Array]);
        else pairs.u8.push([shared as Uint8Array, own as Uint8Array]);
      } else {
        views[f.name] = shared;
      }
      offset = align8(offset + f.bytesPerElement * n) + FIELD_STAGGER;
    }
    this.modelSlotPairs = ownModelSlots ? pairs : null;
    const v = <T extends ArrayBufferView>(name: string): T => views[name] as T;
    this.tsSec = v('tsSec');
    this.frameNo = v('frameNo');
    this.src = v('src');
    this.dst = v('dst');
    this.tsNsec = v('tsNsec');
    this.caplen = v('caplen');
    this.wireLen = v('wireLen');
    this.linkType = v('linkType');
    this.ipLen = v('ipLen');
    this.ipId = v('ipId');
    this.tcpSeq = v('tcpSeq');
    this.tcpAck = v('tcpAck');
    this.mark = v('mark');
    this.priority = v('priority');
    this.classId = v('classId');
    this.flowHash = v('flowHash');
    this.ctId = v('ctId');
    this.ifIndex = v('ifIndex');
    this.flags = v('flags');
    this.sport = v('sport');
    this.dport = v('dport');
    this.tcpFlags = v('tcpFlags');
    this.tcpWindow = v('tcpWindow');
    this.icmpId = v('icmpId');
    this.fragOffset = v('fragOffset');
    this.vlan = v('vlan');
    this.core = v('core');
    this.l3 = v('l3');
    this.proto = v('proto');
    this.ttl = v('ttl');
    this.icmpType = v('icmpType');
    this.icmpCode = v('icmpCode');
    this.vlanCount = v('vlanCount');
    this.headLen = v('headLen');
    this.ctState = v('ctState');
    this.ctReply = v('ctReply');
    this.verdict = v('verdict');
    this.head = headBytes > 0 ? v('head') : new Uint8Array(0);
  }

  /** Rebuilds the views over a buffer that came from another thread. */
  /** Views over a batch another thread made (`ownModelSlots`: see the constructor). */
  static fromBuffer(buffer: SharedArrayBuffer, ownModelSlots = false): PacketBatch {
    const meta = new Int32Array(buffer, 0, META_WORDS);
    return new PacketBatch(meta[META_CAPACITY] ?? 0, meta[META_HEAD_BYTES] ?? 0, buffer, ownModelSlots);
  }

  /**
   * For a batch with own model slots: copies the model slots of packets `index[0..count)` from
   * the shared buffer (what the reader and the dispatcher wrote) into this thread's arrays, at
   * the same slots, before the models run on them.
   */
  takeModelSlots(index: Uint32Array, count: number): void {
    const pairs = this.modelSlotPairs;
    if (pairs === null) throw new Error('takeModelSlots needs a batch built with ownModelSlots');
    for (const [from, to] of pairs.u32) for (let j = 0; j < count; j++) { const i = index[j]!; to[i] = from[i]!; }
    for (const [from, to] of pairs.u16) for (let j = 0; j < count; j++) { const i = index[j]!; to[i] = from[i]!; }
    for (const [from, to] of pairs.u8) for (let j = 0; j < count; j++) { const i = index[j]!; to[i] = from[i]!; }
  }

  get count(): number {
    return this.meta[META_COUNT] ?? 0;
  }

  set count(n: number) {
    if (n < 0 || n > this.capacity) throw new RangeError(`count ${n} outside 0..${this.capacity}`);
    this.meta[META_COUNT] = n;
  }

  get batchId(): number {
    return this.meta[META_BATCH_ID] ?? 0;
  }

  set batchId(id: number) {
    this.meta[META_BATCH_ID] = id;
  }

  /**
   * Clears the decoded fields and model slots of slot i before a decoder writes it. Record
   * fields are always overwritten by the reader, so they are left alone.
   */
  resetSlot(i: number): void {
    this.flags[i] = 0;
    this.l3[i] = 0;
    const w = i * 4;
    this.src[w] = 0; this.src[w + 1] = 0; this.src[w + 2] = 0; this.src[w + 3] = 0;
    this.dst[w] = 0; this.dst[w + 1] = 0; this.dst[w + 2] = 0; this.dst[w + 3] = 0;
    this.proto[i] = 0;
    this.ttl[i] = 0;
    this.ipLen[i] = 0;
    this.ipId[i] = 0;
    this.fragOffset[i] = 0;
    this.sport[i] = 0;
    this.dport[i] = 0;
    this.tcpFlags[i] = 0;
    this.tcpSeq[i] = 0;
    this.tcpAck[i] = 0;
    this.tcpWindow[i] = 0;
    this.icmpType[i] = 0;
    this.icmpCode[i] = 0;
    this.icmpId[i] = 0;
    this.vlanCount[i] = 0;
    this.headLen[i] = 0;
    this.mark[i] = 0;
    this.priority[i] = 0;
    this.classId[i] = 0;
    this.flowHash[i] = 0;
    this.ctId[i] = NO_CONNECTION;
    this.core[i] = 0;
    this.ctState[i] = 0;
    this.ctReply[i] = 0;
    this.verdict[i] = 0;
  }

  /** Copies slot `from` of `source` into slot `to` of this batch (used when re-sharding packets). */
  copySlotFrom(source: PacketBatch, from: number, to: number): void {
    this.tsSec[to] = source.tsSec[from]!;
    this.tsNsec[to] = source.tsNsec[from]!;
    this.frameNo[to] = source.frameNo[from]!;
    this.caplen[to] = source.caplen[from]!;
    this.wireLen[to] = source.wireLen[from]!;
    this.linkType[to] = source.linkType[from]!;
    this.ifIndex[to] = source.ifIndex[from]!;
    this.flags[to] = source.flags[from]!;
    this.l3[to] = source.l3[from]!;
    for (let k = 0; k < 4; k++) {
      this.src[to * 4 + k] = source.src[from * 4 + k]!;
      this.dst[to * 4 + k] = source.dst[from * 4 + k]!;
    }
    this.proto[to] = source.proto[from]!;
    this.ttl[to] = source.ttl[from]!;
    this.ipLen[to] = source.ipLen[from]!;
    this.ipId[to] = source.ipId[from]!;
    this.fragOffset[to] = source.fragOffset[from]!;
    this.sport[to] = source.sport[from]!;
    this.dport[to] = source.dport[from]!;
    this.tcpFlags[to] = source.tcpFlags[from]!;
    this.tcpSeq[to] = source.tcpSeq[from]!;
    this.tcpAck[to] = source.tcpAck[from]!;
    this.tcpWindow[to] = source.tcpWindow[from]!;
    this.icmpType[to] = source.icmpType[from]!;
    this.icmpCode[to] = source.icmpCode[from]!;
    this.icmpId[to] = source.icmpId[from]!;
    for (let k = 0; k < MAX_VLAN_TAGS; k++) this.vlan[to * MAX_VLAN_TAGS + k] = source.vlan[from * MAX_VLAN_TAGS + k]!;
    this.vlanCount[to] = source.vlanCount[from]!;
    const n = Math.min(source.headLen[from]!, this.headBytes);
    if (n > 0) this.head.set(source.head.subarray(from * source.headBytes, from * source.headBytes + n), to * this.headBytes);
    this.headLen[to] = n;
    this.mark[to] = source.mark[from]!;
    this.priority[to] = source.priority[from]!;
    this.classId[to] = source.classId[from]!;
    this.flowHash[to] = source.flowHash[from]!;
    this.ctId[to] = source.ctId[from]!;
    this.core[to] = source.core[from]!;
    this.ctState[to] = source.ctState[from]!;
    this.ctReply[to] = source.ctReply[from]!;
    this.verdict[to] = source.verdict[from]!;
  }

  /** Trace time of packet i in nanoseconds relative to `originSec` (exact while below 2^53 ns). */
  timeNs(i: number, originSec: number): number {
    return (this.tsSec[i]! - originSec) * 1e9 + this.tsNsec[i]!;
  }
}

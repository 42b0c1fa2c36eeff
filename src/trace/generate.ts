/**
 * Synthetic trace generator: real Ethernet/IPv4/IPv6/TCP/UDP/ICMP/ICMPv6 frames with correct
 * checksums (RFC 791 header checksum, RFC 793/768/8200 pseudo-header checksums, RFC 4443), so
 * that a real Linux firewall accepts them when the kernel lab replays the trace.
 *
 * Pure (no I/O). `next(out, offset)` writes one frame into a caller's buffer and returns its
 * length; `fillBatch` writes the same packets straight into a PacketBatch with the decoded fields
 * set as a decoder would. Memory is bounded by the number of flows (a few typed arrays of
 * `flows` entries for the plan) and the number of flows active at once, never by packets.
 *
 * Flow patterns (uniform, zipf, elephant, single-flow): every flow gets a packet budget (its
 * minimal lifecycle plus a share of the rest by the pattern's weights, rounded so the budgets sum
 * to exactly `packets`), a virtual start time and a duration proportional to its budget (so about
 * `concurrent` flows are active at once). A heap keyed on each active flow's next virtual packet
 * time interleaves them; real timestamps are spaced by exactly 1/pps.
 *
 * Lifecycles:
 * - TCP: SYN, SYN/ACK, ACK (SYN and SYN/ACK carry an MSS option); data: a client request, then
 *   server segments with a client ACK after every two; close: FIN/ACK, FIN/ACK, ACK, or (10 % of
 *   flows, and every flow with a budget of 4 or 5) a client RST/ACK. seq/ack are consistent.
 * - UDP: request, response, request, ... (client port ephemeral, server port a common service).
 * - ICMP/ICMPv6: echo request / echo reply pairs with one id per flow and seq 1, 2, ...
 */
import { PacketFlag, type PacketBatch } from './batch.js';
import { parsePrefix, prefixMask, type Prefix } from './prefix.js';
import { Xoshiro128 } from './prng.js';

export const PATTERNS = ['uniform', 'zipf', 'elephant', 'synflood', 'portscan', 'single-flow'] as const;
export type Pattern = (typeof PATTERNS)[number];

export interface ProtocolMix {
  tcp: number;
  udp: number;
  icmp: number;
}

export interface GenerateOptions {
  seed?: number;
  /** Flows in the trace (uniform, zipf, elephant); single-flow uses 1, synflood/portscan ignore it. */
  flows?: number;
  /** Exactly this many packets. */
  packets?: number;
  /** Packets per second of trace time (timestamps are spaced by 1/pps). */
  pps?: number;
  /** Trace start, seconds since the epoch. */
  startSec?: number;
  mix?: ProtocolMix;
  pattern?: Pattern;
  /** Zipf exponent s for the zipf pattern. */
  zipfS?: number;
  /** Share of flows (or of synflood packets) that are IPv6, 0..1. */
  ipv6?: number;
  /** Payload bytes of TCP data and UDP packets, uniform in [min, max]. */
  payloadMin?: number;
  payloadMax?: number;
  /** Flows active at once, on average (flow patterns). */
  concurrent?: number;
  /** Bytes captured per frame (caplen = min(frame, snaplen)). */
  snaplen?: number;
  clientNet?: string;
  serverNet?: string;
  clientNet6?: string;
  serverNet6?: string;
}

export const GENERATE_DEFAULTS = {
  seed: 1,
  flows: 1000,
  packets: 100_000,
  pps: 100_000,
  startSec: 1_700_000_000,
  mix: { tcp: 70, udp: 25, icmp: 5 },
  pattern: 'uniform' as Pattern,
  zipfS: 1.1,
  ipv6: 0,
  payloadMin: 64,
  payloadMax: 1400,
  concurrent: 1000,
  snaplen: 262144,
  clientNet: '10.0.0.0/16',
  serverNet: '198.51.100.0/24',
  clientNet6: 'fd00::/64',
  serverNet6: '2001:db8::/64',
} as const;

/** Largest payload: 1500-byte MTU minus IPv6 (40) and TCP (20) headers. */
export const MAX_PAYLOAD_BYTES = 1440;
/** Largest frame the generator writes: Ethernet + IPv6 + TCP + MAX_PAYLOAD_BYTES. */
export const MAX_FRAME_BYTES = 14 + 40 + 20 + MAX_PAYLOAD_BYTES;
/** Share of TCP flows (with room for a FIN close) that end with a client RST instead. */
export const RST_CLOSE_SHARE = 0.1;
/** Elephant pattern: 1 % of flows (at least one) carry 80 % of the packets beyond the minimal lifecycles. */
export const ELEPHANT_FLOW_SHARE = 0.01;
export const ELEPHANT_PACKET_SHARE = 0.8;
/** ICMP echo payload (ping's default 56 bytes). */
export const ICMP_ECHO_PAYLOAD = 56;

const PROTO_ICMP = 1;
const PROTO_TCP = 6;
const PROTO_UDP = 17;
const PROTO_ICMPV6 = 58;
const TCP_FIN = 0x01;
const TCP_SYN = 0x02;
const TCP_RST = 0x04;
const TCP_PSH = 0x08;
const TCP_ACK = 0x10;
const CLIENT_WINDOW = 64240;
const SERVER_WINDOW = 65160;
const TTL = 64;
/** Minimal lifecycle lengths: TCP handshake + RST, one UDP exchange, one echo exchange. */
const MIN_TCP = 4;
const MIN_OTHER = 2;
/** Server ports drawn per flow (repeats weight the common ones). */
const TCP_SERVICES = Uint16Array.of(443, 443, 443, 443, 80, 80, 22, 25, 993, 8080);
const UDP_SERVICES = Uint16Array.of(53, 53, 53, 443, 443, 123, 500, 4500, 1194, 51820);
/** Ports a portscan finds open (they answer SYN/ACK and the scanner resets). */
const SCAN_OPEN_PORTS = Uint16Array.of(22, 80, 443);
/** Linux's default ip_local_port_range. */
const EPHEMERAL_LOW = 32768;
const EPHEMERAL_COUNT = 61000 - 32768;

export interface ResolvedGenerateOptions {
  readonly seed: number;
  readonly flows: number;
  readonly packets: number;
  readonly pps: number;
  readonly startSec: number;
  readonly mix: ProtocolMix;
  readonly pattern: Pattern;
  readonly zipfS: number;
  readonly ipv6: number;
  readonly payloadMin: number;
  readonly payloadMax: number;
  readonly concurrent: number;
  readonly snaplen: number;
  readonly clientNet: Prefix;
  readonly serverNet: Prefix;
  readonly clientNet6: Prefix;
  readonly serverNet6: Prefix;
}

function check(ok: boolean, message: string): void {
  if (!ok) throw new RangeError(message);
}

/** Fills defaults and validates; throws RangeError naming the option. */
export function resolveGenerateOptions(o: GenerateOptions = {}): ResolvedGenerateOptions {
  const d = GENERATE_DEFAULTS;
  const r = {
    seed: o.seed ?? d.seed,
    flows: o.flows ?? d.flows,
    packets: o.packets ?? d.packets,
    pps: o.pps ?? d.pps,
    startSec: o.startSec ?? d.startSec,
    mix: o.mix ?? { ...d.mix },
    pattern: o.pattern ?? d.pattern,
    zipfS: o.zipfS ?? d.zipfS,
    ipv6: o.ipv6 ?? d.ipv6,
    payloadMin: o.payloadMin ?? d.payloadMin,
    payloadMax: o.payloadMax ?? d.payloadMax,
    concurrent: o.concurrent ?? d.concurrent,
    snaplen: o.snaplen ?? d.snaplen,
    clientNet: parsePrefix(o.clientNet ?? d.clientNet, 4),
    serverNet: parsePrefix(o.serverNet ?? d.serverNet, 4),
    clientNet6: parsePrefix(o.clientNet6 ?? d.clientNet6, 6),
    serverNet6: parsePrefix(o.serverNet6 ?? d.serverNet6, 6),
  };
  check(Number.isSafeInteger(r.seed) && r.seed >= 0, `seed must be a whole number >= 0, got ${r.seed}`);
  check(Number.isInteger(r.flows) && r.flows >= 1 && r.flows <= 1 << 24, `flows must be 1..${1 << 24}, got ${r.flows}`);
  check(Number.isInteger(r.packets) && r.packets >= 1 && r.packets <= 0xffffffff, `packets must be 1..4294967295, got ${r.packets}`);
  check(Number.isInteger(r.pps) && r.pps >= 1 && r.pps <= 1e9, `pps must be a whole number 1..1e9, got ${r.pps}`);
  check(Number.isInteger(r.startSec) && r.startSec >= 0 && r.startSec < 2 ** 33, `start must be a whole number of seconds >= 0, got ${r.startSec}`);
  check(PATTERNS.includes(r.pattern), `pattern must be one of ${PATTERNS.join(', ')}, got ${String(r.pattern)}`);
  check(Number.isFinite(r.zipfS) && r.zipfS > 0 && r.zipfS <= 10, `zipf exponent must be in (0, 10], got ${r.zipfS}`);
  check(r.ipv6 >= 0 && r.ipv6 <= 1, `ipv6 share must be 0..1, got ${r.ipv6}`);
  check(Number.isInteger(r.payloadMin) && Number.isInteger(r.payloadMax) && r.payloadMin >= 0 && r.payloadMin <= r.payloadMax && r.payloadMax <= MAX_PAYLOAD_BYTES,
    `payload bytes must be whole numbers 0 <= min <= max <= ${MAX_PAYLOAD_BYTES}, got ${r.payloadMin}-${r.payloadMax}`);
  check(Number.isInteger(r.concurrent) && r.concurrent >= 1 && r.concurrent <= 1 << 24, `concurrent flows must be 1..${1 << 24}, got ${r.concurrent}`);
  check(Number.isInteger(r.snaplen) && r.snaplen >= 1 && r.snaplen <= 262144, `snaplen must be 1..262144, got ${r.snaplen}`);
  const m = r.mix;
  check([m.tcp, m.udp, m.icmp].every((x) => Number.isFinite(x) && x >= 0) && m.tcp + m.udp + m.icmp > 0, 'protocol mix needs non-negative shares with a positive sum');
  for (const [name, p, family] of [['client', r.clientNet, 4], ['server', r.serverNet, 4], ['client IPv6', r.clientNet6, 6], ['server IPv6', r.serverNet6, 6]] as const) {
    check(p.length <= (family === 4 ? 30 : 126), `${name} prefix /${p.length} leaves no room for hosts (at most /${family === 4 ? 30 : 126})`);
  }
  if (r.pattern === 'single-flow') r.flows = 1;
  return r;
}

/** Minimal packets a flow needs for a complete lifecycle, by the mix (the CLI checks --packets with it). */
export function minimumPackets(o: ResolvedGenerateOptions): number {
  if (o.pattern === 'synflood' || o.pattern === 'portscan') return 1;
  const perFlow = o.mix.tcp > 0 || o.pattern === 'elephant' ? MIN_TCP : MIN_OTHER;
  return perFlow * o.flows;
}

/** One's-complement sum of big-endian 16-bit words (not folded). */
export function sum16(buf: Uint8Array, start: number, end: number): number {
  let s = 0;
  let i = start;
  for (; i + 1 < end; i += 2) s += (buf[i]! << 8) | buf[i + 1]!;
  if (i < end) s += buf[i]! << 8;
  return s;
}

/** Folds a sum into the 16-bit Internet checksum (RFC 1071). */
export function foldChecksum(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 65536);
  return ~s & 0xffff;
}

/** Per-flow plan (uniform, zipf, elephant, single-flow): O(flows) bytes, no packets. */
interface FlowPlan {
  budget: Uint32Array;
  proto: Uint8Array;
  v6: Uint8Array;
  /** Flow positions sorted by virtual start time. */
  order: Uint32Array;
}

/** Active-flow state in typed arrays, indexed by slot; grows by doubling when needed. */
class FlowSlots {
  capacity = 0;
  budget = new Uint32Array(0);
  step = new Uint32Array(0);
  start = new Float64Array(0);
  duration = new Float64Array(0);
  proto = new Uint8Array(0);
  v6 = new Uint8Array(0);
  rstClose = new Uint8Array(0);
  client = new Uint32Array(0);
  server = new Uint32Array(0);
  clientPort = new Uint16Array(0);
  serverPort = new Uint16Array(0);
  clientSeq = new Uint32Array(0);
  serverSeq = new Uint32Array(0);
  clientIpId = new Uint16Array(0);
  serverIpId = new Uint16Array(0);
  flowLabel = new Uint32Array(0);
  echoId = new Uint16Array(0);
  free = new Int32Array(0);
  freeCount = 0;

  constructor(initial: number) {
    this.grow(initial);
  }

  alloc(): number {
    if (this.freeCount === 0) this.grow(this.capacity * 2);
    return this.free[--this.freeCount]!;
  }

  release(slot: number): void {
    this.free[this.freeCount++] = slot;
  }

  private grow(n: number): void {
    const old = this.capacity;
    const g = <T extends Uint8Array | Uint16Array | Uint32Array | Int32Array | Float64Array>(a: T, per = 1): T => {
      const b = new (a.constructor as new (len: number) => T)(n * per);
      b.set(a);
      return b;
    };
    this.budget = g(this.budget); this.step = g(this.step); this.start = g(this.start);
    this.duration = g(this.duration); this.proto = g(this.proto);
    this.v6 = g(this.v6); this.rstClose = g(this.rstClose); this.client = g(this.client, 4);
    this.server = g(this.server, 4); this.clientPort = g(this.clientPort); this.serverPort = g(this.serverPort);
    this.clientSeq = g(this.clientSeq); this.serverSeq = g(this.serverSeq); this.clientIpId = g(this.clientIpId);
    this.serverIpId = g(this.serverIpId); this.flowLabel = g(this.flowLabel); this.echoId = g(this.echoId);
    const free = new Int32Array(n);
    free.set(this.free.subarray(0, this.freeCount));
    let f = this.freeCount;
    for (let s = n - 1; s >= old; s--) free[f++] = s;
    this.free = free;
    this.freeCount = f;
    this.capacity = n;
  }
}

/** Deterministic synthetic packet source; see the file comment. */
export class TraceGenerator {
  readonly options: ResolvedGenerateOptions;
  readonly maxFrameBytes = MAX_FRAME_BYTES;
  /** Ethernet (LINKTYPE_ETHERNET). */
  readonly linkType = 1;

  // Record fields of the packet last produced.
  tsSec = 0;
  tsNsec = 0;
  frameLen = 0;
  caplen = 0;

  // Decoded fields of the packet last produced (for fillBatch and tests).
  l3 = 0;
  proto = 0;
  readonly src = new Uint32Array(4);
  readonly dst = new Uint32Array(4);
  sport = 0;
  dport = 0;
  tcpFlags = 0;
  tcpSeq = 0;
  tcpAck = 0;
  tcpWindow = 0;
  icmpType = 0;
  icmpCode = 0;
  icmpId = 0;
  ipLen = 0;
  ipId = 0;
  /** Offset of the transport header and of the payload within the frame. */
  l4Offset = 0;
  payloadOffset = 0;

  private readonly rng: Xoshiro128;
  private emitted = 0;
  private readonly plan: FlowPlan | null;
  private readonly slots: FlowSlots;
  private heap: Int32Array;
  /** heapKey[i] = next virtual packet time of the slot in heap[i] (kept beside it for locality). */
  private heapKey: Float64Array;
  private heapSize = 0;
  private nextFlow = 0;
  private flowsStarted = 0;
  private peakActive = 0;
  private readonly sportOffset: number;
  private readonly payloadTemplate: Uint8Array;
  /** payloadViews[n] = first n template bytes, preallocated so copying allocates nothing. */
  private readonly payloadViews: Uint8Array[];
  /** payloadSums[n] = sum16 of the first n template bytes. */
  private readonly payloadSums: Uint32Array;
  private readonly frame = new Uint8Array(MAX_FRAME_BYTES);
  private readonly addrScratch = new Uint32Array(4);
  // Single-source patterns.
  private readonly scanner = new Uint32Array(4);
  private readonly target = new Uint32Array(4);
  private readonly target6 = new Uint32Array(4);
  private singleV6 = 0;
  private scanSport = 0;
  private scanOffset = 0;
  private scanProbe = 0;
  private scanStep = 0;
  private scanSeq = 0;
  private scanServerSeq = 0;
  private scanTargets = 0;

  constructor(options: GenerateOptions = {}) {
    this.options = resolveGenerateOptions(options);
    const o = this.options;
    this.rng = new Xoshiro128(o.seed);
    this.payloadTemplate = new Uint8Array(MAX_PAYLOAD_BYTES);
    // Printable, position-dependent bytes: easy to recognise in a hex dump.
    for (let i = 0; i < MAX_PAYLOAD_BYTES; i++) this.payloadTemplate[i] = 0x20 + (i % 95);
    this.payloadViews = [];
    this.payloadSums = new Uint32Array(MAX_PAYLOAD_BYTES + 1);
    for (let n = 0; n <= MAX_PAYLOAD_BYTES; n++) {
      this.payloadViews.push(this.payloadTemplate.subarray(0, n));
      this.payloadSums[n] = sum16(this.payloadTemplate, 0, n);
    }
    this.sportOffset = this.rng.int(EPHEMERAL_COUNT);
    if (o.pattern === 'synflood' || o.pattern === 'portscan') {
      this.plan = null;
      this.slots = new FlowSlots(1);
      this.heap = new Int32Array(1);
      this.heapKey = new Float64Array(1);
      this.singleV6 = this.rng.nextFloat() < o.ipv6 ? 1 : 0;
      this.randomHost(this.singleV6 ? o.clientNet6 : o.clientNet, this.scanner);
      this.randomHost(o.serverNet, this.target);
      this.randomHost(o.serverNet6, this.target6);
      this.scanSport = EPHEMERAL_LOW + this.rng.int(EPHEMERAL_COUNT);
      this.scanOffset = this.rng.int(65535);
    } else {
      if (o.packets < minimumPackets(o)) {
        throw new RangeError(`${o.packets} packets are too few for ${o.flows} flows: complete lifecycles need at least ${minimumPackets(o)}`);
      }
      this.plan = this.planFlows();
      const initial = Math.min(o.flows, Math.max(16, 2 * o.concurrent));
      this.slots = new FlowSlots(initial);
      this.heap = new Int32Array(initial);
      this.heapKey = new Float64Array(initial);
    }
  }

  /** Packets produced so far. */
  get packetCount(): number {
    return this.emitted;
  }

  /** Flows started so far (flow patterns; synflood counts each SYN, portscan each probe). */
  get flowCount(): number {
    return this.flowsStarted;
  }

  /** Most flows that were active at once so far (what the per-flow state had to hold). */
  get peakActiveFlows(): number {
    return this.peakActive;
  }

  get done(): boolean {
    return this.emitted >= this.options.packets;
  }

  /**
   * Writes the next frame at `out[offset..]` (room for `maxFrameBytes` needed) and returns its
   * length, or 0 when the trace is complete. Record and decoded fields describe it afterwards.
   */
  next(out: Uint8Array, offset: number): number {
    const o = this.options;
    if (this.emitted >= o.packets) return 0;
    const i = this.emitted;
    // Timestamp of packet i: start + i/pps, exact in integers.
    const whole = Math.floor(i / o.pps);
    this.tsSec = o.startSec + whole;
    this.tsNsec = Math.floor(((i - whole * o.pps) * 1e9) / o.pps);
    let len: number;
    if (o.pattern === 'synflood') len = this.synflood(out, offset);
    else if (o.pattern === 'portscan') len = this.portscan(out, offset);
    else len = this.flowPacket(out, offset);
    this.emitted++;
    this.frameLen = len;
    this.caplen = len < o.snaplen ? len : o.snaplen;
    return len;
  }

  /**
   * Fills `batch` from slot 0 with up to `batch.capacity` packets, the record fields and the
   * decoded fields set as the decoder sets them for these frames (Ethernet, outer IP header,
   * ports, TCP, ICMP, the head bytes from the IP header on). Returns the count (0 at the end).
   */
  fillBatch(batch: PacketBatch): number {
    const frame = this.frame;
    let n = 0;
    while (n < batch.capacity) {
      const len = this.next(frame, 0);
      if (len === 0) break;
      batch.resetSlot(n);
      batch.tsSec[n] = this.tsSec;
      batch.tsNsec[n] = this.tsNsec;
      batch.frameNo[n] = this.emitted;
      batch.caplen[n] = this.caplen;
      batch.wireLen[n] = len;
      batch.linkType[n] = this.linkType;
      batch.ifIndex[n] = 0;
      this.decodedInto(batch, n);
      n++;
    }
    batch.count = n;
    return n;
  }

  private decodedInto(batch: PacketBatch, n: number): void {
    const cap = this.caplen;
    const l3End = this.l4Offset;
    if (cap < l3End) {
      batch.flags[n] = PacketFlag.TRUNCATED;
      return;
    }
    const l4Header = this.proto === PROTO_TCP ? 20 : 8;
    let flags: number = PacketFlag.IP;
    batch.l3[n] = this.l3;
    const w = n * 4;
    for (let k = 0; k < 4; k++) {
      batch.src[w + k] = this.src[k]!;
      batch.dst[w + k] = this.dst[k]!;
    }
    batch.proto[n] = this.proto;
    batch.ttl[n] = TTL;
    batch.ipLen[n] = this.ipLen;
    batch.ipId[n] = this.ipId;
    if (cap < l3End + l4Header) flags |= PacketFlag.TRUNCATED;
    else if (this.proto === PROTO_TCP || this.proto === PROTO_UDP) {
      flags |= PacketFlag.PORTS;
      batch.sport[n] = this.sport;
      batch.dport[n] = this.dport;
      if (this.proto === PROTO_TCP) {
        flags |= PacketFlag.TCP;
        batch.tcpFlags[n] = this.tcpFlags;
        batch.tcpSeq[n] = this.tcpSeq;
        batch.tcpAck[n] = this.tcpAck;
        batch.tcpWindow[n] = this.tcpWindow;
      }
    } else {
      flags |= PacketFlag.ICMP;
      batch.icmpType[n] = this.icmpType;
      batch.icmpCode[n] = this.icmpCode;
      batch.icmpId[n] = this.icmpId;
    }
    batch.flags[n] = flags;
    const head = Math.min(batch.headBytes, cap - 14);
    const base = n * batch.headBytes;
    for (let k = 0; k < head; k++) batch.head[base + k] = this.frame[14 + k]!;
    batch.headLen[n] = head;
  }

  // ---- planning -------------------------------------------------------------------------

  private planFlows(): FlowPlan {
    const o = this.options;
    const n = o.flows;
    const rng = this.rng;
    const budget = new Uint32Array(n);
    const proto = new Uint8Array(n);
    const v6 = new Uint8Array(n);
    const elephants = o.pattern === 'elephant' ? Math.max(1, Math.round(n * ELEPHANT_FLOW_SHARE)) : 0;
    const mixSum = o.mix.tcp + o.mix.udp + o.mix.icmp;
    let minSum = 0;
    for (let r = 0; r < n; r++) {
      const x = rng.nextFloat() * mixSum;
      const p = r < elephants || x < o.mix.tcp ? PROTO_TCP : x < o.mix.tcp + o.mix.udp ? PROTO_UDP : PROTO_ICMP;
      proto[r] = p;
      v6[r] = rng.nextFloat() < o.ipv6 ? 1 : 0;
      budget[r] = p === PROTO_TCP ? MIN_TCP : MIN_OTHER;
      minSum += budget[r]!;
    }
    // The rest by weight, rounded on the cumulative sum so the budgets add up exactly.
    const rest = o.packets - minSum;
    const weight = (r: number): number =>
      o.pattern === 'zipf' ? Math.pow(r + 1, -o.zipfS)
      : o.pattern === 'elephant' && elephants < n ? (r < elephants ? ELEPHANT_PACKET_SHARE / elephants : (1 - ELEPHANT_PACKET_SHARE) / (n - elephants))
      : 1;
    let total = 0;
    for (let r = 0; r < n; r++) total += weight(r);
    let cum = 0;
    let given = 0;
    for (let r = 0; r < n; r++) {
      cum += weight(r);
      const upTo = r === n - 1 ? rest : Math.min(rest, Math.round((rest * cum) / total));
      budget[r] = budget[r]! + (upTo - given);
      given = upTo;
    }
    // Shuffle so popularity rank does not follow start order.
    for (let r = n - 1; r > 0; r--) {
      const j = rng.int(r + 1);
      swap(budget, r, j);
      swap(proto, r, j);
      swap(v6, r, j);
    }
    // Order by virtual start time (counting sort on n buckets).
    const bucketOf = new Uint32Array(n);
    const counts = new Uint32Array(n + 1);
    for (let k = 0; k < n; k++) {
      const b = Math.min(n - 1, Math.floor(this.startOf(k, budget[k]!) * n));
      bucketOf[k] = b;
      counts[b + 1]!++;
    }
    for (let b = 0; b < n; b++) counts[b + 1] = counts[b + 1]! + counts[b]!;
    const order = new Uint32Array(n);
    for (let k = 0; k < n; k++) order[counts[bucketOf[k]!]!++] = k;
    return { budget, proto, v6, order };
  }

  /** Virtual duration (share of the trace) of a flow of `budget` packets. */
  private durationOf(budget: number): number {
    return Math.min(1, (budget * this.options.concurrent) / this.options.packets);
  }

  /** Virtual start of flow position k: evenly spread, early enough to finish by 1. */
  private startOf(k: number, budget: number): number {
    return ((k + 0.5) / this.options.flows) * (1 - this.durationOf(budget));
  }

  // ---- flow patterns ---------------------------------------------------------------------

  private flowPacket(out: Uint8Array, offset: number): number {
    const plan = this.plan!;
    const s = this.slots;
    // Start every flow whose virtual start has come.
    while (this.nextFlow < this.options.flows) {
      const k = plan.order[this.nextFlow]!;
      const start = this.startOf(k, plan.budget[k]!);
      if (this.heapSize > 0 && start > this.heapKey[0]!) break;
      this.activate(k, start);
      this.nextFlow++;
    }
    const slot = this.heap[0]!;
    const step = s.step[slot]!;
    const len = this.emitFlowStep(slot, step, out, offset);
    const budget = s.budget[slot]!;
    s.step[slot] = step + 1;
    if (step + 1 >= budget) {
      this.heapPopTop();
      s.release(slot);
    } else {
      this.heapKey[0] = s.start[slot]! + (s.duration[slot]! * (step + 1)) / (budget - 1);
      this.siftDown(0);
    }
    return len;
  }

  private activate(k: number, start: number): void {
    const plan = this.plan!;
    const s = this.slots;
    const o = this.options;
    const rng = this.rng;
    const slot = s.alloc();
    const budget = plan.budget[k]!;
    const proto = plan.proto[k]!;
    const v6 = plan.v6[k]!;
    s.budget[slot] = budget;
    s.step[slot] = 0;
    s.start[slot] = start;
    s.duration[slot] = this.durationOf(budget);
    s.v6[slot] = v6;
    s.proto[slot] = proto === PROTO_ICMP && v6 ? PROTO_ICMPV6 : proto;
    s.rstClose[slot] = proto === PROTO_TCP && (budget < 6 || rng.nextFloat() < RST_CLOSE_SHARE) ? 1 : 0;
    this.randomHost(v6 ? o.clientNet6 : o.clientNet, this.addrScratch);
    s.client.set(this.addrScratch, slot * 4);
    this.randomHost(v6 ? o.serverNet6 : o.serverNet, this.addrScratch);
    s.server.set(this.addrScratch, slot * 4);
    // Ephemeral ports walk the range in a scrambled order so concurrent flows rarely collide.
    s.clientPort[slot] = EPHEMERAL_LOW + ((this.flowsStarted * 7919 + this.sportOffset) % EPHEMERAL_COUNT);
    s.serverPort[slot] = proto === PROTO_TCP ? TCP_SERVICES[rng.int(TCP_SERVICES.length)]! : proto === PROTO_UDP ? UDP_SERVICES[rng.int(UDP_SERVICES.length)]! : 0;
    s.clientSeq[slot] = rng.nextU32();
    s.serverSeq[slot] = rng.nextU32();
    s.clientIpId[slot] = rng.int(65536);
    s.serverIpId[slot] = rng.int(65536);
    s.flowLabel[slot] = rng.int(1 << 20);
    s.echoId[slot] = rng.int(65536);
    this.flowsStarted++;
    if (this.heapSize === this.heap.length) {
      const h = new Int32Array(this.heap.length * 2);
      h.set(this.heap);
      this.heap = h;
      const k = new Float64Array(this.heapKey.length * 2);
      k.set(this.heapKey);
      this.heapKey = k;
    }
    this.heap[this.heapSize] = slot;
    this.heapKey[this.heapSize] = start;
    this.siftUp(this.heapSize++);
    if (this.heapSize > this.peakActive) this.peakActive = this.heapSize;
  }

  private emitFlowStep(slot: number, step: number, out: Uint8Array, offset: number): number {
    const s = this.slots;
    const proto = s.proto[slot]!;
    const budget = s.budget[slot]!;
    if (proto === PROTO_UDP) {
      const fromClient = (step & 1) === 0;
      return this.buildFrame(out, offset, slot, fromClient, 0, this.payloadLength(), 0);
    }
    if (proto === PROTO_ICMP || proto === PROTO_ICMPV6) {
      const fromClient = (step & 1) === 0;
      return this.buildFrame(out, offset, slot, fromClient, 0, ICMP_ECHO_PAYLOAD, (step >>> 1) + 1);
    }
    // TCP.
    const closeLen = s.rstClose[slot] ? 1 : 3;
    const dataEnd = budget - closeLen;
    if (step === 0) {
      const isn = s.clientSeq[slot]!;
      s.clientSeq[slot] = (isn + 1) >>> 0;
      return this.tcp(out, offset, slot, true, TCP_SYN, isn, 0, 0);
    }
    if (step === 1) {
      const isn = s.serverSeq[slot]!;
      s.serverSeq[slot] = (isn + 1) >>> 0;
      return this.tcp(out, offset, slot, false, TCP_SYN | TCP_ACK, isn, s.clientSeq[slot]!, 0);
    }
    if (step === 2) return this.tcp(out, offset, slot, true, TCP_ACK, s.clientSeq[slot]!, s.serverSeq[slot]!, 0);
    if (step < dataEnd) {
      const d = step - 3;
      if (d === 0) return this.tcpData(out, offset, slot, true, TCP_PSH | TCP_ACK);
      const phase = (d - 1) % 3;
      if (phase === 0) return this.tcpData(out, offset, slot, false, TCP_ACK);
      if (phase === 1) return this.tcpData(out, offset, slot, false, TCP_PSH | TCP_ACK);
      return this.tcp(out, offset, slot, true, TCP_ACK, s.clientSeq[slot]!, s.serverSeq[slot]!, 0);
    }
    if (closeLen === 1) return this.tcp(out, offset, slot, true, TCP_RST | TCP_ACK, s.clientSeq[slot]!, s.serverSeq[slot]!, 0);
    const c = step - dataEnd;
    if (c === 0) {
      const seq = s.clientSeq[slot]!;
      s.clientSeq[slot] = (seq + 1) >>> 0;
      return this.tcp(out, offset, slot, true, TCP_FIN | TCP_ACK, seq, s.serverSeq[slot]!, 0);
    }
    if (c === 1) {
      const seq = s.serverSeq[slot]!;
      s.serverSeq[slot] = (seq + 1) >>> 0;
      return this.tcp(out, offset, slot, false, TCP_FIN | TCP_ACK, seq, s.clientSeq[slot]!, 0);
    }
    return this.tcp(out, offset, slot, true, TCP_ACK, s.clientSeq[slot]!, s.serverSeq[slot]!, 0);
  }

  private tcpData(out: Uint8Array, offset: number, slot: number, fromClient: boolean, flags: number): number {
    const s = this.slots;
    const len = Math.max(1, this.payloadLength());
    if (fromClient) {
      const seq = s.clientSeq[slot]!;
      s.clientSeq[slot] = (seq + len) >>> 0;
      return this.tcp(out, offset, slot, true, flags, seq, s.serverSeq[slot]!, len);
    }
    const seq = s.serverSeq[slot]!;
    s.serverSeq[slot] = (seq + len) >>> 0;
    return this.tcp(out, offset, slot, false, flags, seq, s.clientSeq[slot]!, len);
  }

  private tcp(out: Uint8Array, offset: number, slot: number, fromClient: boolean, flags: number, seq: number, ack: number, payload: number): number {
    this.tcpFlags = flags;
    this.tcpSeq = seq;
    this.tcpAck = ack;
    this.tcpWindow = fromClient ? CLIENT_WINDOW : SERVER_WINDOW;
    return this.buildFrame(out, offset, slot, fromClient, flags, payload, 0);
  }

  private payloadLength(): number {
    const o = this.options;
    return o.payloadMin + this.rng.int(o.payloadMax - o.payloadMin + 1);
  }

  /**
   * Builds Ethernet + IP + transport + payload for a flow slot. TCP fields come from this.tcp*;
   * `echoSeq` is the ICMP echo sequence number.
   */
  private buildFrame(out: Uint8Array, offset: number, slot: number, fromClient: boolean, tcpFlags: number, payload: number, echoSeq: number): number {
    const s = this.slots;
    const v6 = s.v6[slot]!;
    const proto = s.proto[slot]!;
    const a = slot * 4;
    const srcArr = fromClient ? s.client : s.server;
    const dstArr = fromClient ? s.server : s.client;
    for (let k = 0; k < 4; k++) {
      this.src[k] = srcArr[a + k]!;
      this.dst[k] = dstArr[a + k]!;
    }
    let ipId = 0;
    if (!v6) {
      if (fromClient) { ipId = s.clientIpId[slot]!; s.clientIpId[slot] = (ipId + 1) & 0xffff; }
      else { ipId = s.serverIpId[slot]!; s.serverIpId[slot] = (ipId + 1) & 0xffff; }
    }
    if (proto === PROTO_TCP) {
      this.sport = fromClient ? s.clientPort[slot]! : s.serverPort[slot]!;
      this.dport = fromClient ? s.serverPort[slot]! : s.clientPort[slot]!;
    } else if (proto === PROTO_UDP) {
      this.sport = fromClient ? s.clientPort[slot]! : s.serverPort[slot]!;
      this.dport = fromClient ? s.serverPort[slot]! : s.clientPort[slot]!;
      this.tcpFlags = 0; this.tcpSeq = 0; this.tcpAck = 0; this.tcpWindow = 0;
    } else {
      this.sport = 0; this.dport = 0;
      this.tcpFlags = 0; this.tcpSeq = 0; this.tcpAck = 0; this.tcpWindow = 0;
    }
    const icmpType = proto === PROTO_ICMP ? (fromClient ? 8 : 0) : (fromClient ? 128 : 129);
    return this.writeFrame(out, offset, fromClient, v6 === 1, proto, ipId, s.flowLabel[slot]!, tcpFlags, payload, icmpType, s.echoId[slot]!, echoSeq);
  }

  // ---- synflood and portscan -------------------------------------------------------------

  private synflood(out: Uint8Array, offset: number): number {
    const o = this.options;
    const rng = this.rng;
    const v6 = rng.nextFloat() < o.ipv6;
    this.randomHost(v6 ? o.clientNet6 : o.clientNet, this.src);
    this.dst.set(v6 ? this.target6 : this.target);
    this.sport = 1024 + rng.int(65536 - 1024);
    this.dport = 80;
    this.tcpFlags = TCP_SYN;
    this.tcpSeq = rng.nextU32();
    this.tcpAck = 0;
    this.tcpWindow = CLIENT_WINDOW;
    this.flowsStarted++;
    return this.writeFrame(out, offset, true, v6, PROTO_TCP, rng.int(65536), rng.int(1 << 20), TCP_SYN, 0, 0, 0, 0);
  }

  /** One source probes one target's ports in a scrambled order: SYN, then RST/ACK from a closed
   * port, or SYN/ACK from an open one and the scanner's RST. A new target after all 65535. */
  private portscan(out: Uint8Array, offset: number): number {
    const rng = this.rng;
    const v6 = this.singleV6 === 1;
    const dport = ((this.scanProbe * 7919 + this.scanOffset) % 65535) + 1;
    const open = SCAN_OPEN_PORTS.includes(dport);
    const step = this.scanStep;
    if (step === 0) {
      if (this.scanProbe === 0 && this.scanTargets > 0) this.randomHost(v6 ? this.options.serverNet6 : this.options.serverNet, v6 ? this.target6 : this.target);
      this.scanSeq = rng.nextU32();
      this.flowsStarted++;
    }
    const fromScanner = step !== 1;
    const scanner = this.scanner;
    const target = v6 ? this.target6 : this.target;
    this.src.set(fromScanner ? scanner : target);
    this.dst.set(fromScanner ? target : scanner);
    this.sport = fromScanner ? this.scanSport : dport;
    this.dport = fromScanner ? dport : this.scanSport;
    this.tcpWindow = step === 0 ? 1024 : 0;
    let flags: number;
    if (step === 0) {
      flags = TCP_SYN;
      this.tcpSeq = this.scanSeq;
      this.tcpAck = 0;
    } else if (step === 1 && open) {
      flags = TCP_SYN | TCP_ACK;
      this.scanServerSeq = rng.nextU32();
      this.tcpSeq = this.scanServerSeq;
      this.tcpAck = (this.scanSeq + 1) >>> 0;
      this.tcpWindow = SERVER_WINDOW;
    } else if (step === 1) {
      flags = TCP_RST | TCP_ACK;
      this.tcpSeq = 0;
      this.tcpAck = (this.scanSeq + 1) >>> 0;
    } else {
      flags = TCP_RST;
      this.tcpSeq = (this.scanSeq + 1) >>> 0;
      this.tcpAck = 0;
    }
    this.tcpFlags = flags;
    const last = open ? 2 : 1;
    if (step >= last) {
      this.scanStep = 0;
      this.scanProbe++;
      if (this.scanProbe === 65535) {
        this.scanProbe = 0;
        this.scanTargets++;
      }
    } else this.scanStep = step + 1;
    const ipId = fromScanner ? rng.int(65536) : 0;
    return this.writeFrame(out, offset, fromScanner, v6, PROTO_TCP, ipId, 0, flags, 0, 0, 0, 0);
  }

  // ---- frame writer ----------------------------------------------------------------------

  /** Writes the frame for this.src/dst/sport/dport/tcp* and returns its length. */
  private writeFrame(out: Uint8Array, o: number, fromClient: boolean, v6: boolean, proto: number, ipId: number, flowLabel: number,
    tcpFlags: number, payload: number, icmpType: number, echoId: number, echoSeq: number): number {
    // Ethernet: client side 02:00:00:00:00:01, gateway 02:00:00:00:00:02.
    out.fill(0, o, o + 12);
    out[o] = 2; out[o + 5] = fromClient ? 2 : 1;
    out[o + 6] = 2; out[o + 11] = fromClient ? 1 : 2;
    out[o + 12] = v6 ? 0x86 : 0x08;
    out[o + 13] = v6 ? 0xdd : 0x00;
    const l3 = o + 14;
    const ipHeader = v6 ? 40 : 20;
    const l4 = l3 + ipHeader;
    const syn = (tcpFlags & TCP_SYN) !== 0;
    const l4Header = proto === PROTO_TCP ? (syn ? 24 : 20) : 8;
    const l4Len = l4Header + payload;
    const src = this.src;
    const dst = this.dst;
    this.l3 = v6 ? 6 : 4;
    this.proto = proto;
    this.ipId = ipId;
    this.l4Offset = 14 + ipHeader;
    this.payloadOffset = 14 + ipHeader + l4Header;
    // Pseudo-header sum (not for ICMPv4).
    let pseudo: number;
    if (v6) {
      out[l3] = 0x60 | 0; out[l3 + 1] = (flowLabel >>> 16) & 0x0f; out[l3 + 2] = (flowLabel >>> 8) & 0xff; out[l3 + 3] = flowLabel & 0xff;
      out[l3 + 4] = l4Len >>> 8; out[l3 + 5] = l4Len & 0xff;
      out[l3 + 6] = proto; out[l3 + 7] = TTL;
      pseudo = l4Len + proto;
      for (let k = 0; k < 4; k++) {
        writeU32(out, l3 + 8 + 4 * k, src[k]!);
        writeU32(out, l3 + 24 + 4 * k, dst[k]!);
        pseudo += (src[k]! >>> 16) + (src[k]! & 0xffff) + (dst[k]! >>> 16) + (dst[k]! & 0xffff);
      }
      this.ipLen = 40 + l4Len;
    } else {
      const total = 20 + l4Len;
      out[l3] = 0x45; out[l3 + 1] = 0;
      out[l3 + 2] = total >>> 8; out[l3 + 3] = total & 0xff;
      out[l3 + 4] = ipId >>> 8; out[l3 + 5] = ipId & 0xff;
      out[l3 + 6] = 0x40; out[l3 + 7] = 0; // DF, as Linux sets it with path MTU discovery
      out[l3 + 8] = TTL; out[l3 + 9] = proto;
      out[l3 + 10] = 0; out[l3 + 11] = 0;
      writeU32(out, l3 + 12, src[0]!);
      writeU32(out, l3 + 16, dst[0]!);
      const c = foldChecksum(sum16(out, l3, l3 + 20));
      out[l3 + 10] = c >>> 8; out[l3 + 11] = c & 0xff;
      pseudo = proto === PROTO_ICMP ? 0 : (src[0]! >>> 16) + (src[0]! & 0xffff) + (dst[0]! >>> 16) + (dst[0]! & 0xffff) + proto + l4Len;
      this.ipLen = total;
    }
    let csumAt: number;
    if (proto === PROTO_TCP) {
      out[l4] = this.sport >>> 8; out[l4 + 1] = this.sport & 0xff;
      out[l4 + 2] = this.dport >>> 8; out[l4 + 3] = this.dport & 0xff;
      writeU32(out, l4 + 4, this.tcpSeq);
      writeU32(out, l4 + 8, this.tcpAck);
      out[l4 + 12] = (l4Header / 4) << 4; out[l4 + 13] = tcpFlags;
      out[l4 + 14] = this.tcpWindow >>> 8; out[l4 + 15] = this.tcpWindow & 0xff;
      out[l4 + 16] = 0; out[l4 + 17] = 0; out[l4 + 18] = 0; out[l4 + 19] = 0;
      if (syn) {
        const mss = v6 ? 1440 : 1460;
        out[l4 + 20] = 2; out[l4 + 21] = 4; out[l4 + 22] = mss >>> 8; out[l4 + 23] = mss & 0xff;
      }
      csumAt = l4 + 16;
      this.icmpType = 0; this.icmpCode = 0; this.icmpId = 0;
    } else if (proto === PROTO_UDP) {
      out[l4] = this.sport >>> 8; out[l4 + 1] = this.sport & 0xff;
      out[l4 + 2] = this.dport >>> 8; out[l4 + 3] = this.dport & 0xff;
      out[l4 + 4] = l4Len >>> 8; out[l4 + 5] = l4Len & 0xff;
      out[l4 + 6] = 0; out[l4 + 7] = 0;
      csumAt = l4 + 6;
      this.icmpType = 0; this.icmpCode = 0; this.icmpId = 0;
    } else {
      out[l4] = icmpType; out[l4 + 1] = 0; out[l4 + 2] = 0; out[l4 + 3] = 0;
      out[l4 + 4] = echoId >>> 8; out[l4 + 5] = echoId & 0xff;
      out[l4 + 6] = (echoSeq >>> 8) & 0xff; out[l4 + 7] = echoSeq & 0xff;
      csumAt = l4 + 2;
      this.icmpType = icmpType; this.icmpCode = 0; this.icmpId = echoId;
    }
    out.set(this.payloadViews[payload]!, l4 + l4Header);
    let c = foldChecksum(pseudo + sum16(out, l4, l4 + l4Header) + this.payloadSums[payload]!);
    if (c === 0 && proto === PROTO_UDP) c = 0xffff; // RFC 768: 0 means "no checksum"
    out[csumAt] = c >>> 8; out[csumAt + 1] = c & 0xff;
    return 14 + ipHeader + l4Len;
  }

  // ---- heap of active slots keyed by their next virtual packet time ------------------------

  /** Entry (key ka, slot a) comes before (kb, b): earlier time, then lower slot (deterministic). */
  private static before(ka: number, a: number, kb: number, b: number): boolean {
    return ka < kb || (ka === kb && a < b);
  }

  private siftUp(i: number): void {
    const h = this.heap;
    const hk = this.heapKey;
    const x = h[i]!;
    const kx = hk[i]!;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = h[parent]!;
      const kp = hk[parent]!;
      if (!TraceGenerator.before(kx, x, kp, p)) break;
      h[i] = p;
      hk[i] = kp;
      i = parent;
    }
    h[i] = x;
    hk[i] = kx;
  }

  private siftDown(i: number): void {
    const h = this.heap;
    const hk = this.heapKey;
    const n = this.heapSize;
    const x = h[i]!;
    const kx = hk[i]!;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && TraceGenerator.before(hk[c + 1]!, h[c + 1]!, hk[c]!, h[c]!)) c++;
      if (!TraceGenerator.before(hk[c]!, h[c]!, kx, x)) break;
      h[i] = h[c]!;
      hk[i] = hk[c]!;
      i = c;
    }
    h[i] = x;
    hk[i] = kx;
  }

  private heapPopTop(): void {
    this.heapSize--;
    if (this.heapSize > 0) {
      this.heap[0] = this.heap[this.heapSize]!;
      this.heapKey[0] = this.heapKey[this.heapSize]!;
      this.siftDown(0);
    }
  }

  /** A random host address inside `p` (never the all-zeros host, nor IPv4 broadcast). */
  private randomHost(p: Prefix, out: Uint32Array): void {
    const rng = this.rng;
    if (p.family === 4) {
      const hostBits = 32 - p.length;
      const hosts = 2 ** hostBits - 2; // prefix length <= 30 so at least 2
      out[0] = (p.words[0]! + 1 + rng.int(hosts)) >>> 0;
      out[1] = 0; out[2] = 0; out[3] = 0;
      return;
    }
    let any = 0;
    for (let k = 0; k < 4; k++) {
      const mask = prefixMask(6, p.length, k);
      const hostPart = (rng.nextU32() & ~mask) >>> 0;
      any |= hostPart;
      out[k] = (p.words[k]! | hostPart) >>> 0;
    }
    if (any === 0) out[3] = (out[3]! | 1) >>> 0;
  }
}

function writeU32(out: Uint8Array, at: number, v: number): void {
  out[at] = v >>> 24; out[at + 1] = (v >>> 16) & 0xff; out[at + 2] = (v >>> 8) & 0xff; out[at + 3] = v & 0xff;
}

function swap(a: Uint8Array | Uint32Array, i: number, j: number): void {
  const t = a[i]!;
  a[i] = a[j]!;
  a[j] = t;
}

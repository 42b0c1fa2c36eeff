/**
 * The conntrack hooks as pipeline stages (net/netfilter/nf_conntrack_core.c):
 *
 * - ConntrackInStage = `nf_conntrack_in` (PRE_ROUTING/LOCAL_OUT, priority -200): finds the
 *   packet's entry or creates an unconfirmed one, runs the protocol handler, and writes the
 *   packet's ctState, ctId and ctReply.
 * - ConntrackConfirmStage = `__nf_conntrack_confirm` (POST_ROUTING/LOCAL_IN, last priority):
 *   inserts the new entry into the hash only if the packet was not dropped on the way.
 * - ConntrackStage runs both back to back (no rules between them).
 *
 * A packet whose ctState is already UNTRACKED (a raw-table NOTRACK rule ran first) is left
 * alone, as nf_conntrack_in leaves an skb that already carries the untracked conntrack.
 */
import type { PipelineStage } from '../pipeline/stage.js';
import { CtState, NO_CONNECTION, PacketFlag, Verdict, type PacketBatch } from '../trace/batch.js';
import { icmpIsError, icmpPacket, NR_ICMP_TYPES, setQuotedTuple } from './proto-icmp.js';
import { tcpPacket } from './proto-tcp.js';
import { genericPacket, udpPacket } from './proto-udp.js';
import { CtStatus, NO_NODE, PacketResult, WALK_UNDECIDED, type ConntrackTable, type PacketResultValue } from './table.js';
import { HASH_RUN_CAPACITY, HASH_RUN_RECORD_WORDS, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_UDPLITE, carriesPorts, icmpReplyType, putTupleRecord } from './tuple.js';

const BROKEN = PacketFlag.MALFORMED | PacketFlag.IP_PARTIAL;
/** Flags a packet needs (TCP also needs PacketFlag.TCP) and must not have for prepare() to hash it ahead. */
const PREPARE_MASK = PacketFlag.IP | PacketFlag.PORTS | PacketFlag.LATER_FRAGMENT | BROKEN;
const PREPARE_WANT = PacketFlag.IP | PacketFlag.PORTS;

/** Marks packet i untracked (what the raw table's NOTRACK / CT --notrack does before conntrack). */
export function markUntracked(batch: PacketBatch, i: number): void {
  batch.ctState[i] = CtState.UNTRACKED;
  batch.ctId[i] = NO_CONNECTION;
}

/**
 * TCP payload bytes of packet i: skb->len - dataoff - doff * 4 (segment_seq_plus_len). The IP
 * header length comes from the head bytes (IPv6: the fixed 40-byte header; extension headers
 * before TCP are not counted out), the TCP header length from its data offset (20 when the head
 * bytes stop short of it).
 */
export function tcpPayloadBytes(batch: PacketBatch, i: number): number {
  const base = i * batch.headBytes;
  const headLen = batch.headLen[i]!;
  const ipHeader = batch.l3[i] === 6 ? 40 : headLen > 0 ? (batch.head[base]! & 0x0f) * 4 : 20;
  const tcpHeader = headLen > ipHeader + 12 ? (batch.head[base + ipHeader + 12]! >> 4) * 4 : 20;
  const n = batch.ipLen[i]! - ipHeader - tcpHeader;
  return n > 0 ? n : 0;
}

/** Trace nanoseconds to the model's wrapping millisecond clock (HZ = 1000). */
export function nsToMs(nowNs: number): number {
  return Math.floor(nowNs / 1e6) >>> 0;
}

export class ConntrackInStage implements PipelineStage {
  readonly name = 'conntrack-in';
  /** The unconfirmed entry the current packet created (NO_NODE when none). */
  pending = NO_NODE;
  /** The latest trace time seen: the table's clock never runs backwards (out-of-order captures keep it). */
  private latestNs = 0;
  // prepare(): per batch slot, the tuple hash computed ahead and whether it is waiting for packet().
  private preparedBatch: PacketBatch | null = null;
  private preHash = new Int32Array(0);
  private preReady = new Uint8Array(0);
  /** Per batch slot, the chain walk done ahead (ConntrackTable.lookupRun; node WALK_UNDECIDED: none). */
  private preNode = new Int32Array(0);
  private preVisited = new Int32Array(0);
  private preExpiry = new Int32Array(0);
  private preGeneration = new Int32Array(0);
  private preBucket = new Int32Array(0);
  /** The trace time (ns, as packet() gets it) when prepare() walked. */
  private preWalkedNs = new Float64Array(0);
  /** prepareRun(): the batch slot of each tuple of the run. */
  private runSlots = new Int32Array(0);
  private runHeads = new Int32Array(0);
  /** What the cache-warming loads summed to (kept so that they are not optimised away). */
  warmed = 0;

  constructor(readonly table: ConntrackTable) {}

  /**
   * The read-only half of nf_conntrack_in for a run of packets: hashes the tuples of the TCP, UDP,
   * UDP-Lite, SCTP and DCCP packets (what hash_conntrack_raw would compute in packet()) and warms
   * the chain heads and first records their lookups will read. Other packets are left to packet().
   */
  prepare(batch: PacketBatch, index: Uint32Array | null, from: number, to: number): void {
    if (this.preHash.length < batch.capacity) {
      this.preHash = new Int32Array(batch.capacity);
      this.preReady = new Uint8Array(batch.capacity);
      this.preNode = new Int32Array(batch.capacity);
      this.preVisited = new Int32Array(batch.capacity);
      this.preExpiry = new Int32Array(batch.capacity);
      this.preGeneration = new Int32Array(batch.capacity);
      this.preBucket = new Int32Array(batch.capacity);
      this.preWalkedNs = new Float64Array(batch.capacity);
    }
    if (this.preparedBatch !== batch) {
      this.preReady.fill(0);
      this.preparedBatch = batch;
    }
    for (let start = from; start < to; start += HASH_RUN_CAPACITY) this.prepareRun(batch, index, start, Math.min(to, start + HASH_RUN_CAPACITY));
  }

  /**
   * prepare() for at most HASH_RUN_CAPACITY packets: their tuples put in the table's run, hashed
   * and their chains walked there in one go (ConntrackTable.lookupRun), or hashed and warmed.
   */
  private prepareRun(batch: PacketBatch, index: Uint32Array | null, from: number, to: number): void {
    if (this.runSlots.length < to - from) {
      this.runSlots = new Int32Array(to - from);
      this.runHeads = new Int32Array(to - from);
    }
    const t = this.table;
    const flagsOf = batch.flags;
    const protoOf = batch.proto;
    const l3Of = batch.l3;
    const s = batch.src;
    const d = batch.dst;
    const slots = this.runSlots;
    // Written straight into the run (ConntrackTable.setRunTuple, with the view held for the run).
    const records = t.runRecords;
    let k = 0;
    for (let j = from; j < to; j++) {
      const i = index === null ? j : index[j]!;
      const flags = flagsOf[i]!;
      if ((flags & PREPARE_MASK) !== PREPARE_WANT) continue;
      const proto = protoOf[i]!;
      if (!carriesPorts(proto) || (proto === IPPROTO_TCP && (flags & PacketFlag.TCP) === 0)) continue;
      const w = i * 4;
      const l3 = l3Of[i]!;
      // IPv4: address words 1..3 are not read (zero in the tuple).
      const at = Math.imul(k, HASH_RUN_RECORD_WORDS);
      if (l3 === 6) putTupleRecord(records, at, 6, proto, s[w]! | 0, s[w + 1]! | 0, s[w + 2]! | 0, s[w + 3]! | 0, d[w]! | 0, d[w + 1]! | 0, d[w + 2]! | 0, d[w + 3]! | 0, batch.sport[i]!, batch.dport[i]!);
      else putTupleRecord(records, at, 4, proto, s[w]! | 0, 0, 0, 0, d[w]! | 0, 0, 0, 0, batch.sport[i]!, batch.dport[i]!);
      slots[k++] = i;
    }
    const nowNs = this.latestNs;
    // The walks themselves, in WebAssembly, where the table has the kernel; packet() takes each
    // result while it stands. Else the chains are warmed for packet()'s walk.
    const walked = t.lookupRun(k, nsToMs(nowNs));
    const hashes = t.runHashes;
    const preHash = this.preHash;
    const preReady = this.preReady;
    const preNode = this.preNode;
    if (walked) {
      const preWalkedNs = this.preWalkedNs;
      const node = t.walkNode, visited = t.walkVisited, expiry = t.walkExpiry, bucket = t.walkBucket;
      const preVisited = this.preVisited, preExpiry = this.preExpiry, preGeneration = this.preGeneration, preBucket = this.preBucket;
      for (let m = 0; m < k; m++) {
        const i = slots[m]!;
        preHash[i] = hashes[m]!;
        preReady[i] = 1;
        preNode[i] = node[m]!;
        preVisited[i] = visited[m]!;
        preExpiry[i] = expiry[m]!;
        const b = bucket[m]!;
        preBucket[i] = b;
        preGeneration[i] = t.walkGeneration(b);
        preWalkedNs[i] = nowNs;
      }
    } else {
      for (let m = 0; m < k; m++) {
        const i = slots[m]!;
        preHash[i] = hashes[m]!;
        preReady[i] = 1;
        preNode[i] = WALK_UNDECIDED;
      }
      this.warmed = (this.warmed + t.warm(hashes, k, this.runHeads)) | 0;
    }
  }

  packet(batch: PacketBatch, i: number, nowNs: number): void {
    const t = this.table;
    // A hash prepare() computed for this very packet (cleared here whatever path it takes).
    const prepared = this.preparedBatch === batch && this.preReady[i] === 1;
    if (prepared) this.preReady[i] = 0;
    if (nowNs > this.latestNs) this.latestNs = nowNs;
    else nowNs = this.latestNs;
    if (this.pending !== NO_NODE) {
      // The previous packet never reached the confirm hook: its entry dies unconfirmed.
      t.discard(this.pending);
      this.pending = NO_NODE;
    }
    batch.ctReply[i] = 0;
    if (batch.ctState[i] === CtState.UNTRACKED) {
      batch.ctId[i] = NO_CONNECTION;
      t.stats.untracked++;
      return;
    }
    batch.ctId[i] = NO_CONNECTION;
    if (batch.verdict[i] === Verdict.DROP) return;
    const nowMs = nsToMs(nowNs);
    t.maybeGc(nowMs);
    const flags = batch.flags[i]!;
    const l3 = batch.l3[i]!;
    if ((flags & PacketFlag.IP) === 0) {
      if (l3 !== 0) this.invalid(batch, i);
      else {
        batch.ctState[i] = CtState.NONE;
        t.stats.notIp++;
      }
      return;
    }
    if (flags & PacketFlag.LATER_FRAGMENT) {
      // The kernel reassembles before conntrack; the model sees the pieces and cannot attach them.
      batch.ctState[i] = CtState.INVALID;
      t.stats.laterFragments++;
      return;
    }
    if (flags & BROKEN) return this.invalid(batch, i);
    const proto = batch.proto[i]!;
    const w = i * 4;
    let sport = 0;
    let dport = 0;
    if (proto === IPPROTO_TCP) {
      if ((flags & (PacketFlag.PORTS | PacketFlag.TCP)) !== (PacketFlag.PORTS | PacketFlag.TCP)) return this.invalid(batch, i);
      sport = batch.sport[i]!;
      dport = batch.dport[i]!;
    } else if ((proto === IPPROTO_ICMP && l3 === 4) || (proto === IPPROTO_ICMPV6 && l3 === 6)) {
      if ((flags & PacketFlag.ICMP) === 0) return this.invalid(batch, i);
      const type = batch.icmpType[i]!;
      if (l3 === 4 && type > NR_ICMP_TYPES) return this.error(batch, i);
      if (icmpIsError(l3, type)) return this.related(batch, i, nowMs);
      sport = batch.icmpId[i]!;
      dport = (type << 8) | batch.icmpCode[i]!;
    } else if (carriesPorts(proto)) {
      if ((flags & PacketFlag.PORTS) === 0) return this.invalid(batch, i);
      sport = batch.sport[i]!;
      dport = batch.dport[i]!;
    }
    const s = batch.src;
    const d = batch.dst;
    // The walk prepare() did, while it stands (see ConntrackTable.takeWalk); else find(). The
    // table needs the packet's tuple only for find() and for a new entry.
    let hash: number;
    let node = WALK_UNDECIDED;
    let loaded = true;
    if (prepared) {
      hash = this.preHash[i]!;
      node = t.takeWalk(this.preNode[i]!, this.preVisited[i]!, this.preExpiry[i]!, this.preGeneration[i]!, this.preBucket[i]!, (nowNs - this.preWalkedNs[i]!) / 1e6, nowMs);
      loaded = false;
    } else {
      hash = t.setTuple(l3, proto, s[w]! | 0, s[w + 1]! | 0, s[w + 2]! | 0, s[w + 3]! | 0, d[w]! | 0, d[w + 1]! | 0, d[w + 2]! | 0, d[w + 3]! | 0, sport, dport);
    }
    for (let attempt = 0; attempt < 2; attempt++) {
      if (attempt > 0) node = WALK_UNDECIDED;
      if (node < 0 && !loaded) {
        t.loadTuple(l3, proto, s[w]! | 0, s[w + 1]! | 0, s[w + 2]! | 0, s[w + 3]! | 0, d[w]! | 0, d[w + 1]! | 0, d[w + 2]! | 0, d[w + 3]! | 0, sport, dport);
        loaded = true;
      }
      if (node === WALK_UNDECIDED) node = t.find(hash, nowMs);
      let c: number;
      let dir: number;
      let confirmed: boolean;
      if (node === NO_NODE) {
        // init_conntrack: the reply tuple must be invertible (ICMP: a known request/reply pair).
        if ((proto === IPPROTO_ICMP || proto === IPPROTO_ICMPV6) && icmpReplyType(l3, dport >>> 8) < 0) return this.invalid(batch, i);
        c = t.alloc(hash, nowMs);
        if (c === NO_NODE) {
          // Table full and nothing evictable: NF_DROP (drop counted by alloc).
          batch.verdict[i] = Verdict.DROP;
          batch.ctState[i] = CtState.INVALID;
          return;
        }
        dir = 0;
        confirmed = false;
      } else {
        c = node >>> 1;
        dir = node & 1;
        confirmed = true;
      }
      // ctinfo before the handler runs (resolve_normal_ct).
      const seen = (t.status[c]! & CtStatus.SEEN_REPLY) !== 0;
      const state = dir === 1 || seen ? CtState.ESTABLISHED : CtState.NEW;
      const result = proto === IPPROTO_TCP
        ? tcpPacket(t, c, dir, batch.tcpFlags[i]!, nowMs, confirmed, batch.tcpSeq[i]!, batch.tcpAck[i]!, tcpPayloadBytes(batch, i))
        : this.handle(proto, c, nowMs, confirmed);
      if (result === PacketResult.REPEAT) {
        t.kill(c);
        continue;
      }
      if (result === PacketResult.INVALID) {
        if (!confirmed) t.discard(c);
        return this.invalid(batch, i);
      }
      if (dir === 1 && !seen && t.isLive(c)) t.status[c] = t.status[c]! | CtStatus.SEEN_REPLY;
      batch.ctState[i] = state;
      batch.ctId[i] = c;
      batch.ctReply[i] = dir;
      if (!confirmed) this.pending = c;
      return;
    }
    this.invalid(batch, i);
  }

  private handle(proto: number, c: number, nowMs: number, confirmed: boolean): PacketResultValue {
    const t = this.table;
    switch (proto) {
      case IPPROTO_UDP:
      case IPPROTO_UDPLITE: return udpPacket(t, c, nowMs, confirmed);
      case IPPROTO_ICMP:
      case IPPROTO_ICMPV6: return icmpPacket(t, c, nowMs, confirmed);
      default: return genericPacket(t, c, nowMs);
    }
  }

  /** An ICMP error: RELATED to the connection of the quoted header, else counted `error`. */
  private related(batch: PacketBatch, i: number, nowMs: number): void {
    const t = this.table;
    const hash = setQuotedTuple(t, batch, i);
    const node = hash < 0 ? NO_NODE : t.find(hash, nowMs);
    if (node === NO_NODE) return this.error(batch, i);
    batch.ctState[i] = CtState.RELATED;
    batch.ctId[i] = node >>> 1;
    batch.ctReply[i] = node & 1;
  }

  private invalid(batch: PacketBatch, i: number): void {
    batch.ctState[i] = CtState.INVALID;
    this.table.stats.invalid++;
  }

  private error(batch: PacketBatch, i: number): void {
    batch.ctState[i] = CtState.INVALID;
    this.table.stats.error++;
  }

  finish(endNs: number): void {
    if (this.pending !== NO_NODE) {
      this.table.discard(this.pending);
      this.pending = NO_NODE;
    }
    this.table.expireAll(nsToMs(endNs));
  }
}

export class ConntrackConfirmStage implements PipelineStage {
  readonly name = 'conntrack-confirm';

  constructor(readonly inStage: ConntrackInStage) {}

  /** Runs for dropped packets too: a dropped NEW packet frees its unconfirmed entry. */
  packet(batch: PacketBatch, i: number): void {
    const c = this.inStage.pending;
    if (c === NO_NODE || batch.ctId[i] !== c) return;
    this.inStage.pending = NO_NODE;
    const t = this.inStage.table;
    const v = batch.verdict[i];
    if (v === Verdict.DROP || v === Verdict.REJECT) {
      t.discard(c);
      return;
    }
    if (!t.confirm(c)) batch.verdict[i] = Verdict.DROP;
  }
}

/** Conntrack in and confirm back to back, for runs without rules. */
export class ConntrackStage implements PipelineStage {
  readonly name = 'conntrack';
  readonly in: ConntrackInStage;
  readonly confirm: ConntrackConfirmStage;

  constructor(readonly table: ConntrackTable) {
    this.in = new ConntrackInStage(table);
    this.confirm = new ConntrackConfirmStage(this.in);
  }

  prepare(batch: PacketBatch, index: Uint32Array | null, from: number, to: number): void {
    this.in.prepare(batch, index, from, to);
  }

  packet(batch: PacketBatch, i: number, nowNs: number): void {
    this.in.packet(batch, i, nowNs);
    this.confirm.packet(batch, i);
  }

  finish(endNs: number): void {
    this.in.finish(endNs);
  }
}

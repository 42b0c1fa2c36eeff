/**
 * TCP tracking after net/netfilter/nf_conntrack_proto_tcp.c: `tcp_conntracks[2][6][10]`,
 * `get_conntrack_index`, `tcp_error`'s flag check, `tcp_new` (tcp_loose) and
 * `nf_conntrack_tcp_packet` (reopen after close, ignored packets, ASSURED, RST on an unreplied
 * entry, timeout choice).
 *
 * From `tcp_in_window`, only the end of each direction's data (td_end) and the
 * IP_CT_TCP_FLAG_DATA_UNACKNOWLEDGED flag it keeps: data one side sent that the other has not
 * acknowledged caps the timeout at tcp_timeout_unacknowledged (300 s), as the kernel does.
 *
 * Not modelled (documented in the README): the window checks themselves — every packet is taken
 * as in window, so tcp_be_liberal changes nothing and out-of-window packets and RSTs are not
 * INVALID; window scaling and SACK; the retransmission counter and zero-window timeout caps; the
 * resync of an ignored SYN by its SYN/ACK; the RFC 5961 challenge-ACK special cases; checksums.
 */
import { CtStatus, PacketResult, type ConntrackTable, type PacketResultValue } from './table.js';
import { TcpState } from './timeouts.js';

/** enum tcp_bit_set. */
export const enum TcpIndex { SYN = 0, SYNACK = 1, FIN = 2, ACK = 3, RST = 4, NONE = 5 }

const TH_FIN = 0x01;
const TH_SYN = 0x02;
const TH_RST = 0x04;
const TH_ACK = 0x10;
const TH_URG = 0x20;

const sNO = TcpState.NONE, sSS = TcpState.SYN_SENT, sSR = TcpState.SYN_RECV, sES = TcpState.ESTABLISHED;
const sFW = TcpState.FIN_WAIT, sCW = TcpState.CLOSE_WAIT, sLA = TcpState.LAST_ACK, sTW = TcpState.TIME_WAIT;
const sCL = TcpState.CLOSE, sS2 = TcpState.SYN_SENT2, sIV = TcpState.MAX, sIG = TcpState.IGNORE;

/** tcp_conntracks[dir][index][old state], as in the current kernel source. */
export const TCP_CONNTRACKS: readonly (readonly (readonly number[])[])[] = [
  [
    /* ORIGINAL      sNO  sSS  sSR  sES  sFW  sCW  sLA  sTW  sCL  sS2 */
    /* syn    */ [sSS, sSS, sIG, sIG, sIG, sIG, sIG, sSS, sSS, sS2],
    /* synack */ [sIV, sIV, sSR, sIV, sIV, sIV, sIV, sIV, sIV, sSR],
    /* fin    */ [sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV],
    /* ack    */ [sES, sIV, sES, sES, sCW, sCW, sTW, sTW, sCL, sIV],
    /* rst    */ [sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL],
    /* none   */ [sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV],
  ],
  [
    /* REPLY         sNO  sSS  sSR  sES  sFW  sCW  sLA  sTW  sCL  sS2 */
    /* syn    */ [sIV, sS2, sIV, sIV, sIV, sIV, sIV, sSS, sIV, sS2],
    /* synack */ [sIV, sSR, sIG, sIG, sIG, sIG, sIG, sIG, sIG, sSR],
    /* fin    */ [sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV],
    /* ack    */ [sIV, sIG, sSR, sES, sCW, sCW, sTW, sTW, sCL, sIG],
    /* rst    */ [sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL],
    /* none   */ [sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV],
  ],
];

/** The same table flattened for the per-packet path: [(dir * 6 + index) * 10 + old]. */
const FLAT = Uint8Array.from(TCP_CONNTRACKS.flat(2));

/** get_conntrack_index: RST, then SYN (SYN/ACK if ACK), FIN, ACK, else NONE. */
export function tcpIndex(flags: number): number {
  if (flags & TH_RST) return TcpIndex.RST;
  if (flags & TH_SYN) return flags & TH_ACK ? TcpIndex.SYNACK : TcpIndex.SYN;
  if (flags & TH_FIN) return TcpIndex.FIN;
  if (flags & TH_ACK) return TcpIndex.ACK;
  return TcpIndex.NONE;
}

/** tcp_valid_flags[]: the SYN/FIN/RST/ACK/URG combinations tcp_error accepts (PSH, ECE, CWR are free). */
export function tcpFlagsValid(flags: number): boolean {
  switch (flags & (TH_FIN | TH_SYN | TH_RST | TH_ACK | TH_URG)) {
    case TH_SYN:
    case TH_SYN | TH_URG:
    case TH_SYN | TH_ACK:
    case TH_RST:
    case TH_RST | TH_ACK:
    case TH_FIN | TH_ACK:
    case TH_FIN | TH_ACK | TH_URG:
    case TH_ACK:
    case TH_ACK | TH_URG:
      return true;
    default:
      return false;
  }
}

/** The state a packet moves an entry to (TcpState; MAX = invalid, IGNORE = ignored). */
export function tcpNextState(dir: number, index: number, old: number): number {
  return FLAT[(dir * 6 + index) * 10 + old]!;
}

// Bits of the table's `aux` word for TCP.
const AUX_LAST_INDEX_MASK = 0x7;
const AUX_LAST_DIR = 0x8;
/** IP_CT_TCP_FLAG_CLOSE_INIT seen in either direction. */
const AUX_CLOSE_INIT = 0x10;
/** Picked up mid-stream (tcp_new with tcp_loose): the kernel marks both directions liberal. */
export const TCP_AUX_PICKED_UP = 0x20;
/** seen[dir].td_maxwin != 0: direction dir's sender data is initialized (bit << dir). */
const AUX_SENDER_INIT = 0x40;
/** seen[dir].flags & IP_CT_TCP_FLAG_DATA_UNACKNOWLEDGED (bit << dir). */
const AUX_DATA_UNACK = 0x100;

/** after(a, b) of the kernel: a is later than b in 32-bit sequence space. */
function seqAfter(a: number, b: number): boolean {
  return ((b - a) | 0) < 0;
}

/** segment_seq_plus_len: seq + payload bytes + 1 for SYN + 1 for FIN. */
function segmentEnd(seq: number, flags: number, payload: number): number {
  return (seq + payload + (flags & TH_SYN ? 1 : 0) + (flags & TH_FIN ? 1 : 0)) >>> 0;
}

/**
 * The td_end / DATA_UNACKNOWLEDGED bookkeeping of tcp_in_window for a packet taken as in window.
 * `state` is the entry's state before this packet (the kernel's state->state at that point).
 */
function trackWindow(t: ConntrackTable, c: number, dir: number, flags: number, seq: number, ackIn: number, payload: number, state: number): void {
  const sender = 2 * c + dir;
  const receiver = 2 * c + (1 - dir);
  let aux = t.aux[c]!;
  let end = segmentEnd(seq, flags, payload);
  if ((aux & (AUX_SENDER_INIT << dir)) === 0) {
    aux |= AUX_SENDER_INIT << dir;
    t.tdEnd[sender] = end;
    if (flags & TH_SYN) {
      t.aux[c] = aux;
      if ((flags & TH_ACK) === 0) return; // simultaneous open: nothing more
    } else if ((aux & (AUX_SENDER_INIT << (1 - dir))) === 0) {
      t.tdEnd[receiver] = ackIn; // receiver->td_end = sack: pass III and IV until it speaks
    }
  } else if (((state === sSS && dir === 0) || (state === sSR && dir === 1)) && seqAfter(end, t.tdEnd[sender]!)) {
    t.tdEnd[sender] = end; // a re-initialized SYN (RFC 793): no unacknowledged data
  }
  let ack = ackIn;
  if ((flags & TH_ACK) === 0 || ((flags & (TH_ACK | TH_RST)) === (TH_ACK | TH_RST) && ack === 0)) ack = t.tdEnd[receiver]!;
  if (seq === end && ((flags & TH_RST) === 0 || (seq === 0 && state === sSS))) end = t.tdEnd[sender]!;
  if (seqAfter(end, t.tdEnd[sender]!)) {
    t.tdEnd[sender] = end;
    aux |= AUX_DATA_UNACK << dir;
  }
  if (ack === t.tdEnd[receiver]) aux &= ~(AUX_DATA_UNACK << (1 - dir));
  t.aux[c] = aux;
}

/**
 * nf_conntrack_tcp_packet for packet flags `flags` travelling in `dir` on entry c at `nowMs`.
 * `confirmed` false for the packet that created the entry (tcp_new runs first).
 */
export function tcpPacket(t: ConntrackTable, c: number, dir: number, flags: number, nowMs: number, confirmed: boolean, seq = 0, ack = 0, payload = 0): PacketResultValue {
  if (!tcpFlagsValid(flags)) return PacketResult.INVALID; // tcp_error: "invalid tcp flag combination"
  const index = tcpIndex(flags);
  if (!confirmed) {
    // tcp_new
    const first = tcpNextState(0, index, sNO);
    if (first >= sIV) return PacketResult.INVALID;
    if (first !== sSS) {
      if (!t.tcpLoose) return PacketResult.INVALID;
      t.aux[c] = t.aux[c]! | TCP_AUX_PICKED_UP;
    }
    // seen[0] starts at this packet's end; seen[1] is unknown until the other side speaks.
    t.aux[c] = t.aux[c]! | AUX_SENDER_INIT;
    t.tdEnd[2 * c] = segmentEnd(seq, flags, payload);
    t.tdEnd[2 * c + 1] = 0;
  }
  const old = t.protoState[c]!;
  const next = tcpNextState(dir, index, old);
  const aux = t.aux[c]!;
  switch (next) {
    case sSS:
      if (old < sTW) break;
      // A SYN into TIME_WAIT/CLOSE: reopen when a close was initiated or the last packet this way was an RST.
      if (aux & AUX_CLOSE_INIT || (((aux & AUX_LAST_DIR) !== 0) === (dir === 1) && (aux & AUX_LAST_INDEX_MASK) === TcpIndex.RST)) return PacketResult.REPEAT;
      return ignore(t, c, dir, index);
    case sIG:
      return ignore(t, c, dir, index);
    case sIV:
      return PacketResult.INVALID;
    default:
      break;
  }
  // tcp_in_window: every packet is taken as in window; its data bookkeeping is kept.
  trackWindow(t, c, dir, flags, seq, ack, payload, old);
  let a = (t.aux[c]! & ~(AUX_LAST_INDEX_MASK | AUX_LAST_DIR)) | index | (dir === 1 ? AUX_LAST_DIR : 0);
  if (old !== next && next === sFW) a |= AUX_CLOSE_INIT;
  t.aux[c] = a;
  t.protoState[c] = next;
  const timeouts = t.timeouts.tcp;
  let timeout = index === TcpIndex.RST ? timeouts[sCL]! : timeouts[next]!;
  // Unacknowledged data in either direction caps the timeout (nf_conntrack_tcp_packet).
  if (index !== TcpIndex.RST && (a & (AUX_DATA_UNACK | (AUX_DATA_UNACK << 1))) !== 0 && timeout > timeouts[TcpState.UNACK]!) timeout = timeouts[TcpState.UNACK]!;
  const st = t.status[c]!;
  if ((st & CtStatus.SEEN_REPLY) === 0) {
    if (flags & TH_RST) {
      // "If only reply is a RST ... delete the conntrack immediately."
      t.kill(c);
      return PacketResult.ACCEPT;
    }
    // Mid-stream pickup without a reply: avoid the large ESTABLISHED timeout.
    if (next === sES && timeout > timeouts[TcpState.UNACK]!) timeout = timeouts[TcpState.UNACK]!;
  } else if ((st & CtStatus.ASSURED) === 0 && (old === sSR || old === sES) && next === sES) {
    t.status[c] = st | CtStatus.ASSURED;
  }
  t.refresh(c, nowMs, timeout);
  return PacketResult.ACCEPT;
}

/** The IGNORE case: remember the packet kind and direction, accept without refreshing. */
function ignore(t: ConntrackTable, c: number, dir: number, index: number): PacketResultValue {
  t.aux[c] = (t.aux[c]! & ~(AUX_LAST_INDEX_MASK | AUX_LAST_DIR)) | index | (dir === 1 ? AUX_LAST_DIR : 0);
  return PacketResult.ACCEPT;
}

/**
 * TCP tracking after net/netfilter/nf_conntrack_proto_tcp.c: `tcp_conntracks[2][6][10]`,
 * `get_conntrack_index`, `tcp_error`'s flag check, `tcp_new` (tcp_loose) and
 * `nf_conntrack_tcp_packet` (reopen after close, ignored packets, ASSURED, RST on an unreplied
 * entry, timeout choice).
 *
 * Not modelled (documented in the README): `tcp_in_window` sequence/window tracking — every packet
 * is taken as in window, so tcp_be_liberal changes nothing and out-of-window packets and RSTs are
 * not INVALID; the retransmission counter, unacknowledged-data and zero-window timeout caps; the
 * resync of an ignored SYN by its SYN/ACK; the RFC 5961 challenge-ACK special cases; checksums.
 */
import { CtStatus, PacketResult, type ConntrackTable, type PacketResultValue } from './table.js';
import { TcpState } from './timeouts.js';

/** enum tcp_bit_set. */
export const TcpIndex = { SYN: 0, SYNACK: 1, FIN: 2, ACK: 3, RST: 4, NONE: 5 } as const;

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

/**
 * nf_conntrack_tcp_packet for packet flags `flags` travelling in `dir` on entry c at `nowMs`.
 * `confirmed` false for the packet that created the entry (tcp_new runs first).
 */
export function tcpPacket(t: ConntrackTable, c: number, dir: number, flags: number, nowMs: number, confirmed: boolean): PacketResultValue {
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
  // (tcp_in_window would run here; the model takes every packet as in window.)
  let a = (aux & ~(AUX_LAST_INDEX_MASK | AUX_LAST_DIR)) | index | (dir === 1 ? AUX_LAST_DIR : 0);
  if (old !== next && next === sFW) a |= AUX_CLOSE_INIT;
  t.aux[c] = a;
  t.protoState[c] = next;
  const timeouts = t.timeouts.tcp;
  let timeout = index === TcpIndex.RST ? timeouts[sCL]! : timeouts[next]!;
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

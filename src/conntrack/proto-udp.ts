/**
 * UDP (and UDP-Lite) after net/netfilter/nf_conntrack_proto_udp.c `nf_conntrack_udp_packet`:
 * unreplied entries live udp_timeout (30 s) per packet; once a reply was seen, packets more than
 * 2 s after creation (`stream_ts`) refresh with udp_timeout_stream (120 s) and set ASSURED.
 */
import { CtStatus, PacketResult, type ConntrackTable, type PacketResultValue } from './table.js';

export const UDP_STREAM_DELAY_MS = 2000;

export function udpPacket(t: ConntrackTable, c: number, nowMs: number, confirmed: boolean): PacketResultValue {
  // aux holds stream_ts (set for the unconfirmed entry: "if (!nf_ct_is_confirmed(ct))").
  if (!confirmed) t.aux[c] = (nowMs + UDP_STREAM_DELAY_MS) >>> 0;
  const st = t.status[c]!;
  if (st & CtStatus.SEEN_REPLY) {
    // time_after(jiffies, stream_ts)
    if (((t.aux[c]! - nowMs) | 0) < 0) {
      t.refresh(c, nowMs, t.timeouts.udpStream);
      t.status[c] = st | CtStatus.ASSURED;
    } else {
      t.refresh(c, nowMs, t.timeouts.udp);
    }
  } else {
    t.refresh(c, nowMs, t.timeouts.udp);
  }
  return PacketResult.ACCEPT;
}

/** nf_conntrack_generic.c: any other protocol, one timeout. */
export function genericPacket(t: ConntrackTable, c: number, nowMs: number): PacketResultValue {
  t.refresh(c, nowMs, t.timeouts.generic);
  return PacketResult.ACCEPT;
}

/**
 * Does one rule match one packet? Mirrors ip_packet_match / ip6_packet_match
 * (net/ipv4/netfilter/ip_tables.c, net/ipv6/netfilter/ip6_tables.c) for the fixed header fields,
 * then each extension match in order, as xt_*.c do: xt_tcpudp.c (tcp_mt, udp_mt), xt_multiport.c,
 * xt_conntrack.c (conntrack_mt), xt_state.c, xt_mark.c, xt_connmark.c, xt_iprange.c, xt_set.c,
 * xt_limit.c (limit_mt), ip_tables.c icmp_match / ip6_tables.c icmp6_match, xt_addrtype.c.
 * Nothing here allocates.
 */
import { NAT_STATUS_DST, NAT_STATUS_SRC, type ConntrackView } from '../conntrack/view.js';
import { CtState, NO_CONNECTION, PacketFlag, type PacketBatch } from '../trace/batch.js';
import { setLookup, SetType } from './ipset.js';
import { CREDITS_PER_JIFFY, LIMIT_HZ } from './parse.js';
import { AddrType, CTSTATE_DNAT, CTSTATE_SNAT, MatchKind, RuleFlag, type Match, type Rule, type Ruleset } from './ruleset.js';

/** What a hook knows besides the packet: its devices, the conntrack view, local addresses. */
export interface MatchEnv {
  /** Interface the packet arrived on ('' at hooks without one: OUTPUT, POSTROUTING). */
  inIface: string;
  /** Interface it leaves by ('' at PREROUTING, INPUT). */
  outIface: string;
  conntrack: ConntrackView | null;
  /** The host's own addresses, 4 words each (addrtype LOCAL, path auto). */
  localAddrs: Uint32Array;
  /** Packet time in ns since the trace's first second (limit). */
  nowNs: number;
}

function ifaceMatches(rule: string, wild: boolean, dev: string): boolean {
  // ifname_compare_aligned with the mask iptables builds: exact name, or prefix for "eth+".
  return wild ? dev.startsWith(rule) : dev === rule;
}

/** Kernel's view of the state bit (xt_conntrack.c conntrack_mt): no entry = INVALID. */
function stateBit(b: PacketBatch, i: number): number {
  const s = b.ctState[i]!;
  if (s === CtState.NONE) return 1 << CtState.INVALID;
  return 1 << s;
}

/** conntrack_mt_v3 (xt_conntrack.c): the state bit, plus SNAT/DNAT when the connection's status has IPS_SRC_NAT/IPS_DST_NAT. */
function ctstateBits(b: PacketBatch, i: number, env: MatchEnv, mask: number): number {
  let bits = stateBit(b, i);
  const view = env.conntrack;
  if ((mask & (CTSTATE_SNAT | CTSTATE_DNAT)) !== 0 && view !== null && view.natStatus !== undefined && hasConnection(b, i)) {
    const nat = view.natStatus(b.ctId[i]!);
    if (nat & NAT_STATUS_SRC) bits |= CTSTATE_SNAT;
    if (nat & NAT_STATUS_DST) bits |= CTSTATE_DNAT;
  }
  return bits;
}

function hasConnection(b: PacketBatch, i: number): boolean {
  const s = b.ctState[i]!;
  return s !== CtState.NONE && s !== CtState.INVALID && s !== CtState.UNTRACKED && b.ctId[i] !== NO_CONNECTION;
}

export function isLocal(env: MatchEnv, words: Uint32Array, at: number): boolean {
  const l = env.localAddrs;
  for (let k = 0; k < l.length; k += 4) {
    if (l[k] === words[at] && l[k + 1] === words[at + 1] && l[k + 2] === words[at + 2] && l[k + 3] === words[at + 3]) return true;
  }
  return false;
}

function addrTypeBit(env: MatchEnv, words: Uint32Array, at: number, v6: boolean): number {
  const w0 = words[at]!;
  if (!v6) {
    if (w0 === 0) return AddrType.UNSPEC;
    if (w0 >>> 28 === 0xe) return AddrType.MULTICAST;
    if (w0 === 0xffffffff) return AddrType.BROADCAST;
  } else {
    if ((w0 | words[at + 1]! | words[at + 2]! | words[at + 3]!) === 0) return AddrType.UNSPEC;
    if (w0 >>> 24 === 0xff) return AddrType.MULTICAST;
  }
  return isLocal(env, words, at) ? AddrType.LOCAL : AddrType.UNICAST;
}

function inPortRanges(ranges: Uint16Array, port: number): boolean {
  for (let k = 0; k < ranges.length; k += 2) if (port >= ranges[k]! && port <= ranges[k + 1]!) return true;
  return false;
}

function inRange(words: Uint32Array, b: Uint32Array, at: number): boolean {
  // lo <= addr <= hi, word by word (xt_iprange.c iprange_ipv6_lt).
  let ge = true;
  for (let w = 0; w < 4; w++) {
    const a = b[at + w]!;
    const lo = words[w]!;
    if (a !== lo) {
      ge = a > lo;
      break;
    }
  }
  if (!ge) return false;
  for (let w = 0; w < 4; w++) {
    const a = b[at + w]!;
    const hi = words[4 + w]!;
    if (a !== hi) return a < hi;
  }
  return true;
}

function extensionMatches(m: Match, b: PacketBatch, i: number, env: MatchEnv, v6: boolean): boolean {
  const flags = b.flags[i]!;
  switch (m.kind) {
    case MatchKind.PORTS: {
      if ((flags & PacketFlag.PORTS) === 0 || (flags & PacketFlag.LATER_FRAGMENT) !== 0) return false;
      const p = m.dst ? b.dport[i]! : b.sport[i]!;
      return (p >= m.lo && p <= m.hi) !== m.inv;
    }
    case MatchKind.TCP_FLAGS:
      if ((flags & PacketFlag.TCP) === 0 || (flags & PacketFlag.LATER_FRAGMENT) !== 0) return false;
      return ((b.tcpFlags[i]! & 0xff & m.mask) === m.cmp) !== m.inv;
    case MatchKind.MULTIPORT: {
      if ((flags & PacketFlag.PORTS) === 0 || (flags & PacketFlag.LATER_FRAGMENT) !== 0) return false;
      const hit = m.which === 0 ? inPortRanges(m.ranges, b.sport[i]!)
        : m.which === 1 ? inPortRanges(m.ranges, b.dport[i]!)
        : inPortRanges(m.ranges, b.sport[i]!) || inPortRanges(m.ranges, b.dport[i]!);
      return hit !== m.inv;
    }
    case MatchKind.CTSTATE:
      return ((ctstateBits(b, i, env, m.mask) & m.mask) !== 0) !== m.inv;
    case MatchKind.CTDIR:
      return hasConnection(b, i) && (b.ctReply[i] === 1) === m.reply;
    case MatchKind.CTORIG_ADDR: {
      if (!hasConnection(b, i)) return false;
      // Original tuple: the packet's own addresses in the original direction, swapped in the reply
      // direction (the model does not rewrite addresses, so NAT-ed replies are approximated).
      const useDst = m.dst !== (b.ctReply[i] === 1);
      const a = useDst ? b.dst : b.src;
      const at = i * 4;
      const w = m.words;
      const hit = ((a[at]! & w[4]!) >>> 0) === w[0] && ((a[at + 1]! & w[5]!) >>> 0) === w[1]
        && ((a[at + 2]! & w[6]!) >>> 0) === w[2] && ((a[at + 3]! & w[7]!) >>> 0) === w[3];
      return hit !== m.inv;
    }
    case MatchKind.CTPROTO:
      if (!hasConnection(b, i)) return false;
      return (b.proto[i] === m.proto) !== m.inv;
    case MatchKind.CTORIG_PORT: {
      if (!hasConnection(b, i) || (flags & PacketFlag.PORTS) === 0) return false;
      const useDst = m.dst !== (b.ctReply[i] === 1);
      const p = useDst ? b.dport[i]! : b.sport[i]!;
      return (p >= m.lo && p <= m.hi) !== m.inv;
    }
    case MatchKind.MARK:
      return (((b.mark[i]! & m.mask) >>> 0) === m.value) !== m.inv;
    case MatchKind.CONNMARK: {
      if (!hasConnection(b, i) || env.conntrack === null) return false;
      return (((env.conntrack.getMark(b.ctId[i]!) & m.mask) >>> 0) === m.value) !== m.inv;
    }
    case MatchKind.IPRANGE:
      return inRange(m.words, m.dst ? b.dst : b.src, i * 4) !== m.inv;
    case MatchKind.SET: {
      const set = m.set;
      const at = i * 4;
      const proto = b.proto[i]!;
      let portDst = m.dirs.length > 1 ? m.dirs[1]! : m.dirs[0]!;
      if (set.type === SetType.BITMAP_PORT) portDst = m.dirs[0]!;
      let port = -1;
      if ((flags & PacketFlag.PORTS) !== 0 && (flags & PacketFlag.LATER_FRAGMENT) === 0) port = portDst ? b.dport[i]! : b.sport[i]!;
      else if ((flags & PacketFlag.ICMP) !== 0) port = (b.icmpType[i]! << 8) | b.icmpCode[i]!;
      else if (proto !== 6 && proto !== 17 && proto !== 132 && proto !== 136 && proto !== 1 && proto !== 58) port = 0; // ip_set_get_ip_port: no ports, port 0
      const hit = setLookup(set, m.dirs[0]! ? b.dst : b.src, at, proto, port);
      return hit !== m.inv;
    }
    case MatchKind.LIMIT: {
      // limit_mt: refill by elapsed jiffies, cap, spend `cost` if there is enough credit.
      const now = Math.floor(env.nowNs / (1e9 / LIMIT_HZ));
      if (m.prev < 0) m.prev = now;
      m.credit = Math.min(m.credit + (now - m.prev) * CREDITS_PER_JIFFY, m.creditCap);
      m.prev = now;
      if (m.credit >= m.cost) {
        m.credit -= m.cost;
        return true;
      }
      return false;
    }
    case MatchKind.ICMP: {
      if ((flags & PacketFlag.ICMP) === 0 || (flags & PacketFlag.LATER_FRAGMENT) !== 0) return false;
      if (b.proto[i] !== (m.v6 ? 58 : 1)) return false;
      const hit = m.type === 255 || (b.icmpType[i] === m.type && b.icmpCode[i]! >= m.codeLo && b.icmpCode[i]! <= m.codeHi);
      return hit !== m.inv;
    }
    case MatchKind.ADDRTYPE: {
      if (m.src !== 0 && ((addrTypeBit(env, b.src, i * 4, v6) & m.src) !== 0) === m.srcInv) return false;
      if (m.dst !== 0 && ((addrTypeBit(env, b.dst, i * 4, v6) & m.dst) !== 0) === m.dstInv) return false;
      return true;
    }
  }
  return false;
}

/** ip_packet_match + the extension matches: true when rule `r` matches packet i. */
export function ruleMatches(rs: Ruleset, r: Rule, b: PacketBatch, i: number, env: MatchEnv): boolean {
  const f = r.flags;
  if (f !== 0) {
    if ((f & RuleFlag.NEVER) !== 0) return false;
    const at = i * 4;
    const base = r.id * 4;
    if ((f & RuleFlag.SRC) !== 0) {
      const a = b.src;
      const m = rs.srcMask;
      const v = rs.srcAddr;
      const hit = ((a[at]! & m[base]!) >>> 0) === v[base] && ((a[at + 1]! & m[base + 1]!) >>> 0) === v[base + 1]
        && ((a[at + 2]! & m[base + 2]!) >>> 0) === v[base + 2] && ((a[at + 3]! & m[base + 3]!) >>> 0) === v[base + 3];
      if (hit === ((f & RuleFlag.SRC_INV) !== 0)) return false;
    }
    if ((f & RuleFlag.DST) !== 0) {
      const a = b.dst;
      const m = rs.dstMask;
      const v = rs.dstAddr;
      const hit = ((a[at]! & m[base]!) >>> 0) === v[base] && ((a[at + 1]! & m[base + 1]!) >>> 0) === v[base + 1]
        && ((a[at + 2]! & m[base + 2]!) >>> 0) === v[base + 2] && ((a[at + 3]! & m[base + 3]!) >>> 0) === v[base + 3];
      if (hit === ((f & RuleFlag.DST_INV) !== 0)) return false;
    }
    if ((f & RuleFlag.IN) !== 0 && ifaceMatches(r.inIface, (f & RuleFlag.IN_WILD) !== 0, env.inIface) === ((f & RuleFlag.IN_INV) !== 0)) return false;
    if ((f & RuleFlag.OUT) !== 0 && ifaceMatches(r.outIface, (f & RuleFlag.OUT_WILD) !== 0, env.outIface) === ((f & RuleFlag.OUT_INV) !== 0)) return false;
    if ((f & RuleFlag.FRAG) !== 0 && ((b.flags[i]! & PacketFlag.LATER_FRAGMENT) !== 0) === ((f & RuleFlag.FRAG_INV) !== 0)) return false;
  }
  if (r.proto !== 0 && (b.proto[i] === r.proto) === ((f & RuleFlag.PROTO_INV) !== 0)) return false;
  const ms = r.matches;
  if (ms !== null) {
    const v6 = rs.family === 6;
    for (let k = 0; k < ms.length; k++) if (!extensionMatches(ms[k]!, b, i, env, v6)) return false;
  }
  return true;
}

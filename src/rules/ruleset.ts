/**
 * The in-memory ruleset: what iptables-restore hands the kernel, in a compact form.
 *
 * One `Rule` object per rule (a fixed shape, so the traversal stays monomorphic); the fixed
 * header fields of `struct ipt_ip` / `struct ip6t_ip6` (addresses and masks) live in four flat
 * typed arrays indexed by rule id, so 1.6M rules cost ~64 bytes of addresses each and no
 * per-rule typed array. Extension matches are small objects only on rules that have them.
 */
import type { IpSet } from './ipset.js';

export const TABLES = ['raw', 'mangle', 'nat', 'filter'] as const;
export type TableName = (typeof TABLES)[number];

export const HOOKS = ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'] as const;
export type HookName = (typeof HOOKS)[number];

/** Built-in chains per table (net/ipv4/netfilter/iptable_*.c valid_hooks). */
export const BUILTIN_CHAINS: Record<TableName, readonly HookName[]> = {
  raw: ['PREROUTING', 'OUTPUT'],
  mangle: ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'],
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
};

/** Bits of `Rule.flags` for the fixed header fields. */
export const enum RuleFlag {
  SRC = 1 << 0,
  SRC_INV = 1 << 1,
  DST = 1 << 2,
  DST_INV = 1 << 3,
  PROTO_INV = 1 << 4,
  IN = 1 << 5,
  IN_INV = 1 << 6,
  IN_WILD = 1 << 7,
  OUT = 1 << 8,
  OUT_INV = 1 << 9,
  OUT_WILD = 1 << 10,
  /** -f: only non-first fragments. */
  FRAG = 1 << 11,
  FRAG_INV = 1 << 12,
  /** --lenient turned an unknown module or target into a rule that never matches. */
  NEVER = 1 << 13,
}

export const enum Target {
  /** No -j: a counting rule. */
  NONE = 0,
  ACCEPT = 1,
  DROP = 2,
  REJECT = 3,
  RETURN = 4,
  JUMP = 5,
  GOTO = 6,
  MARK = 7,
  CONNMARK = 8,
  CLASSIFY = 9,
  /** LOG, NFLOG, TCPMSS: counted, no effect the models can see. */
  LOG = 10,
  SNAT = 11,
  DNAT = 12,
  MASQUERADE = 13,
  REDIRECT = 14,
  /** NOTRACK or CT --notrack (raw table). */
  NOTRACK = 15,
}
export type TargetValue = Target;

/** --ctstate SNAT / DNAT bits of a CTSTATE match's mask (above the 1 << CtState bits). */
export const CTSTATE_SNAT = 1 << 8;
export const CTSTATE_DNAT = 1 << 9;

export const enum MatchKind {
  PORTS = 0,
  TCP_FLAGS = 1,
  MULTIPORT = 2,
  CTSTATE = 3,
  CTDIR = 4,
  CTORIG_ADDR = 5,
  CTPROTO = 6,
  CTORIG_PORT = 7,
  MARK = 8,
  CONNMARK = 9,
  IPRANGE = 10,
  SET = 11,
  LIMIT = 12,
  ICMP = 13,
  ADDRTYPE = 14,
}

/** --sport/--dport of -m tcp / -m udp (and the implicit module of -p tcp/udp). */
export interface PortsMatch {
  readonly kind: 0;
  /** 0 = source port, 1 = destination port. */
  readonly dst: boolean;
  readonly lo: number;
  readonly hi: number;
  readonly inv: boolean;
}
export interface TcpFlagsMatch {
  readonly kind: 1;
  readonly mask: number;
  readonly cmp: number;
  readonly inv: boolean;
}
export interface MultiportMatch {
  readonly kind: 2;
  /** 0 = sports, 1 = dports, 2 = ports (either). */
  readonly which: 0 | 1 | 2;
  /** lo,hi pairs. */
  readonly ranges: Uint16Array;
  readonly inv: boolean;
}
/** Bits of CtStateMatch.mask: 1 << CtState value. */
export interface CtStateMatch {
  readonly kind: 3;
  readonly mask: number;
  readonly inv: boolean;
}
export interface CtDirMatch {
  readonly kind: 4;
  readonly reply: boolean;
}
export interface CtOrigAddrMatch {
  readonly kind: 5;
  readonly dst: boolean;
  /** addr words 0..3, mask words 4..7. */
  readonly words: Uint32Array;
  readonly inv: boolean;
}
export interface CtProtoMatch {
  readonly kind: 6;
  readonly proto: number;
  readonly inv: boolean;
}
export interface CtOrigPortMatch {
  readonly kind: 7;
  readonly dst: boolean;
  readonly lo: number;
  readonly hi: number;
  readonly inv: boolean;
}
export interface MarkMatch {
  readonly kind: 8 | 9;
  readonly value: number;
  readonly mask: number;
  readonly inv: boolean;
}
export interface IpRangeMatch {
  readonly kind: 10;
  readonly dst: boolean;
  /** lo words 0..3, hi words 4..7. */
  readonly words: Uint32Array;
  readonly inv: boolean;
}
export interface SetMatch {
  readonly kind: 11;
  readonly set: IpSet;
  /** Per dimension: true = dst. */
  readonly dirs: readonly boolean[];
  readonly inv: boolean;
}
/** xt_limit state: net/netfilter/xt_limit.c limit_mt (credits in CREDITS_PER_JIFFY units). */
export interface LimitMatch {
  readonly kind: 12;
  readonly cost: number;
  readonly creditCap: number;
  credit: number;
  /** Jiffy of the last refill; -1 before the first packet. */
  prev: number;
}
export interface IcmpMatch {
  readonly kind: 13;
  /** 255 = any type (iptables' "any"). */
  readonly type: number;
  readonly codeLo: number;
  readonly codeHi: number;
  readonly inv: boolean;
  readonly v6: boolean;
}
/** Bits of the addrtype masks (XT_ADDRTYPE_*). */
export const enum AddrType { UNSPEC = 1, UNICAST = 2, LOCAL = 4, BROADCAST = 8, MULTICAST = 32 }
export interface AddrTypeMatch {
  readonly kind: 14;
  readonly src: number;
  readonly dst: number;
  readonly srcInv: boolean;
  readonly dstInv: boolean;
}
export type Match =
  | PortsMatch | TcpFlagsMatch | MultiportMatch | CtStateMatch | CtDirMatch | CtOrigAddrMatch
  | CtProtoMatch | CtOrigPortMatch | MarkMatch | IpRangeMatch | SetMatch | LimitMatch | IcmpMatch
  | AddrTypeMatch;

/** Parameters of the targets that have any. */
export interface TargetInfo {
  /** MARK: mark = (mark & ~markMask) ^ markValue (every MARK form reduces to this, as xt_MARK does). */
  markValue: number;
  markMask: number;
  /** CONNMARK: 0 = set (xmark), 1 = save, 2 = restore (xt_connmark.c connmark_tg_shift). */
  connmarkMode: number;
  ctmark: number;
  ctmask: number;
  nfmask: number;
  /** CLASSIFY: major<<16 | minor. */
  priority: number;
  /** NAT: first address of the range (4 words) and first port (0 = keep). */
  natAddr: number[] | null;
  natPort: number;
}

export interface Rule {
  readonly id: number;
  readonly chain: number;
  /** 1-based line in the ruleset file. */
  readonly line: number;
  /** The rule spec after `-A CHAIN ` exactly as read (printed back verbatim). */
  readonly text: string;
  readonly flags: number;
  /** IP protocol, 0 = any. */
  readonly proto: number;
  readonly inIface: string;
  readonly outIface: string;
  readonly matches: Match[] | null;
  readonly target: TargetValue;
  /** Chain id for JUMP and GOTO, else -1. */
  readonly jump: number;
  readonly info: TargetInfo | null;
}

export interface Chain {
  readonly id: number;
  readonly name: string;
  readonly table: TableName;
  readonly builtin: boolean;
  /** Target.ACCEPT or Target.DROP for built-ins, Target.NONE for user chains. */
  policy: TargetValue;
  /** Rule ids in order. */
  rules: Int32Array;
  /** Line of the `:CHAIN` declaration. */
  readonly line: number;
}

export interface RuleTable {
  readonly name: TableName;
  /** Chain ids in declaration order. */
  readonly chains: number[];
  /** Built-in chain id per hook name, -1 where the table has no such hook. */
  readonly hooks: Record<HookName, number>;
}

export interface Ruleset {
  readonly family: 4 | 6;
  readonly source: string;
  readonly tables: RuleTable[];
  readonly chains: Chain[];
  readonly rules: Rule[];
  /** srcAddr/srcMask/dstAddr/dstMask: 4 words per rule id. */
  readonly srcAddr: Uint32Array;
  readonly srcMask: Uint32Array;
  readonly dstAddr: Uint32Array;
  readonly dstMask: Uint32Array;
  /** Counters read from `-c` input ([packets:bytes] per rule id and per chain policy). */
  readonly inputRulePackets: Float64Array;
  readonly inputRuleBytes: Float64Array;
  readonly inputPolicyPackets: Float64Array;
  readonly inputPolicyBytes: Float64Array;
  readonly sets: Map<string, IpSet>;
  /** --lenient warnings (file:line: message). */
  readonly warnings: string[];
}

export function tableByName(rs: Ruleset, name: TableName): RuleTable | undefined {
  return rs.tables.find((t) => t.name === name);
}

/**
 * The normalized view of one replay that both sides produce: the kernel's (read back from
 * iptables-save -c, conntrack -L/-S, tc -s class show and the receiver's capture) and the model's
 * (ModelSide, implemented with the real models at merge). The diff engine compares these.
 */

/** One rule's counters, keyed by table/chain/index (1-based within the chain). */
export interface RuleCounter {
  readonly family: 4 | 6;
  readonly table: string;
  readonly chain: string;
  /** 1-based position within the chain; 0 for the chain's policy. */
  readonly index: number;
  /** The rule as iptables-save prints it, without the counters (`-A CHAIN ...`), or `policy ACCEPT`. */
  readonly text: string;
  readonly packets: number;
  readonly bytes: number;
}

export type ConntrackProto = 'tcp' | 'udp' | 'icmp' | 'icmpv6' | 'sctp' | 'udplite' | 'gre' | 'dccp' | 'unknown';

export interface ConntrackTuple {
  readonly src: string;
  readonly dst: string;
  /** Ports for TCP/UDP; for ICMP: type, code and id in `sport`/`dport`/`id` as conntrack prints. */
  readonly sport?: number;
  readonly dport?: number;
  readonly type?: number;
  readonly code?: number;
  readonly id?: number;
}

/** One conntrack entry as `conntrack -L` lists it. */
export interface ConntrackEntry {
  readonly family: 4 | 6;
  readonly proto: ConntrackProto;
  readonly protoNumber: number;
  /** Seconds left as printed at read-back time. */
  readonly timeout: number;
  /** TCP state (ESTABLISHED, SYN_SENT, TIME_WAIT...) or '' for protocols without one. */
  readonly state: string;
  readonly original: ConntrackTuple;
  readonly reply: ConntrackTuple;
  /** Status flags conntrack prints: ASSURED, UNREPLIED, OFFLOAD, HW_OFFLOAD. */
  readonly flags: readonly string[];
  readonly mark: number;
  readonly zone: number;
}

/** Totals over CPUs of `conntrack -S` (fields the kernel does not print stay absent). */
export type ConntrackStats = Readonly<Record<string, number>>;

/** One tc class's counters (`tc -s class show dev X`). */
export interface ClassCounter {
  readonly kind: string;
  /** major:minor as tc prints it (1:10). */
  readonly classId: string;
  /** Parent class id or 'root'. */
  readonly parent: string;
  readonly leafQdisc?: string;
  readonly bytes: number;
  readonly packets: number;
  readonly dropped: number;
  readonly overlimits: number;
  /** HTB only. */
  readonly lended?: number;
  readonly borrowed?: number;
}

/** What happened to each replayed packet (1-based frame numbers of the input trace). */
export interface ForwardingOutcome {
  readonly forwarded: readonly number[];
  readonly dropped: readonly number[];
  /** Packets that were not replayed and why (the model must skip the same ones). */
  readonly skipped: readonly { readonly frameNo: number; readonly reason: string }[];
}

export interface LabObservation {
  readonly rules: readonly RuleCounter[];
  readonly conntrack: readonly ConntrackEntry[];
  readonly conntrackStats: ConntrackStats;
  readonly classes: readonly ClassCounter[];
  readonly outcome: ForwardingOutcome;
}

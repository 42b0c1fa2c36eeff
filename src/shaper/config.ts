/**
 * What a tc script configures on one device, in the units the kernel receives over netlink
 * (rates in bytes/s, bursts in psched ticks as tc computed them). tc-parse.ts builds it; the
 * models (htb.ts, cls-fw.ts, cls-u32.ts) are built from it.
 */

export interface HtbQdiscSpec {
  /** The qdisc handle, major only (1: = 0x00010000). */
  readonly handle: number;
  /** `default N`: minor of the default class (0 = none: unclassified traffic goes direct). */
  readonly defcls: number;
  /** `r2q`, as given (the kernel raises values below 1 to 1). */
  readonly r2q: number;
  /** `direct_qlen`, or undefined for the device's tx_queue_len. */
  readonly directQlen: number | undefined;
}

export interface HtbClassSpec {
  readonly classid: number;
  /** Parent classid, or TC_H_ROOT-style 0 for a class directly under the qdisc. */
  readonly parent: number;
  /** Bytes per second (tc's rate64). */
  readonly rate: number;
  readonly ceil: number;
  /** Bursts in psched ticks (tc_calc_xmittime), as sent in tc_htb_opt.buffer/cbuffer. */
  readonly bufferTicks: number;
  readonly cbufferTicks: number;
  /** 0 when not given: the kernel derives it from rate / r2q. */
  readonly quantum: number;
  readonly prio: number;
  readonly overhead: number;
  readonly mpu: number;
  readonly linklayerAtm: boolean;
  /** Line of the script that created or last changed the class (for messages). */
  readonly line: number;
}

/** A leaf qdisc attached to a class (`tc qdisc add dev X parent 1:10 handle 10: pfifo limit 50`). */
export interface LeafQdiscSpec {
  readonly parent: number;
  readonly handle: number;
  /** pfifo counts packets, bfifo bytes; other kinds are modelled as a packet fifo. */
  readonly kind: string;
  readonly limitPackets: number | undefined;
  readonly limitBytes: number | undefined;
}

export interface FwFilterSpec {
  readonly type: 'fw';
  /** The mark this filter matches (the handle), compared with mark & mask. */
  readonly id: number;
  readonly mask: number;
  /** Target classid (0 = no classid: an "old method" fw instance). */
  readonly classid: number;
  /** true when the filter was added with no handle: the mark itself is the classid. */
  readonly oldMethod: boolean;
}

export interface U32KeySpec {
  /** 32-bit value and mask in host order of the big-endian word at `off`. */
  readonly val: number;
  readonly mask: number;
  readonly off: number;
  /** -1 for `nexthdr+` keys (offset added to the next-header offset), else 0. */
  readonly offmask: number;
}

export interface U32FilterSpec {
  readonly type: 'u32';
  /** Table this knode lives in (800: root) and its bucket. */
  readonly htid: number;
  readonly bucket: number;
  /** Non-zero for a `divisor` line: this filter creates a hash table and nothing else. */
  readonly divisor: number;
  /** Explicit node handle (the low 12 bits) or 0 for automatic. */
  readonly nodeId: number;
  readonly keys: readonly U32KeySpec[];
  /** `match mark V M`. */
  readonly markVal: number;
  readonly markMask: number;
  readonly hasMark: boolean;
  readonly classid: number;
  readonly hasClassid: boolean;
  /** `link HT:` target table or 0. */
  readonly link: number;
  /** `hashkey mask M at OFF`: host-order mask and offset of the word hashed to pick a bucket. */
  readonly hmask: number;
  readonly hoff: number;
  /** `offset at OFF mask M shift S plus P eat`. */
  readonly offPlus: number;
  readonly offOff: number;
  readonly offMask: number;
  readonly offShift: number;
  readonly varOffset: boolean;
  readonly fixedOffset: boolean;
  readonly eat: boolean;
}

export interface FilterSpec {
  /** Parent it is attached to: the qdisc (1:0) or a class. */
  readonly parent: number;
  readonly prio: number;
  /** ETH_P_IP (0x0800), ETH_P_IPV6 (0x86dd) or ETH_P_ALL (3). */
  readonly protocol: number;
  readonly filter: FwFilterSpec | U32FilterSpec;
  readonly line: number;
}

export interface ShaperConfig {
  readonly dev: string;
  readonly qdisc: HtbQdiscSpec;
  readonly classes: readonly HtbClassSpec[];
  readonly leafQdiscs: readonly LeafQdiscSpec[];
  readonly filters: readonly FilterSpec[];
}

export const ETH_P_ALL = 0x0003;
export const ETH_P_IP = 0x0800;
export const ETH_P_IPV6 = 0x86dd;

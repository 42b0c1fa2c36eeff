/**
 * Prints the shaper's state in the shape of `tc -s class show dev DEV` (iproute2 tc/tc_class.c,
 * q_htb.c htb_print_opt/htb_print_xstats, tc_util.c print_tcstats2_attr), plus the qdisc's line in
 * the shape of `tc -s qdisc show`. Classes are listed in classid order (the kernel lists them in its
 * class-hash order, which is not meaningful); the `rate` line is the mean over the run where the
 * kernel would show its rate estimator's EWMA.
 */
import type { Htb } from './htb.js';
import { formatClassid, formatRate, formatSize, tcCalcXmitsize } from './tc-units.js';

export interface ClassReport {
  classid: string;
  parent: string;
  level: number;
  /** `10:` when a leaf qdisc with a handle was added under the class (tc prints `leaf 10:`). */
  leaf: string | undefined;
  prio: number | undefined;
  quantum: number | undefined;
  rateBps: number;
  ceilBps: number;
  burstBytes: number;
  cburstBytes: number;
  sentBytes: number;
  sentPackets: number;
  dropped: number;
  overlimits: number;
  requeues: number;
  /** Mean achieved rate over the run, bytes/s and packets/s. */
  achievedBps: number;
  achievedPps: number;
  backlogBytes: number;
  backlogPackets: number;
  lended: number;
  borrowed: number;
  giants: number;
  tokens: number;
  ctokens: number;
}

export interface QdiscReport {
  handle: string;
  r2q: number;
  defcls: string;
  directPackets: number;
  sentBytes: number;
  sentPackets: number;
  dropped: number;
  overlimits: number;
}

/** The span the mean rates are taken over: first enqueue to last dequeue (at least 1 ns). */
function spanSeconds(htb: Htb): number {
  return Math.max(1, htb.lastDequeueNs - Math.max(0, htb.firstEnqueueNs)) / 1e9;
}

export function classReports(htb: Htb): ClassReport[] {
  const span = spanSeconds(htb);
  const order = [...Array(htb.n).keys()].sort((a, b) => htb.classid[a]! - htb.classid[b]!);
  return order.map((i) => {
    const leaf = htb.level[i] === 0;
    const p = htb.parent[i]!;
    return {
      classid: formatClassid(htb.classid[i]!),
      parent: p < 0 ? 'root' : formatClassid(htb.classid[p]!),
      level: htb.level[i]!,
      leaf: leaf && htb.leafHandle[i] ? `${(htb.leafHandle[i]! >>> 16).toString(16)}:` : undefined,
      prio: leaf ? htb.prio[i]! : undefined,
      quantum: leaf ? htb.quantum[i]! : undefined,
      rateBps: htb.rate[i]!,
      ceilBps: htb.ceil[i]!,
      burstBytes: tcCalcXmitsize(htb.rate[i]!, htb.bufferTicks[i]!),
      cburstBytes: tcCalcXmitsize(htb.ceil[i]!, htb.cbufferTicks[i]!),
      sentBytes: htb.bytes[i]!,
      sentPackets: htb.packets[i]!,
      dropped: htb.drops[i]!,
      overlimits: htb.overlimits[i]!,
      requeues: 0,
      achievedBps: Math.round(htb.bytes[i]! / span),
      achievedPps: Math.round(htb.packets[i]! / span),
      backlogBytes: leaf ? htb.backlog[i]! : 0,
      backlogPackets: leaf ? htb.qlen[i]! : 0,
      lended: htb.lends[i]!,
      borrowed: htb.borrows[i]!,
      giants: 0,
      tokens: htb.tokensTicks(i),
      ctokens: htb.ctokensTicks(i),
    };
  });
}

export function qdiscReport(htb: Htb): QdiscReport {
  return {
    handle: formatClassid(htb.handle),
    r2q: htb.rate2quantum,
    defcls: htb.defcls === 0 ? '0' : `0x${htb.defcls.toString(16)}`, // C's %#llx
    directPackets: htb.directPackets,
    sentBytes: htb.qdiscBytes,
    sentPackets: htb.qdiscPackets,
    dropped: htb.qdiscDrops,
    overlimits: htb.qdiscOverlimits,
  };
}

/** `tc -s class show dev DEV` text for every class. */
export function formatClasses(htb: Htb): string {
  let out = '';
  for (const c of classReports(htb)) {
    out += `class htb ${c.classid} ${c.parent === 'root' ? 'root' : `parent ${c.parent}`} `;
    if (c.leaf !== undefined) out += `leaf ${c.leaf} `;
    if (c.prio !== undefined) out += `prio ${c.prio} `;
    out += `rate ${formatRate(c.rateBps)} ceil ${formatRate(c.ceilBps)} burst ${formatSize(c.burstBytes)} cburst ${formatSize(c.cburstBytes)}\n`;
    out += ` Sent ${c.sentBytes} bytes ${c.sentPackets} pkt (dropped ${c.dropped}, overlimits ${c.overlimits} requeues ${c.requeues}) \n`;
    out += ` rate ${formatRate(c.achievedBps)} ${c.achievedPps}pps backlog ${formatSize(c.backlogBytes)} ${c.backlogPackets}p requeues 0\n`;
    out += ` lended: ${c.lended} borrowed: ${c.borrowed} giants: ${c.giants}\n`;
    out += ` tokens: ${c.tokens} ctokens: ${c.ctokens}\n\n`;
  }
  return out;
}

/** `tc -s qdisc show dev DEV` text for the root HTB qdisc. */
export function formatQdisc(htb: Htb): string {
  const q = qdiscReport(htb);
  const directQlen = htb.limitPackets[htb.n]!;
  return `qdisc htb ${q.handle} root r2q ${q.r2q} default ${q.defcls} direct_packets_stat ${q.directPackets} direct_qlen ${directQlen}\n`
    + ` Sent ${q.sentBytes} bytes ${q.sentPackets} pkt (dropped ${q.dropped}, overlimits ${q.overlimits} requeues 0) \n`
    + ` backlog ${formatSize(htb.backlog[htb.n]!)} ${htb.qlen[htb.n]}p requeues 0\n`;
}


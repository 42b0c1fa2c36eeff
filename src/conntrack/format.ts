/**
 * The table and counters in the shapes admins read: `conntrack -L` (libnetfilter_conntrack's
 * default snprintf: "%-8s %u " protocol, remaining seconds, TCP state, both tuples, [UNREPLIED],
 * [ASSURED], mark=, use=) and `conntrack -S` ("cpu=%-4u\t" then "name=%u " per counter, in the
 * kernel's CTA_STATS order). Runs once at the end of a trace; may allocate.
 */
import { CtStatus, VISIT_HISTOGRAM_SLOTS, type ConntrackTable } from './table.js';
import { TCP_STATE_NAMES } from './timeouts.js';
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP } from './tuple.js';
import { formatIPv4 as formatIpv4, formatIPv6 as formatIpv6 } from '../net/address-text.js';

const PROTO_NAMES: Readonly<Record<number, string>> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 33: 'dccp', 47: 'gre', 58: 'icmpv6', 132: 'sctp', 136: 'udplite' };

export function protoName(proto: number): string {
  return PROTO_NAMES[proto] ?? 'unknown';
}

export { formatIpv4, formatIpv6 };

function nodeTuple(t: ConntrackTable, n: number): string {
  const c = n >>> 1;
  const proto = t.protoOf(c);
  let src: string;
  let dst: string;
  if (t.l3Of(c) === 6 && t.ext) {
    const e = t.ext;
    const x = n * 6;
    src = formatIpv6(t.srcOf(n), e[x]!, e[x + 1]!, e[x + 2]!);
    dst = formatIpv6(t.dstOf(n), e[x + 3]!, e[x + 4]!, e[x + 5]!);
  } else {
    src = formatIpv4(t.srcOf(n));
    dst = formatIpv4(t.dstOf(n));
  }
  const p = t.portsOf(n);
  const hi = p >>> 16;
  const lo = p & 0xffff;
  let l4 = '';
  if (proto === IPPROTO_ICMP || proto === IPPROTO_ICMPV6) l4 = `type=${lo >>> 8} code=${lo & 0xff} id=${hi} `;
  else if (proto === 6 || proto === 17 || proto === 33 || proto === 132 || proto === 136) l4 = `sport=${hi} dport=${lo} `;
  return `src=${src} dst=${dst} ${l4}`;
}

/** One `conntrack -L` line for entry c at trace time nowMs. */
export function formatEntry(t: ConntrackTable, c: number, nowMs: number): string {
  const proto = t.protoOf(c);
  const st = t.status[c]!;
  let line = `${protoName(proto).padEnd(8)} ${proto} ${Math.floor(t.remainingMs(c, nowMs) / 1000)} `;
  if (proto === IPPROTO_TCP) line += `${TCP_STATE_NAMES[t.protoState[c]!] ?? 'NONE'} `;
  line += nodeTuple(t, 2 * c);
  if ((st & CtStatus.SEEN_REPLY) === 0) line += '[UNREPLIED] ';
  line += nodeTuple(t, 2 * c + 1);
  if (st & CtStatus.ASSURED) line += '[ASSURED] ';
  return `${line}mark=${t.mark[c]} use=1`;
}

/**
 * The whole table as `conntrack -L` prints it, sorted by the text after the remaining-seconds
 * field and then by the whole line, so that two runs diff cleanly.
 */
export function formatTable(t: ConntrackTable, nowMs: number): string[] {
  const rows: { key: string; line: string }[] = [];
  t.forEachConfirmed((c) => {
    const line = formatEntry(t, c, nowMs);
    rows.push({ key: line.replace(/^(\S+\s+\d+) \d+ /, '$1 '), line });
  });
  rows.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.line < b.line ? -1 : a.line > b.line ? 1 : 0));
  return rows.map((r) => r.line);
}

/** `conntrack -S` counters, kernel order. */
export function statsCounters(t: ConntrackTable): [string, number][] {
  const s = t.stats;
  return [
    ['found', s.found], ['invalid', s.invalid], ['insert', s.insert], ['insert_failed', s.insertFailed],
    ['drop', s.drop], ['early_drop', s.earlyDrop], ['error', s.error], ['search_restart', s.searchRestart],
    ['clash_resolve', s.clashResolve], ['chaintoolong', s.chainTooLong],
  ];
}

/** The `conntrack -S` line of the model's single CPU. */
export function formatStatsLine(t: ConntrackTable): string {
  return `${'cpu=0'.padEnd(8)}\t${statsCounters(t).map(([k, v]) => `${k}=${v} `).join('')}`;
}

export interface LookupSummary {
  lookups: number;
  mean: number;
  p99: number;
  max: number;
}

/** Nodes visited per lookup: mean, 99th percentile (from the histogram; exact below 256) and max. */
export function lookupSummary(t: ConntrackTable): LookupSummary {
  const s = t.stats;
  const total = s.lookups;
  let p99 = 0;
  if (total > 0) {
    const target = Math.ceil(total * 0.99);
    let acc = 0;
    for (let k = 0; k < VISIT_HISTOGRAM_SLOTS; k++) {
      acc += s.visitHistogram[k]!;
      if (acc >= target) { p99 = k === VISIT_HISTOGRAM_SLOTS - 1 ? s.maxVisited : k; break; }
    }
  }
  return { lookups: total, mean: total > 0 ? s.nodesVisited / total : 0, p99, max: s.maxVisited };
}

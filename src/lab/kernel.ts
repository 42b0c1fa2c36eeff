/**
 * Parsers of the kernel's own tools' output into the lab's normalized structures, and the
 * read-back that runs them inside the firewall namespace. Parsers are pure (string in, objects
 * out) so that they are tested on captured output; readback() is the I/O edge.
 */
import type { ClassCounter, ConntrackEntry, ConntrackProto, ConntrackStats, ConntrackTuple, RuleCounter } from './types.js';

/** `iptables-save -c` (nft or legacy, IPv4 or IPv6) → per-rule and per-policy counters. */
export function parseIptablesSave(text: string, family: 4 | 6): RuleCounter[] {
  const out: RuleCounter[] = [];
  let table = '';
  const nextIndex = new Map<string, number>();
  const lines = text.split('\n');
  lines.forEach((raw, lineNo) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    if (line.startsWith('*')) {
      table = line.slice(1);
      nextIndex.clear();
      return;
    }
    if (line === 'COMMIT') return;
    if (line.startsWith(':')) {
      const m = /^:(\S+)\s+(\S+)\s+\[(\d+):(\d+)\]$/.exec(line);
      if (!m) throw new SyntaxError(`line ${lineNo + 1}: bad chain line: ${line}`);
      if (m[2] !== '-') out.push({ family, table, chain: m[1]!, index: 0, text: `policy ${m[2]}`, packets: Number(m[3]), bytes: Number(m[4]) });
      return;
    }
    const m = /^(?:\[(\d+):(\d+)\]\s+)?(-A\s+(\S+).*)$/.exec(line);
    if (!m) throw new SyntaxError(`line ${lineNo + 1}: bad rule line: ${line}`);
    const chain = m[4]!;
    const index = (nextIndex.get(chain) ?? 0) + 1;
    nextIndex.set(chain, index);
    out.push({ family, table, chain, index, text: m[3]!.replace(/\s+/g, ' '), packets: Number(m[1] ?? 0), bytes: Number(m[2] ?? 0) });
  });
  return out;
}

const KNOWN_PROTOS: Record<string, ConntrackProto> = {
  tcp: 'tcp', udp: 'udp', icmp: 'icmp', icmpv6: 'icmpv6', sctp: 'sctp', udplite: 'udplite', gre: 'gre', dccp: 'dccp',
};

const TCP_STATES = new Set(['NONE', 'SYN_SENT', 'SYN_RECV', 'ESTABLISHED', 'FIN_WAIT', 'CLOSE_WAIT', 'LAST_ACK', 'TIME_WAIT', 'CLOSE', 'SYN_SENT2', 'LISTEN']);

/**
 * `conntrack -L` (default output format) → entries. Lines look like
 * `tcp      6 431999 ESTABLISHED src=a dst=b sport=1 dport=2 [UNREPLIED] src=b dst=a sport=2 dport=1 [ASSURED] mark=0 use=1`.
 */
export function parseConntrackList(text: string): ConntrackEntry[] {
  const out: ConntrackEntry[] = [];
  text.split('\n').forEach((raw, lineNo) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('conntrack v')) return;
    const words = line.split(/\s+/);
    let w = 0;
    // `-o extended` prefixes the family: "ipv4 2 tcp 6 ...".
    if (words[0] === 'ipv4' || words[0] === 'ipv6') w = 2;
    const protoName = words[w] ?? '';
    const protoNumber = Number(words[w + 1]);
    const timeout = Number(words[w + 2]);
    if (!Number.isInteger(protoNumber) || !Number.isInteger(timeout)) throw new SyntaxError(`line ${lineNo + 1}: bad conntrack entry: ${line}`);
    w += 3;
    let state = '';
    if (words[w] !== undefined && TCP_STATES.has(words[w]!)) state = words[w++]!;
    const tuples: Record<string, string>[] = [{}, {}];
    let t = -1;
    const flags: string[] = [];
    let mark = 0;
    let zone = 0;
    for (; w < words.length; w++) {
      const word = words[w]!;
      if (word.startsWith('[') && word.endsWith(']')) {
        flags.push(word.slice(1, -1));
        continue;
      }
      const eq = word.indexOf('=');
      if (eq < 0) continue;
      const key = word.slice(0, eq);
      const value = word.slice(eq + 1);
      if (key === 'src') t++;
      if (key === 'mark') mark = Number(value);
      else if (key === 'zone') zone = Number(value);
      else if (t >= 0 && t < 2 && ['src', 'dst', 'sport', 'dport', 'type', 'code', 'id'].includes(key)) tuples[t]![key] = value;
    }
    if (t !== 1) throw new SyntaxError(`line ${lineNo + 1}: conntrack entry without two tuples: ${line}`);
    const tuple = (r: Record<string, string>): ConntrackTuple => {
      const num = (k: string): number | undefined => (r[k] === undefined ? undefined : Number(r[k]));
      const base: { src: string; dst: string; sport?: number; dport?: number; type?: number; code?: number; id?: number } = { src: r.src ?? '', dst: r.dst ?? '' };
      for (const k of ['sport', 'dport', 'type', 'code', 'id'] as const) {
        const v = num(k);
        if (v !== undefined) base[k] = v;
      }
      return base;
    };
    const original = tuple(tuples[0]!);
    out.push({
      family: original.src.includes(':') ? 6 : 4,
      proto: KNOWN_PROTOS[protoName] ?? 'unknown',
      protoNumber,
      timeout,
      state,
      original,
      reply: tuple(tuples[1]!),
      flags,
      mark,
      zone,
    });
  });
  return out;
}

/** `conntrack -S` → totals over CPUs (found, invalid, insert, insert_failed, drop, early_drop...). */
export function parseConntrackStats(text: string): ConntrackStats {
  const totals: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith('cpu=')) continue;
    for (const m of line.matchAll(/(\w+)=(\d+)/g)) {
      if (m[1] === 'cpu') continue;
      totals[m[1]!] = (totals[m[1]!] ?? 0) + Number(m[2]);
    }
  }
  return totals;
}

/**
 * `tc -s class show dev X` → per-class counters. Each class starts with a `class KIND ID` line;
 * the ` Sent B bytes P pkt (dropped D, overlimits O requeues R)` line and HTB's ` lended: L
 * borrowed: B giants: G` line follow.
 */
export function parseTcClassStats(text: string): ClassCounter[] {
  const out: ClassCounter[] = [];
  let current: {
    kind: string; classId: string; parent: string; leafQdisc?: string;
    bytes: number; packets: number; dropped: number; overlimits: number; lended?: number; borrowed?: number;
  } | undefined;
  const flush = (): void => {
    if (current) out.push(current);
    current = undefined;
  };
  for (const line of text.split('\n')) {
    const head = /^class\s+(\S+)\s+(\S+)\s+(?:(root)|parent\s+(\S+))(?:\s+leaf\s+(\S+?):?(?:\s|$))?/.exec(line);
    if (head) {
      flush();
      current = { kind: head[1]!, classId: head[2]!, parent: head[3] ?? head[4]!, bytes: 0, packets: 0, dropped: 0, overlimits: 0 };
      if (head[5]) current.leafQdisc = head[5].endsWith(':') ? head[5] : `${head[5]}:`;
      continue;
    }
    if (!current) continue;
    const sent = /Sent\s+(\d+)\s+bytes\s+(\d+)\s+pkt\s+\(dropped\s+(\d+),\s+overlimits\s+(\d+)/.exec(line);
    if (sent) {
      current.bytes = Number(sent[1]);
      current.packets = Number(sent[2]);
      current.dropped = Number(sent[3]);
      current.overlimits = Number(sent[4]);
      continue;
    }
    const lent = /lended:\s+(\d+)\s+borrowed:\s+(\d+)/.exec(line);
    if (lent) {
      current.lended = Number(lent[1]);
      current.borrowed = Number(lent[2]);
    }
  }
  flush();
  return out;
}

/**
 * Parser for `iptables-save` / `ip6tables-save` output (with or without `-c` counters), the
 * format iptables-restore reads (iptables/iptables-restore.c, xtables option parsers in
 * extensions/libxt_*.c). Everything unknown is an InputError naming `file:line`, the module and
 * the rule; with `lenient` it becomes a warning and a rule that never matches. Nothing is
 * returned half-loaded: the ruleset exists only when the whole file parsed and checked.
 *
 * Speed: one pass over the text by offsets (indexOf('\n'), charCodeAt); a rule line is never
 * sliced into a line or token strings: tokens are offsets, turned into (interned) strings only
 * when asked for, chain names are looked up in place and IPv4 addresses parsed in place; no
 * regex runs on the common tokens. test/rules/parse-diff.test.ts holds it to the first version.
 */
import { InputError } from '../errors.js';
import { CtState } from '../trace/batch.js';
import { looksIpv6, parseCidr, parseCidr4At, parseIpv4, parseIpv6 } from './addr.js';
import { setDimensions, SetType, type IpSet } from './ipset.js';
import {
  AddrType, BUILTIN_CHAINS, CTSTATE_DNAT, CTSTATE_SNAT, MatchKind, RuleFlag, TABLES, Target,
  type Chain, type HookName, type Match, type Rule, type RuleTable, type Ruleset, type TableName, type TargetInfo, type TargetValue,
} from './ruleset.js';

export interface ParseOptions {
  /** Name used in messages (`file:line`). */
  file: string;
  /** 4 for iptables-save, 6 for ip6tables-save, 'auto' to decide from the addresses. */
  family?: 4 | 6 | 'auto';
  /** Sets that `-m set` may name (from `ipset save`). */
  sets?: Map<string, IpSet>;
  /** Unknown modules and targets become warnings and never-matching rules. */
  lenient?: boolean;
}

const PROTOCOLS: Record<string, number> = {
  all: 0, icmp: 1, igmp: 2, ipencap: 4, tcp: 6, egp: 8, udp: 17, ipv6: 41, rsvp: 46, gre: 47,
  esp: 50, ah: 51, 'ipv6-icmp': 58, icmpv6: 58, ospf: 89, pim: 103, vrrp: 112, l2tp: 115,
  sctp: 132, udplite: 136, mh: 135,
};

const TCP_FLAG_BITS: Record<string, number> = {
  FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10, URG: 0x20, ECE: 0x40, CWR: 0x80, ALL: 0x3f, NONE: 0,
};

const CT_STATE_BITS: Record<string, number> = {
  INVALID: 1 << CtState.INVALID, ESTABLISHED: 1 << CtState.ESTABLISHED, NEW: 1 << CtState.NEW,
  RELATED: 1 << CtState.RELATED, UNTRACKED: 1 << CtState.UNTRACKED,
  SNAT: CTSTATE_SNAT, DNAT: CTSTATE_DNAT,
};

const ADDRTYPE_BITS: Record<string, number> = {
  UNSPEC: AddrType.UNSPEC, UNICAST: AddrType.UNICAST, LOCAL: AddrType.LOCAL, BROADCAST: AddrType.BROADCAST, MULTICAST: AddrType.MULTICAST,
};

/** ICMP type names iptables knows (libxt_icmp.c icmp_codes), name -> [type, codeLo, codeHi]. */
const ICMP_NAMES: Record<string, [number, number, number]> = {
  any: [255, 0, 255], 'echo-reply': [0, 0, 255], pong: [0, 0, 255], 'destination-unreachable': [3, 0, 255],
  'network-unreachable': [3, 0, 0], 'host-unreachable': [3, 1, 1], 'protocol-unreachable': [3, 2, 2],
  'port-unreachable': [3, 3, 3], 'fragmentation-needed': [3, 4, 4], 'source-route-failed': [3, 5, 5],
  'network-unknown': [3, 6, 6], 'host-unknown': [3, 7, 7], 'network-prohibited': [3, 9, 9], 'host-prohibited': [3, 10, 10],
  'communication-prohibited': [3, 13, 13], 'source-quench': [4, 0, 255], redirect: [5, 0, 255],
  'echo-request': [8, 0, 255], ping: [8, 0, 255], 'router-advertisement': [9, 0, 255], 'router-solicitation': [10, 0, 255],
  'time-exceeded': [11, 0, 255], 'ttl-zero-during-transit': [11, 0, 0], 'ttl-zero-during-reassembly': [11, 1, 1],
  'parameter-problem': [12, 0, 255], 'timestamp-request': [13, 0, 255], 'timestamp-reply': [14, 0, 255],
  'address-mask-request': [17, 0, 255], 'address-mask-reply': [18, 0, 255],
};
const ICMP6_NAMES: Record<string, [number, number, number]> = {
  'destination-unreachable': [1, 0, 255], 'no-route': [1, 0, 0], 'communication-prohibited': [1, 1, 1],
  'address-unreachable': [1, 3, 3], 'port-unreachable': [1, 4, 4], 'packet-too-big': [2, 0, 255],
  'time-exceeded': [3, 0, 255], 'parameter-problem': [4, 0, 255], 'echo-request': [128, 0, 255], ping: [128, 0, 255],
  'echo-reply': [129, 0, 255], pong: [129, 0, 255], 'router-solicitation': [133, 0, 255], 'router-advertisement': [134, 0, 255],
  'neighbour-solicitation': [135, 0, 255], 'neighbor-solicitation': [135, 0, 255],
  'neighbour-advertisement': [136, 0, 255], 'neighbor-advertisement': [136, 0, 255], redirect: [137, 0, 255],
};

/** Modules whose options the parser understands (comment and state are handled too). */
const KNOWN_MODULES = new Set(['tcp', 'udp', 'multiport', 'conntrack', 'state', 'mark', 'connmark', 'comment', 'iprange', 'set', 'limit', 'icmp', 'icmp6', 'addrtype']);

/**
 * The options each match module declares. iptables (command_default in iptables/xshared.c) hands
 * an option to whichever match already loaded in the rule declares it, then to the protocol's
 * implicit match (`-p tcp`), not necessarily to the last `-m`: `-p tcp -m mark --mark 0 --dport 80`
 * is a tcp --dport.
 */
const MODULE_OPTIONS: Readonly<Record<string, ReadonlySet<string>>> = {
  tcp: new Set(['--sport', '--source-port', '--dport', '--destination-port', '--tcp-flags', '--syn', '--tcp-option']),
  udp: new Set(['--sport', '--source-port', '--dport', '--destination-port']),
  multiport: new Set(['--sports', '--source-ports', '--dports', '--destination-ports', '--ports']),
  conntrack: new Set(['--ctstate', '--ctdir', '--ctorigsrc', '--ctorigdst', '--ctproto', '--ctorigsrcport', '--ctorigdstport', '--ctreplsrc', '--ctrepldst', '--ctreplsrcport', '--ctrepldstport', '--ctstatus', '--ctexpire']),
  state: new Set(['--state']),
  mark: new Set(['--mark']),
  connmark: new Set(['--mark']),
  comment: new Set(['--comment']),
  iprange: new Set(['--src-range', '--dst-range']),
  set: new Set(['--match-set', '--return-nomatch', '--update-counters', '--update-subcounters', '--packets-eq', '--packets-lt', '--packets-gt', '--bytes-eq', '--bytes-lt', '--bytes-gt']),
  limit: new Set(['--limit', '--limit-burst']),
  icmp: new Set(['--icmp-type']),
  icmp6: new Set(['--icmpv6-type']),
  addrtype: new Set(['--src-type', '--dst-type', '--limit-iface-in', '--limit-iface-out']),
};

function declares(mod: string, opt: string): boolean {
  return MODULE_OPTIONS[mod]?.has(opt) ?? false;
}

/** Match modules loaded so far in the rule being parsed (reused from rule to rule). */
const LOADED: string[] = [];

class RuleError extends Error {}

/** Growable flat arrays for the fixed address fields. */
class AddrArrays {
  src: Uint32Array = new Uint32Array(4 * 1024);
  srcMask: Uint32Array = new Uint32Array(4 * 1024);
  dst: Uint32Array = new Uint32Array(4 * 1024);
  dstMask: Uint32Array = new Uint32Array(4 * 1024);
  ensure(ruleCount: number): void {
    if (ruleCount * 4 <= this.src.length) return;
    const n = Math.max(ruleCount * 4, this.src.length * 2);
    const grow = (a: Uint32Array): Uint32Array => {
      const b = new Uint32Array(n);
      b.set(a);
      return b;
    };
    this.src = grow(this.src);
    this.srcMask = grow(this.srcMask);
    this.dst = grow(this.dst);
    this.dstMask = grow(this.dstMask);
  }
}

class GrowF64 {
  a: Float64Array = new Float64Array(1024);
  set(i: number, v: number): void {
    if (i >= this.a.length) {
      const b = new Float64Array(Math.max(i + 1, this.a.length * 2));
      b.set(this.a);
      this.a = b;
    }
    this.a[i] = v;
  }
  trim(n: number): Float64Array {
    return this.a.length === n ? this.a : this.a.slice(0, n);
  }
}

/*
 * Tokens of the rule being parsed, as offsets into the ruleset text (module state, reused for
 * every rule: no array, closure or string per token). A token becomes a string only when the
 * parser asks for it (tokStr), and then through a small intern table, so the option names,
 * modules, targets and other repeated words are one shared string each.
 */
let SRC = '';
let TS = new Int32Array(64);
let TE = new Int32Array(64);
/** Unescaped text of quoted tokens (only read when the line had a '"'). */
const TQ: (string | null)[] = [];
let TQUOTED = false;
let TN = 0;
/** Cursor of parseRuleSpec / parseMatchOption. */
let K = 0;

function pushToken(a: number, b: number, quoted: string | null): void {
  if (TN === TS.length) {
    const ts = new Int32Array(TN * 2);
    ts.set(TS);
    TS = ts;
    const te = new Int32Array(TN * 2);
    te.set(TE);
    TE = te;
  }
  TS[TN] = a;
  TE[TN] = b;
  if (TQUOTED) TQ[TN] = quoted;
  TN++;
}

/**
 * Splits `s[start, end)` into tokens. iptables-save separates with single spaces; runs of
 * blanks are tolerated. Without a '"' on the line only spaces separate (a tab stays inside its
 * token); with one, spaces and tabs separate and "..." is one token with backslash escapes.
 */
function tokenizeRange(s: string, start: number, end: number): void {
  SRC = s;
  TN = 0;
  TQUOTED = false;
  for (let k = start; k < end; k++) {
    if (s.charCodeAt(k) === 34) {
      TQUOTED = true;
      break;
    }
  }
  if (!TQUOTED) {
    let a = start;
    for (let k = start; k <= end; k++) {
      if (k === end || s.charCodeAt(k) === 32) {
        if (k > a) pushToken(a, k, null);
        a = k + 1;
      }
    }
    return;
  }
  let k = start;
  while (k < end) {
    while (k < end && (s.charCodeAt(k) === 32 || s.charCodeAt(k) === 9)) k++;
    if (k >= end) break;
    if (s.charCodeAt(k) === 34) {
      let v = '';
      k++;
      while (k < end && s.charCodeAt(k) !== 34) {
        if (s.charCodeAt(k) === 92 && k + 1 < end) k++;
        v += s[k];
        k++;
      }
      if (k >= end) throw new RuleError('unterminated quoted string');
      k++;
      pushToken(k, k, v);
    } else {
      const a = k;
      while (k < end && s.charCodeAt(k) !== 32 && s.charCodeAt(k) !== 9) k++;
      pushToken(a, k, null);
    }
  }
}

/** FNV-1a over `s[a, b)`. */
function hashRange(s: string, a: number, b: number): number {
  let h = 0x811c9dc5 | 0;
  for (let k = a; k < b; k++) h = Math.imul(h ^ s.charCodeAt(k), 0x01000193);
  return h;
}

/** Intern table (open addressing, bounded): repeated tokens become one shared string. */
const INTERN_SIZE = 1 << 15;
const INTERN_MAX = INTERN_SIZE >> 1;
const internStr: (string | undefined)[] = new Array<string | undefined>(INTERN_SIZE).fill(undefined);
const internHash = new Int32Array(INTERN_SIZE);
let internCount = 0;

function intern(s: string, a: number, b: number): string {
  const len = b - a;
  if (len === 0) return '';
  const h = hashRange(s, a, b);
  let slot = h & (INTERN_SIZE - 1);
  for (;;) {
    const e = internStr[slot];
    if (e === undefined) break;
    if (internHash[slot] === h && e.length === len && s.startsWith(e, a)) return e;
    slot = (slot + 1) & (INTERN_SIZE - 1);
  }
  const str = s.slice(a, b);
  if (internCount < INTERN_MAX) {
    internStr[slot] = str;
    internHash[slot] = h;
    internCount++;
  }
  return str;
}

// The words of the grammar are interned up front as the literals the switches compare with.
for (const w of [
  '-A', '!', '-s', '--source', '-d', '--destination', '-p', '--protocol', '-i', '--in-interface', '-o', '--out-interface',
  '-f', '--fragment', '-m', '--match', '-j', '--jump', '-g', '--goto', '--sport', '--source-port', '--dport',
  '--destination-port', '--tcp-flags', '--syn', '--sports', '--source-ports', '--dports', '--destination-ports', '--ports',
  '--ctstate', '--state', '--ctdir', '--ctorigsrc', '--ctorigdst', '--ctproto', '--ctorigsrcport', '--ctorigdstport',
  '--mark', '--comment', '--src-range', '--dst-range', '--match-set', '--limit', '--limit-burst', '--icmp-type',
  '--icmpv6-type', '--src-type', '--dst-type', '--reject-with', '--set-xmark', '--set-mark', '--and-mark', '--or-mark',
  '--xor-mark', '--save-mark', '--restore-mark', '--nfmask', '--ctmask', '--mask', '--set-class', '--to-source',
  '--to-destination', '--to-ports', '--random', '--random-fully', '--persistent', '--notrack',
  'ACCEPT', 'DROP', 'REJECT', 'RETURN', 'LOG', 'NFLOG', 'TCPMSS', 'MARK', 'CONNMARK', 'CLASSIFY', 'SNAT', 'DNAT',
  'MASQUERADE', 'REDIRECT', 'NOTRACK', 'CT', 'src', 'dst', 'ORIGINAL', 'REPLY', '-',
  ...KNOWN_MODULES, ...Object.keys(PROTOCOLS), ...Object.keys(CT_STATE_BITS),
]) intern(w, 0, w.length);

/** Token k as a string. */
function tokStr(k: number): string {
  if (TQUOTED) {
    const q = TQ[k];
    if (q !== null && q !== undefined) return q;
  }
  return intern(SRC, TS[k]!, TE[k]!);
}

/** Tokens from k on, joined by spaces (for messages). */
function tokensFrom(k: number): string {
  let out = '';
  for (let j = k; j < TN; j++) out += (j > k ? ' ' : '') + tokStr(j);
  return out;
}

/** Value of `0x` + hex digits or of decimal digits (charCode scan, no regex); -1 for anything else. */
function hexOrDecimal(text: string): number {
  const n = text.length;
  if (n > 2 && text.charCodeAt(0) === 48 && text.charCodeAt(1) === 120 /* x */) {
    let v = 0;
    for (let k = 2; k < n; k++) {
      const c = text.charCodeAt(k);
      const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
      if (d < 0) return -1;
      v = v * 16 + d;
    }
    return v;
  }
  return decimalDigits(text);
}

/** Value of a non-empty run of decimal digits; -1 for anything else. */
function decimalDigits(text: string): number {
  const n = text.length;
  if (n === 0) return -1;
  let v = 0;
  for (let k = 0; k < n; k++) {
    const c = text.charCodeAt(k) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

function parseNumber(text: string | undefined, what: string, max = 0xffffffff): number {
  if (text === undefined) throw new RuleError(`${what} needs a value`);
  let v = hexOrDecimal(text);
  if (v < 0) throw new RuleError(`${what}: "${text}" is not a number`);
  // Beyond 2^53 the digit loop may round differently from parseInt/Number; both are out of range.
  if (v > Number.MAX_SAFE_INTEGER) v = text.length > 2 && text.charCodeAt(1) === 120 ? parseInt(text, 16) : Number(text);
  if (v > max) throw new RuleError(`${what}: ${text} is out of range (0..${max})`);
  return v;
}

/** `value[/mask]` as xt_mark and xt_connmark take it. */
function parseValueMask(text: string | undefined, what: string): [number, number] {
  if (text === undefined) throw new RuleError(`${what} needs a value`);
  const slash = text.indexOf('/');
  if (slash < 0) return [parseNumber(text, what), 0xffffffff];
  return [parseNumber(text.slice(0, slash), what), parseNumber(text.slice(slash + 1), what)];
}

function parsePort(text: string, what: string): number {
  const v = decimalDigits(text);
  if (v < 0) {
    const named = SERVICES[text];
    if (named === undefined) throw new RuleError(`${what}: "${text}" is not a port number`);
    return named;
  }
  if (v > 65535) throw new RuleError(`${what}: port ${text} is out of range (0..65535)`);
  return v;
}

const SERVICES: Record<string, number> = {
  ftp: 21, ssh: 22, telnet: 23, smtp: 25, domain: 53, http: 80, pop3: 110, ntp: 123, imap: 143, snmp: 161,
  https: 443, submission: 587, imaps: 993, pop3s: 995, bootps: 67, bootpc: 68,
};

/** `PORT` or `LO:HI` (missing ends mean 0 / 65535). */
function parsePortRange(text: string | undefined, what: string): [number, number] {
  if (text === undefined) throw new RuleError(`${what} needs a port`);
  const colon = text.indexOf(':');
  if (colon < 0) {
    const p = parsePort(text, what);
    return [p, p];
  }
  const lo = colon === 0 ? 0 : parsePort(text.slice(0, colon), what);
  const hi = colon === text.length - 1 ? 65535 : parsePort(text.slice(colon + 1), what);
  if (lo > hi) throw new RuleError(`${what}: range ${text} is empty`);
  return [lo, hi];
}

function parseTcpFlags(text: string | undefined): number {
  if (text === undefined) throw new RuleError('--tcp-flags needs MASK COMP');
  let v = 0;
  for (const name of text.split(',')) {
    const b = TCP_FLAG_BITS[name.toUpperCase()];
    if (b === undefined) throw new RuleError(`--tcp-flags: unknown flag "${name}"`);
    v |= b;
  }
  return v;
}

function parseProto(text: string | undefined): number {
  if (text === undefined) throw new RuleError('-p needs a protocol');
  const lower = text.toLowerCase();
  const named = PROTOCOLS[lower];
  if (named !== undefined) return named;
  if (/^\d+$/.test(text) && Number(text) <= 255) return Number(text);
  throw new RuleError(`unknown protocol "${text}"`);
}

function parseMarkTarget(opt: string, arg: string | undefined, info: TargetInfo): void {
  const [v, m] = parseValueMask(arg, opt);
  switch (opt) {
    case '--set-xmark': info.markValue = v; info.markMask = m; return;
    case '--set-mark': info.markValue = v; info.markMask = (m | v) >>> 0; return; // libxt_MARK: mask |= value
    case '--and-mark': info.markValue = 0; info.markMask = ~v >>> 0; return;
    case '--or-mark': info.markValue = v; info.markMask = v; return;
    case '--xor-mark': info.markValue = v; info.markMask = 0; return;
    default: throw new RuleError(`MARK: unknown option "${opt}"`);
  }
}

function newInfo(): TargetInfo {
  return { markValue: 0, markMask: 0, connmarkMode: 0, ctmark: 0, ctmask: 0xffffffff, nfmask: 0xffffffff, priority: 0, natAddr: null, natPort: 0 };
}

interface ParserState {
  family: 4 | 6 | 0;
  sets: Map<string, IpSet>;
  lenient: boolean;
}

/** Fixes the family from the first address; mixing IPv4 and IPv6 is an error. */
function familyOf(state: ParserState, text: string): 4 | 6 {
  const f: 4 | 6 = looksIpv6(text) ? 6 : 4;
  if (state.family === 0) state.family = f;
  else if (state.family !== f) throw new RuleError(`IPv${f} address "${text}" in an IPv${state.family} ruleset`);
  return f;
}

function parseNatRange(text: string | undefined, what: string, state: ParserState, info: TargetInfo): void {
  if (text === undefined) throw new RuleError(`${what} needs an address`);
  // [ADDR[-ADDR]][:PORT[-PORT]]; IPv6 addresses are bracketed when a port follows.
  let addrPart = text;
  let portPart = '';
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) throw new RuleError(`${what}: bad address "${text}"`);
    addrPart = text.slice(1, close);
    portPart = text.slice(close + 1).replace(/^:/, '');
  } else if (!looksIpv6(text) || state.family === 4) {
    const colon = text.indexOf(':');
    if (colon >= 0) {
      addrPart = text.slice(0, colon);
      portPart = text.slice(colon + 1);
    }
  }
  const first = untilDash(addrPart);
  if (first !== '') {
    const words = [0, 0, 0, 0];
    const f = familyOf(state, first);
    if (f === 4) {
      const v = parseIpv4(first);
      if (v < 0) throw new RuleError(`${what}: bad address "${first}"`);
      words[0] = v;
    } else if (!parseIpv6(first, words)) {
      throw new RuleError(`${what}: bad address "${first}"`);
    }
    info.natAddr = words;
  }
  if (portPart !== '') info.natPort = parsePort(untilDash(portPart), what);
}

function next(): string | undefined {
  return ++K < TN ? tokStr(K) : undefined;
}

/**
 * Parses the rule spec tokens (everything after `-A CHAIN`). Returns the parts the Rule needs;
 * jump targets are returned by name and resolved once all chains are known.
 */
interface ParsedSpec {
  flags: number; proto: number; inIface: string; outIface: string; matches: Match[] | null;
  target: TargetValue; jumpName: string; info: TargetInfo | null; never: string;
  /** Token of the -g chain name (read in place by the caller), -1 when jumpName holds the name. */
  jumpTok: number;
}
/** Reused for every rule: the parser's result slots (one object, not one per rule). */
const SPEC: ParsedSpec = { flags: 0, proto: 0, inIface: '', outIface: '', matches: null, target: Target.NONE, jumpName: '', info: null, never: '', jumpTok: -1 };

function parseRuleSpec(table: TableName, state: ParserState, ruleId: number, addrs: AddrArrays): ParsedSpec {
  let flags = 0;
  let proto = 0;
  let inIface = '';
  let outIface = '';
  let matches: Match[] | null = null;
  let target: TargetValue = Target.NONE;
  let jumpName = '';
  let info: TargetInfo | null = null;
  let never = '';
  let module = '';
  let inv = false;
  const base = ruleId * 4;
  LOADED.length = 0;
  let jumpTok = -1;
  for (K = 0; K < TN; K++) {
    const t = tokStr(K);
    if (t === '!') {
      inv = true;
      continue;
    }
    const wasInv = inv;
    inv = false;
    switch (t) {
      case '-s': case '--source': case '-d': case '--destination': {
        const dst = t === '-d' || t === '--destination';
        flags |= dst ? RuleFlag.DST | (wasInv ? RuleFlag.DST_INV : 0) : RuleFlag.SRC | (wasInv ? RuleFlag.SRC_INV : 0);
        // The common IPv4 address is read in place (no string); anything else takes parseCidr.
        if (K + 1 < TN && state.family !== 6 && !(TQUOTED && TQ[K + 1] !== null)
          && parseCidr4At(SRC, TS[K + 1]!, TE[K + 1]!, dst ? addrs.dst : addrs.src, dst ? addrs.dstMask : addrs.srcMask, base)) {
          K++;
          state.family = 4;
          continue;
        }
        const a = next();
        if (a === undefined) throw new RuleError(`${t} needs an address`);
        const f = familyOf(state, a);
        const err = parseCidr(a, f, dst ? addrs.dst : addrs.src, dst ? addrs.dstMask : addrs.srcMask, base);
        if (err) throw new RuleError(`${t}: ${err}`);
        continue;
      }
      case '-p': case '--protocol':
        proto = parseProto(next());
        if (proto === 58 && state.family === 0) state.family = 6;
        if (wasInv) flags |= RuleFlag.PROTO_INV;
        continue;
      case '-i': case '--in-interface': case '-o': case '--out-interface': {
        const name = next();
        if (!name || name.length > 15) throw new RuleError(`${t}: bad interface name "${name ?? ''}"`);
        const wild = name.endsWith('+');
        const bare = wild ? name.slice(0, -1) : name;
        if (t === '-i' || t === '--in-interface') {
          inIface = bare;
          flags |= RuleFlag.IN | (wasInv ? RuleFlag.IN_INV : 0) | (wild ? RuleFlag.IN_WILD : 0);
        } else {
          outIface = bare;
          flags |= RuleFlag.OUT | (wasInv ? RuleFlag.OUT_INV : 0) | (wild ? RuleFlag.OUT_WILD : 0);
        }
        continue;
      }
      case '-f': case '--fragment':
        flags |= RuleFlag.FRAG | (wasInv ? RuleFlag.FRAG_INV : 0);
        continue;
      case '-m': case '--match': {
        const name = next();
        if (name === undefined) throw new RuleError('-m needs a module name');
        if (!KNOWN_MODULES.has(name)) {
          if (!state.lenient) throw new RuleError(`unknown match module "${name}"`);
          never ||= `unknown match module "${name}"`;
          module = '?';
        } else {
          module = name;
          LOADED.push(name);
          if (name === 'icmp6' && state.family === 0) state.family = 6;
        }
        continue;
      }
      case '-j': case '--jump': case '-g': case '--goto': {
        if (t === '-g' || t === '--goto') {
          // The chain name is looked up in place by the caller; a string only if it is missing.
          if (++K >= TN) throw new RuleError(`${t} needs a target`);
          target = Target.GOTO;
          jumpName = '';
          jumpTok = K;
          continue;
        }
        const name = next();
        if (name === undefined) throw new RuleError(`${t} needs a target`);
        module = '';
        if (!parseTarget(name, K + 1, table, state)) {
          if (!state.lenient) throw new RuleError(`unknown target "${name}"`);
          never ||= `unknown target "${name}"`;
          target = Target.NONE;
        } else {
          target = TGT.target;
          jumpName = TGT.jumpName;
          jumpTok = -1;
          info = TGT.info;
        }
        K = TN;
        continue;
      }
      default:
        break;
    }
    // A module option. Plain `-p tcp --dport 22` uses the protocol's implicit module.
    let mod = module;
    if (mod === '' && (proto === 6 || proto === 17 || proto === 132 || proto === 136)) mod = proto === 17 ? 'udp' : 'tcp';
    if (mod === '' && proto === 1) mod = 'icmp';
    if (mod === '' && proto === 58) mod = 'icmp6';
    if (mod !== '?' && !declares(mod, t)) {
      // Not the current module's option: a module loaded earlier in the rule, else the protocol's implicit one.
      const implicit = proto === 6 || proto === 132 || proto === 136 ? 'tcp' : proto === 17 ? 'udp' : proto === 1 ? 'icmp' : proto === 58 ? 'icmp6' : '';
      const owner = LOADED.find((m) => declares(m, t)) ?? (declares(implicit, t) ? implicit : undefined);
      if (owner !== undefined) mod = owner;
    }
    if (mod === '?') {
      // Lenient: skip the unknown module's options (they are kept in the rule text).
      continue;
    }
    const m = parseMatchOption(mod, t, wasInv, state);
    if (m !== null) (matches ??= []).push(m);
  }
  if (inv) throw new RuleError('"!" at the end of the rule');
  const out = SPEC;
  out.flags = flags | (never ? RuleFlag.NEVER : 0);
  out.proto = proto;
  out.inIface = inIface;
  out.outIface = outIface;
  out.matches = matches;
  out.target = target;
  out.jumpName = jumpName;
  out.info = info;
  out.never = never;
  out.jumpTok = jumpTok;
  return out;
}

function parseMatchOption(mod: string, opt: string, inv: boolean, state: ParserState): Match | null {
  switch (mod) {
    case 'tcp': case 'udp':
      switch (opt) {
        case '--sport': case '--source-port': case '--dport': case '--destination-port': {
          const [lo, hi] = parsePortRange(next(), opt);
          return { kind: MatchKind.PORTS, dst: opt === '--dport' || opt === '--destination-port', lo, hi, inv };
        }
        case '--tcp-flags':
          if (mod !== 'tcp') break;
          return { kind: MatchKind.TCP_FLAGS, mask: parseTcpFlags(next()), cmp: parseTcpFlags(next()), inv };
        case '--syn':
          if (mod !== 'tcp') break;
          return { kind: MatchKind.TCP_FLAGS, mask: 0x17, cmp: 0x02, inv };
      }
      break;
    case 'multiport': {
      const which = opt === '--sports' || opt === '--source-ports' ? 0 : opt === '--dports' || opt === '--destination-ports' ? 1 : opt === '--ports' ? 2 : -1;
      if (which < 0) break;
      const list = next();
      if (list === undefined) throw new RuleError(`${opt} needs a port list`);
      const parts = list.split(',');
      if (parts.length > 15) throw new RuleError(`${opt}: at most 15 ports (XT_MULTI_PORTS)`);
      const ranges = new Uint16Array(parts.length * 2);
      parts.forEach((p, j) => {
        const [lo, hi] = parsePortRange(p, opt);
        ranges[2 * j] = lo;
        ranges[2 * j + 1] = hi;
      });
      return { kind: MatchKind.MULTIPORT, which: which as 0 | 1 | 2, ranges, inv };
    }
    case 'conntrack': case 'state':
      switch (opt) {
        case '--ctstate': case '--state': {
          const list = next();
          if (list === undefined) throw new RuleError(`${opt} needs a state list`);
          let mask = 0;
          for (const s of list.split(',')) {
            const b = CT_STATE_BITS[s.toUpperCase()];
            if (b === undefined) throw new RuleError(`${opt}: state "${s}" is not modelled (known: ${Object.keys(CT_STATE_BITS).join(',')})`);
            if (mod === 'state' && (b === CTSTATE_SNAT || b === CTSTATE_DNAT)) throw new RuleError(`--state: "${s}" is a conntrack --ctstate state (xt_state knows INVALID,ESTABLISHED,NEW,RELATED,UNTRACKED)`);
            mask |= b;
          }
          return { kind: MatchKind.CTSTATE, mask, inv };
        }
        case '--ctdir': {
          const d = next();
          if (d !== 'ORIGINAL' && d !== 'REPLY') throw new RuleError(`--ctdir takes ORIGINAL or REPLY, got "${d ?? ''}"`);
          return { kind: MatchKind.CTDIR, reply: d === 'REPLY' !== inv };
        }
        case '--ctorigsrc': case '--ctorigdst': {
          const a = next();
          if (a === undefined) throw new RuleError(`${opt} needs an address`);
          const words = new Uint32Array(8);
          const err = parseCidr(a, familyOf(state, a), words, words.subarray(4), 0);
          if (err) throw new RuleError(`${opt}: ${err}`);
          return { kind: MatchKind.CTORIG_ADDR, dst: opt === '--ctorigdst', words, inv };
        }
        case '--ctproto':
          return { kind: MatchKind.CTPROTO, proto: parseProto(next()), inv };
        case '--ctorigsrcport': case '--ctorigdstport': {
          const [lo, hi] = parsePortRange(next(), opt);
          return { kind: MatchKind.CTORIG_PORT, dst: opt === '--ctorigdstport', lo, hi, inv };
        }
      }
      if (mod === 'conntrack') throw new RuleError(`conntrack option "${opt}" is not modelled (modelled: --ctstate, --ctdir, --ctorigsrc, --ctorigdst, --ctproto, --ctorigsrcport, --ctorigdstport)`);
      break;
    case 'mark': case 'connmark':
      if (opt !== '--mark') break;
      {
        const [value, mask] = parseValueMask(next(), opt);
        return { kind: mod === 'mark' ? MatchKind.MARK : MatchKind.CONNMARK, value: (value & mask) >>> 0, mask, inv };
      }
    case 'comment':
      if (opt !== '--comment') break;
      if (next() === undefined) throw new RuleError('--comment needs text');
      return null;
    case 'iprange': {
      if (opt !== '--src-range' && opt !== '--dst-range') break;
      const r = next();
      const dash = r === undefined ? -1 : r.indexOf('-');
      if (r === undefined || dash < 0) throw new RuleError(`${opt} takes FROM-TO, got "${r ?? ''}"`);
      const words = new Uint32Array(8);
      const mask = new Uint32Array(4);
      for (const [text, at] of [[r.slice(0, dash), 0], [r.slice(dash + 1), 4]] as const) {
        const err = parseCidr(text, familyOf(state, text), words, mask, at);
        if (err || text.includes('/')) throw new RuleError(`${opt}: ${err ?? `bad address "${text}"`}`);
      }
      if (compareWords(words, 0, words, 4) > 0) throw new RuleError(`${opt}: range ${r} is empty`);
      return { kind: MatchKind.IPRANGE, dst: opt === '--dst-range', words, inv };
    }
    case 'set': {
      if (opt !== '--match-set') break;
      const name = next();
      const dirs = next();
      if (name === undefined || dirs === undefined) throw new RuleError('--match-set needs NAME and src/dst flags');
      const set = state.sets.get(name);
      if (!set) throw new RuleError(`--match-set: set "${name}" is not defined (give its \`ipset save\` with --ipset)`);
      const list = dirs.split(',');
      if (list.some((d) => d !== 'src' && d !== 'dst')) throw new RuleError(`--match-set: flags must be src or dst, got "${dirs}"`);
      if (list.length < setDimensions(set.type)) throw new RuleError(`--match-set: set "${name}" (${set.typeName}) needs ${setDimensions(set.type)} flags, got "${dirs}"`);
      if (set.type !== SetType.BITMAP_PORT && state.family === 0) state.family = set.family;
      if (set.type !== SetType.BITMAP_PORT && set.family !== state.family) throw new RuleError(`--match-set: set "${name}" is IPv${set.family} in an IPv${state.family} ruleset`);
      return { kind: MatchKind.SET, set, dirs: list.map((d) => d === 'dst'), inv };
    }
    case 'limit':
      return parseLimit(opt);
    case 'icmp': case 'icmp6': {
      if (opt !== '--icmp-type' && opt !== '--icmpv6-type') break;
      const spec = next();
      if (spec === undefined) throw new RuleError(`${opt} needs a type`);
      const v6 = mod === 'icmp6';
      const named = (v6 ? ICMP6_NAMES : ICMP_NAMES)[spec];
      let type: number;
      let lo: number;
      let hi: number;
      if (named) [type, lo, hi] = named;
      else {
        const m = /^(\d+)(?:\/(\d+))?$/.exec(spec);
        if (!m) throw new RuleError(`${opt}: unknown type "${spec}"`);
        type = parseNumber(m[1], opt, 255);
        lo = m[2] === undefined ? 0 : parseNumber(m[2], opt, 255);
        hi = m[2] === undefined ? 255 : lo;
      }
      return { kind: MatchKind.ICMP, type, codeLo: lo, codeHi: hi, inv, v6 };
    }
    case 'addrtype': {
      if (opt !== '--src-type' && opt !== '--dst-type') {
        if (opt.startsWith('--limit-iface')) throw new RuleError(`addrtype ${opt} is not modelled`);
        break;
      }
      const list = next();
      if (list === undefined) throw new RuleError(`${opt} needs a type list`);
      let bits = 0;
      for (const s of list.split(',')) {
        const b = ADDRTYPE_BITS[s];
        if (b === undefined) throw new RuleError(`addrtype: type "${s}" is not modelled (known: ${Object.keys(ADDRTYPE_BITS).join(',')})`);
        bits |= b;
      }
      const src = opt === '--src-type';
      return { kind: MatchKind.ADDRTYPE, src: src ? bits : 0, dst: src ? 0 : bits, srcInv: src && inv, dstInv: !src && inv };
    }
  }
  throw new RuleError(mod === '' ? `unknown option "${opt}" (no -m module before it)` : `unknown option "${opt}" for module "${mod}"`);
}

/** xt_limit.c: HZ and the credit arithmetic of user2credits (HZ=1000 as on most distributions). */
export const LIMIT_HZ = 1000;
const XT_LIMIT_SCALE = 10000;
const MAX_CPJ = Math.floor(0xffffffff / (LIMIT_HZ * 60 * 60 * 24));
/** POW2_BELOW32(MAX_CPJ). */
export const CREDITS_PER_JIFFY = 2 ** Math.floor(Math.log2(MAX_CPJ));

function user2credits(user: number): number {
  if (user > Math.floor(0xffffffff / (LIMIT_HZ * CREDITS_PER_JIFFY))) return (Math.floor(user / XT_LIMIT_SCALE) * LIMIT_HZ * CREDITS_PER_JIFFY) >>> 0;
  return Math.floor((user * LIMIT_HZ * CREDITS_PER_JIFFY) / XT_LIMIT_SCALE) >>> 0;
}

let pendingLimit: { avg: number; burst: number } | null = null;

function parseLimit(opt: string): Match | null {
  // --limit and --limit-burst arrive as separate options; the match object is built by the
  // caller's flush (see finishLimit) so that both are known.
  pendingLimit ??= { avg: XT_LIMIT_SCALE * 3600 / 3, burst: 5 }; // libxt_limit defaults: 3/hour, burst 5
  if (opt === '--limit') {
    const v = next();
    const m = /^(\d+)\/(s|sec|second|m|min|minute|h|hour|d|day)$/.exec(v ?? '');
    if (!m || Number(m[1]) === 0) throw new RuleError(`--limit takes RATE/second|minute|hour|day, got "${v ?? ''}"`);
    const unit = m[2]![0] === 's' ? 1 : m[2]![0] === 'm' ? 60 : m[2]![0] === 'h' ? 3600 : 86400;
    const avg = Math.floor((XT_LIMIT_SCALE * unit) / Number(m[1]));
    if (avg === 0) throw new RuleError(`--limit ${v}: rate too fast`);
    pendingLimit.avg = avg;
    return null;
  }
  if (opt === '--limit-burst') {
    pendingLimit.burst = parseNumber(next(), opt, 10000);
    if (pendingLimit.burst === 0) throw new RuleError('--limit-burst must be at least 1');
    return null;
  }
  throw new RuleError(`unknown option "${opt}" for module "limit"`);
}

function finishLimit(): Match | null {
  if (!pendingLimit) return null;
  const { avg, burst } = pendingLimit;
  pendingLimit = null;
  const credit = user2credits(avg * burst);
  return { kind: MatchKind.LIMIT, cost: user2credits(avg), creditCap: credit, credit, prev: -1 };
}

function compareWords(a: Uint32Array, ai: number, b: Uint32Array, bi: number): number {
  for (let w = 0; w < 4; w++) {
    if (a[ai + w]! !== b[bi + w]!) return a[ai + w]! < b[bi + w]! ? -1 : 1;
  }
  return 0;
}


function needTable(name: string, table: TableName, want: TableName): void {
  if (table !== want) throw new RuleError(`target ${name} is only valid in the ${want} table`);
}

/** Result slot of parseTarget (one object, reused for every rule). */
const TGT: { target: TargetValue; jumpName: string; info: TargetInfo | null } = { target: Target.NONE, jumpName: '', info: null };

function setTarget(target: TargetValue, jumpName: string, info: TargetInfo | null): true {
  TGT.target = target;
  TGT.jumpName = jumpName;
  TGT.info = info;
  return true;
}

function plainTarget(name: string): TargetValue {
  return name === 'ACCEPT' ? Target.ACCEPT : name === 'DROP' ? Target.DROP : name === 'RETURN' ? Target.RETURN : Target.NONE;
}

/** Option k of the target being parsed (undefined past the end); set up by parseTarget. */
let OPT_START = 0;
let OPT_N = 0;
function opt(k: number): string | undefined {
  return k < OPT_N ? tokStr(OPT_START + k) : undefined;
}

/**
 * Parses `-j NAME` and its options (tokens `start`..end of the rule) into TGT; false when the
 * target is unknown.
 */
function parseTarget(name: string, start: number, table: TableName, state: ParserState): boolean {
  const plain = plainTarget(name);
  const n = TN - start;
  if (plain !== Target.NONE) {
    if (n > 0) throw new RuleError(`target ${name} takes no options, got "${tokensFrom(start)}"`);
    return setTarget(plain, '', null);
  }
  OPT_START = start;
  OPT_N = n;
  switch (name) {
    case 'REJECT':
      for (let k = 0; k < n; k++) {
        if (opt(k) !== '--reject-with' || opt(++k) === undefined) throw new RuleError(`REJECT: unknown option "${opt(k)}"`);
      }
      return setTarget(Target.REJECT, '', null);
    case 'LOG': case 'NFLOG': case 'TCPMSS':
      // Their options do not change what the models see; the rule text keeps them.
      return setTarget(Target.LOG, '', null);
    case 'MARK': {
      if (n === 0) throw new RuleError('MARK needs --set-mark, --set-xmark, --and-mark, --or-mark or --xor-mark');
      const info = newInfo();
      for (let k = 0; k < n; k++) {
        const o = opt(k)!;
        parseMarkTarget(o, opt(++k), info);
      }
      return setTarget(Target.MARK, '', info);
    }
    case 'CONNMARK': {
      const info = newInfo();
      let mode = -1;
      for (let k = 0; k < n; k++) {
        const o = opt(k)!;
        switch (o) {
          case '--set-xmark': case '--set-mark': {
            const [v, m] = parseValueMask(opt(++k), o);
            mode = 0;
            info.ctmark = v;
            info.ctmask = o === '--set-mark' ? (m | v) >>> 0 : m;
            break;
          }
          case '--and-mark': mode = 0; info.ctmark = 0; info.ctmask = ~parseNumber(opt(++k), o) >>> 0; break;
          case '--or-mark': mode = 0; info.ctmark = parseNumber(opt(++k), o); info.ctmask = info.ctmark; break;
          case '--xor-mark': mode = 0; info.ctmark = parseNumber(opt(++k), o); info.ctmask = 0; break;
          case '--save-mark': mode = 1; break;
          case '--restore-mark': mode = 2; break;
          case '--nfmask': info.nfmask = parseNumber(opt(++k), o); break;
          case '--ctmask': info.ctmask = parseNumber(opt(++k), o); break;
          case '--mask': info.nfmask = info.ctmask = parseNumber(opt(++k), o); break;
          default: throw new RuleError(`CONNMARK: unknown option "${o}"`);
        }
      }
      if (mode < 0) throw new RuleError('CONNMARK needs --set-mark, --save-mark or --restore-mark');
      info.connmarkMode = mode;
      return setTarget(Target.CONNMARK, '', info);
    }
    case 'CLASSIFY': {
      if (opt(0) !== '--set-class' || n !== 2) throw new RuleError('CLASSIFY takes --set-class MAJOR:MINOR');
      const cls = opt(1)!;
      const m = /^([0-9a-fA-F]{1,4}):([0-9a-fA-F]{1,4})$/.exec(cls);
      if (!m) throw new RuleError(`CLASSIFY: bad class "${cls}" (hex MAJOR:MINOR)`);
      const info = newInfo();
      info.priority = ((parseInt(m[1]!, 16) << 16) | parseInt(m[2]!, 16)) >>> 0;
      return setTarget(Target.CLASSIFY, '', info);
    }
    case 'SNAT': case 'DNAT': case 'MASQUERADE': case 'REDIRECT': {
      needTable(name, table, 'nat');
      const info = newInfo();
      for (let k = 0; k < n; k++) {
        const o = opt(k)!;
        if ((o === '--to-source' && name === 'SNAT') || (o === '--to-destination' && name === 'DNAT')) parseNatRange(opt(++k), o, state, info);
        else if (o === '--to-ports' && (name === 'MASQUERADE' || name === 'REDIRECT')) info.natPort = parsePort(untilDash(opt(++k) ?? ''), o);
        else if (o === '--random' || o === '--random-fully' || o === '--persistent') continue;
        else throw new RuleError(`${name}: unknown option "${o}"`);
      }
      if ((name === 'SNAT' || name === 'DNAT') && info.natAddr === null) throw new RuleError(`${name} needs ${name === 'SNAT' ? '--to-source' : '--to-destination'}`);
      const target = name === 'SNAT' ? Target.SNAT : name === 'DNAT' ? Target.DNAT : name === 'MASQUERADE' ? Target.MASQUERADE : Target.REDIRECT;
      return setTarget(target, '', info);
    }
    case 'NOTRACK':
      needTable(name, table, 'raw');
      if (n > 0) throw new RuleError(`target ${name} takes no options, got "${tokensFrom(start)}"`);
      return setTarget(Target.NOTRACK, '', null);
    case 'CT':
      needTable(name, table, 'raw');
      if (n !== 1 || opt(0) !== '--notrack') throw new RuleError(`CT: only --notrack is modelled, got "${tokensFrom(start)}"`);
      return setTarget(Target.NOTRACK, '', null);
    default:
      // A user chain (resolved later), in capitals or not; anything with options is unknown.
      if (n === 0) return setTarget(Target.JUMP, name, null);
      return false;
  }
}

/** `text` up to its first '-' (what `text.split('-')[0]` gives). */
function untilDash(text: string): string {
  const dash = text.indexOf('-');
  return dash < 0 ? text : text.slice(0, dash);
}

interface PendingJump {
  ruleId: number;
  name: string;
  line: number;
  table: TableName;
}

/**
 * Chains of the current table by name: open addressing over chain ids, probed with a name read
 * in place from the text (`-A NAME`, `-g NAME`), so a rule needs no name string.
 */
class ChainIndex {
  private ids = new Int32Array(1024).fill(-1);
  private hashes = new Int32Array(1024);
  private count = 0;
  constructor(private readonly chains: Chain[]) {}
  clear(): void {
    this.ids.fill(-1);
    this.count = 0;
  }
  /** Chain id named `s[a, b)`, or -1. */
  find(s: string, a: number, b: number): number {
    const h = hashRange(s, a, b);
    const mask = this.ids.length - 1;
    const len = b - a;
    for (let slot = h & mask; ; slot = (slot + 1) & mask) {
      const id = this.ids[slot]!;
      if (id < 0) return -1;
      if (this.hashes[slot] === h) {
        const name = this.chains[id]!.name;
        if (name.length === len && s.startsWith(name, a)) return id;
      }
    }
  }
  add(id: number): void {
    if ((this.count + 1) * 2 > this.ids.length) {
      const old = this.ids;
      this.ids = new Int32Array(old.length * 2).fill(-1);
      this.hashes = new Int32Array(old.length * 2);
      this.count = 0;
      for (let k = 0; k < old.length; k++) if (old[k]! >= 0) this.add(old[k]!);
    }
    const name = this.chains[id]!.name;
    const h = hashRange(name, 0, name.length);
    const mask = this.ids.length - 1;
    let slot = h & mask;
    while (this.ids[slot]! >= 0) slot = (slot + 1) & mask;
    this.ids[slot] = id;
    this.hashes[slot] = h;
    this.count++;
  }
}

class GrowI32 {
  a: Int32Array = new Int32Array(1024);
  set(i: number, v: number): void {
    if (i >= this.a.length) {
      const b = new Int32Array(Math.max(i + 1, this.a.length * 2));
      b.set(this.a);
      this.a = b;
    }
    this.a[i] = v;
  }
}

/** Placeholder rule list of every chain until the lists are built at the end of the parse. */
const NO_RULES = new Int32Array(0);

/** Index of the first `ch` in `s[a, b)`, or -1 (bounded: never scans past the line). */
function indexInLine(s: string, ch: number, a: number, b: number): number {
  for (let k = a; k < b; k++) if (s.charCodeAt(k) === ch) return k;
  return -1;
}

/** Counter text of `[p:b]` (digits only): its value; -1 when it is not digits. */
function counterValue(s: string, a: number, b: number): number {
  if (b <= a) return -1;
  let v = 0;
  for (let k = a; k < b; k++) {
    const c = s.charCodeAt(k) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  // Byte counters can pass 2^53: then Number() rounds the text exactly as before.
  return v > Number.MAX_SAFE_INTEGER ? Number(s.slice(a, b)) : v;
}

/** Result slot of chainLine, shaped like the regex match it stands for. */
const CHAIN_LINE: [string, string, string, string | undefined, string | undefined] = ['', '', '', undefined, undefined];

/**
 * `:NAME POLICY` or `:NAME POLICY [p:b]` with printable ASCII names, single spaces and nothing
 * after: what /^:(\S+) (\S+)(?: \[(\d+):(\d+)\])?\s*$/ matches in iptables-save output, without
 * the regex's arrays; null for anything else (the regex then decides).
 */
function chainLine(line: string): typeof CHAIN_LINE | null {
  const n = line.length;
  let k = 1;
  while (k < n && isPrintable(line.charCodeAt(k))) k++;
  if (k === 1 || k >= n || line.charCodeAt(k) !== 32) return null;
  const nameEnd = k++;
  const policyStart = k;
  while (k < n && isPrintable(line.charCodeAt(k))) k++;
  if (k === policyStart) return null;
  const policyEnd = k;
  let pk: string | undefined;
  let by: string | undefined;
  if (k < n) {
    // " [digits:digits]" and the end of the line.
    if (line.charCodeAt(k) !== 32 || line.charCodeAt(k + 1) !== 91 || line.charCodeAt(n - 1) !== 93) return null;
    const colon = line.indexOf(':', k + 2);
    if (colon < 0 || counterValue(line, k + 2, colon) < 0 || counterValue(line, colon + 1, n - 1) < 0) return null;
    pk = line.slice(k + 2, colon);
    by = line.slice(colon + 1, n - 1);
  }
  CHAIN_LINE[1] = line.slice(1, nameEnd);
  CHAIN_LINE[2] = intern(line, policyStart, policyEnd);
  CHAIN_LINE[3] = pk;
  CHAIN_LINE[4] = by;
  return CHAIN_LINE;
}

/** Printable ASCII other than space (all of it is \S). */
function isPrintable(c: number): boolean {
  return c > 32 && c < 127;
}

/**
 * Parses iptables-save text. Throws InputError (`file:line: message`) on the first problem.
 *
 * Speed (issue 4, 1.6M rules): one pass over the text by offsets; rule lines are never sliced
 * into line or token strings, only the rule text kept for printing is (tokenizeRange, tokStr);
 * chain names of `-A` and `-g` are looked up in place (ChainIndex); IPv4 addresses are parsed in
 * place (parseCidr4At). Other lines (tables, chains, COMMIT) are rare and take the plain path.
 */
export function parseIptablesSave(text: string, options: ParseOptions): Ruleset {
  const file = options.file;
  const state: ParserState = {
    family: options.family === 4 || options.family === 6 ? options.family : 0,
    sets: options.sets ?? new Map(),
    lenient: options.lenient ?? false,
  };
  const tables: RuleTable[] = [];
  const chains: Chain[] = [];
  const rules: Rule[] = [];
  const warnings: string[] = [];
  const addrs = new AddrArrays();
  const rulePk = new GrowF64();
  const ruleBy = new GrowF64();
  /** Chain of each rule id (the per-chain lists are built once at the end). */
  const ruleChain = new GrowI32();
  const polPk: number[] = [];
  const polBy: number[] = [];
  const jumps: PendingJump[] = [];
  let table: RuleTable | null = null;
  let tableLine = 0;
  /** Chains of the current table by name. */
  const byName = new ChainIndex(chains);
  let lastChainId = -1;
  let lineNo = 0;
  let pos = 0;
  const fail: (message: string, line?: number) => never = (message, line = lineNo) => {
    throw new InputError(`${file}:${line}`, message);
  };
  const textLen = text.length;
  while (pos <= textLen) {
    let end = text.indexOf('\n', pos);
    if (end < 0) end = textLen;
    lineNo++;
    const ls = pos;
    let le = end;
    pos = end + 1;
    if (le > ls && text.charCodeAt(le - 1) === 13 /* \r */) le--;
    if (le === ls) {
      if (pos > textLen) break;
      continue;
    }
    const c = text.charCodeAt(ls);
    if (c === 35 /* # */) continue;
    if (table === null || (c !== 45 /* - */ && c !== 91 /* [ */)) {
      // Not a rule (or an error): tables, chain declarations, COMMIT.
      const line = text.slice(ls, le);
      if (c === 42 /* * */) {
        if (table) fail(`table "${line.slice(1)}" starts before COMMIT of table "${table.name}" (line ${tableLine})`);
        const name = line.slice(1).trim() as TableName;
        if (!TABLES.includes(name)) fail(`table "${name}" is not modelled (known: ${TABLES.join(', ')})`);
        if (tables.some((t) => t.name === name)) fail(`table "${name}" appears twice`);
        table = { name, chains: [], hooks: { PREROUTING: -1, INPUT: -1, FORWARD: -1, OUTPUT: -1, POSTROUTING: -1 } };
        lastChainId = -1;
        tableLine = lineNo;
        byName.clear();
        continue;
      }
      if (line === 'COMMIT') {
        if (!table) fail('COMMIT without a table');
        for (const hook of BUILTIN_CHAINS[table.name]) {
          if (table.hooks[hook] < 0) {
            // iptables-restore creates missing built-in chains with policy ACCEPT.
            const id = chains.length;
            chains.push({ id, name: hook, table: table.name, builtin: true, policy: Target.ACCEPT, rules: NO_RULES, line: lineNo });
            polPk.push(0);
            polBy.push(0);
            table.chains.push(id);
            table.hooks[hook] = id;
          }
        }
        tables.push(table);
        table = null;
        continue;
      }
      if (!table) fail(`"${line.slice(0, 40)}" outside a table (expected *raw, *mangle, *nat or *filter)`);
      if (c === 58 /* : */) {
        const m = chainLine(line) ?? /^:(\S+) (\S+)(?: \[(\d+):(\d+)\])?\s*$/.exec(line);
        if (!m) fail(`bad chain line "${line}" (expected ":CHAIN POLICY [packets:bytes]")`);
        const name = m[1]!;
        const isBuiltin = (BUILTIN_CHAINS[table.name] as readonly string[]).includes(name);
        let policy: TargetValue = Target.NONE;
        if (isBuiltin) {
          if (m[2] !== 'ACCEPT' && m[2] !== 'DROP') fail(`built-in chain ${name} needs policy ACCEPT or DROP, got "${m[2]}"`);
          policy = m[2] === 'ACCEPT' ? Target.ACCEPT : Target.DROP;
        } else if (m[2] !== '-') {
          if (['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'].includes(name)) fail(`table ${table.name} has no built-in chain ${name}`);
          fail(`user chain ${name} cannot have policy "${m[2]}" (use "-")`);
        }
        if (byName.find(name, 0, name.length) >= 0) fail(`chain ${name} declared twice in table ${table.name}`);
        const id = chains.length;
        chains.push({ id, name, table: table.name, builtin: isBuiltin, policy, rules: NO_RULES, line: lineNo });
        polPk.push(m[3] ? Number(m[3]) : 0);
        polBy.push(m[4] ? Number(m[4]) : 0);
        byName.add(id);
        table.chains.push(id);
        if (isBuiltin) table.hooks[name as HookName] = id;
        continue;
      }
      fail(`unknown command "${line.slice(0, 40)}" (expected -A, :CHAIN, COMMIT or *table)`);
    }
    // A rule: optional "[p:b] " then "-A CHAIN spec", read in place.
    let body = ls;
    let pk = 0;
    let by = 0;
    if (c === 91 /* [ */) {
      let close = -1;
      for (let k = ls; k + 1 < le; k++) {
        if (text.charCodeAt(k) === 93 /* ] */ && text.charCodeAt(k + 1) === 32) {
          close = k;
          break;
        }
      }
      const colon = indexInLine(text, 58 /* : */, ls, le);
      if (close < 0 || colon < 0 || colon > close) fail(`bad counters in "${text.slice(ls, le).slice(0, 40)}"`);
      pk = counterValue(text, ls + 1, colon);
      by = counterValue(text, colon + 1, close);
      if (pk < 0 || by < 0) fail(`bad counters "[${text.slice(ls + 1, colon)}:${text.slice(colon + 1, close)}]"`);
      body = close + 2;
    }
    if (le - body < 3 || !text.startsWith('-A ', body)) fail(`unknown command "${text.slice(body, le).slice(0, 40)}" (expected -A, :CHAIN, COMMIT or *table)`);
    const sp = indexInLine(text, 32 /* space */, body + 3, le);
    const nameEnd = sp < 0 ? le : sp;
    // Consecutive rules nearly always share a chain: compare in place first.
    let chainId = lastChainId;
    if (chainId < 0 || chains[chainId]!.name.length !== nameEnd - body - 3 || !text.startsWith(chains[chainId]!.name, body + 3)) {
      chainId = byName.find(text, body + 3, nameEnd);
      if (chainId >= 0) lastChainId = chainId;
    }
    if (chainId < 0) {
      const chainName = text.slice(body + 3, nameEnd);
      fail(`chain ${chainName} does not exist in table ${table.name} (declare it with ":${chainName} - [0:0]")`);
    }
    const chainName = chains[chainId]!.name;
    const spec = sp < 0 ? '' : text.slice(sp + 1, le);
    const id = rules.length;
    addrs.ensure(id + 1);
    let parsed: ParsedSpec;
    try {
      pendingLimit = null;
      if (sp < 0) {
        TN = 0;
        TQUOTED = false;
      }
      else tokenizeRange(text, sp + 1, le);
      parsed = parseRuleSpec(table.name, state, id, addrs);
      const limit = finishLimit();
      if (limit) (parsed.matches ??= []).push(limit);
    } catch (e) {
      if (e instanceof RuleError) fail(`${e.message} in "-A ${chainName} ${spec}"`);
      throw e;
    }
    if (parsed.never) warnings.push(`${file}:${lineNo}: ${parsed.never} in "-A ${chainName} ${spec}"; the rule never matches (--lenient)`);
    let jump = -1;
    if (parsed.target === Target.JUMP || parsed.target === Target.GOTO) {
      // iptables-save declares every chain before the rules; later declarations resolve below.
      const jt = parsed.jumpTok;
      const inPlace = jt >= 0 && !(TQUOTED && TQ[jt] !== null);
      jump = inPlace ? byName.find(text, TS[jt]!, TE[jt]!) : byName.find(parsed.jumpName, 0, parsed.jumpName.length);
      if (jump >= 0 && chains[jump]!.builtin) fail(`cannot jump to built-in chain ${chains[jump]!.name}`);
      if (jump < 0) jumps.push({ ruleId: id, name: jt >= 0 ? tokStr(jt) : parsed.jumpName, line: lineNo, table: table.name });
    }
    rules.push({
      id, chain: chainId, line: lineNo, text: spec, flags: parsed.flags, proto: parsed.proto,
      inIface: parsed.inIface, outIface: parsed.outIface, matches: parsed.matches,
      target: parsed.target, jump, info: parsed.info,
    });
    ruleChain.set(id, chainId);
    rulePk.set(id, pk);
    ruleBy.set(id, by);
  }
  if (table) fail(`table "${table.name}" (line ${tableLine}) has no COMMIT`, lineNo);

  // Resolve jumps to chains declared after the rule, now that every chain is known.
  const chainIndex = new Map<string, number>();
  if (jumps.length > 0) for (const ch of chains) chainIndex.set(`${ch.table}\u0000${ch.name}`, ch.id);
  for (const j of jumps) {
    const target = chainIndex.get(`${j.table}\u0000${j.name}`);
    const rule = rules[j.ruleId]!;
    if (target === undefined) {
      if (rule.target === Target.JUMP && /^[A-Z][A-Z0-9_]*$/.test(j.name) && !state.lenient) fail(`unknown target or missing chain "${j.name}" in "-A ${chains[rule.chain]!.name} ${rule.text}"`, j.line);
      if (state.lenient && rule.target === Target.JUMP) {
        warnings.push(`${file}:${j.line}: unknown target "${j.name}"; the rule never matches (--lenient)`);
        rules[j.ruleId] = { ...rule, target: Target.NONE, flags: rule.flags | RuleFlag.NEVER };
        continue;
      }
      fail(`jump to missing chain "${j.name}" in "-A ${chains[rule.chain]!.name} ${rule.text}"`, j.line);
    }
    if (chains[target]!.builtin) fail(`cannot jump to built-in chain ${j.name}`, j.line);
    (rules[j.ruleId] as { jump: number }).jump = target;
  }
  // Rule ids per chain, in order: a counting sort over ruleChain into one array, each chain's
  // list a view of it (one object per chain instead of a buffer per chain).
  const n = rules.length;
  const start = new Int32Array(chains.length + 1);
  const ruleChainIds = ruleChain.a;
  for (let r = 0; r < n; r++) start[ruleChainIds[r]! + 1]!++;
  for (let c = 0; c < chains.length; c++) start[c + 1]! += start[c]!;
  const byChain = new Int32Array(n);
  const fill = start.slice(0, chains.length);
  for (let r = 0; r < n; r++) byChain[fill[ruleChainIds[r]!]!++] = r;
  for (const ch of chains) ch.rules = byChain.subarray(start[ch.id]!, start[ch.id + 1]!);
  checkLoops(chains, rules, file);

  return {
    family: state.family === 0 ? 4 : state.family,
    source: file,
    tables, chains, rules,
    srcAddr: addrs.src.slice(0, n * 4), srcMask: addrs.srcMask.slice(0, n * 4),
    dstAddr: addrs.dst.slice(0, n * 4), dstMask: addrs.dstMask.slice(0, n * 4),
    inputRulePackets: rulePk.trim(n), inputRuleBytes: ruleBy.trim(n),
    inputPolicyPackets: Float64Array.from(polPk), inputPolicyBytes: Float64Array.from(polBy),
    sets: state.sets, warnings,
  };
}

/** The kernel refuses jump loops (mark_source_chains, -ELOOP); so do we, naming the rule. */
function checkLoops(chains: Chain[], rules: Rule[], file: string): void {
  const color = new Uint8Array(chains.length); // 0 new, 1 on stack, 2 done
  // Iterative DFS: a stack of (chain, next rule index) pairs in two typed arrays.
  const stackChain = new Int32Array(chains.length);
  const stackNext = new Int32Array(chains.length);
  for (const start of chains) {
    if (color[start.id] !== 0) continue;
    let depth = 1;
    stackChain[0] = start.id;
    stackNext[0] = 0;
    color[start.id] = 1;
    while (depth > 0) {
      const ch = chains[stackChain[depth - 1]!]!;
      if (stackNext[depth - 1]! >= ch.rules.length) {
        color[ch.id] = 2;
        depth--;
        continue;
      }
      const rule = rules[ch.rules[stackNext[depth - 1]!++]!]!;
      if (rule.jump < 0) continue;
      if (color[rule.jump] === 1) throw new InputError(`${file}:${rule.line}`, `loop of jumps: ${ch.name} -> ${chains[rule.jump]!.name} leads back to itself`);
      if (color[rule.jump] === 0) {
        color[rule.jump] = 1;
        stackChain[depth] = rule.jump;
        stackNext[depth] = 0;
        depth++;
      }
    }
  }
}

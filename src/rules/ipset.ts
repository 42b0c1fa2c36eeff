/**
 * ipset: the `ipset save` format and the lookups `-m set --match-set` performs.
 *
 * Mirrors the kernel's set types in net/netfilter/ipset/: ip_set_hash_ip.c, ip_set_hash_net.c
 * (most specific prefix first, `nomatch` entries answer "no"), ip_set_hash_ipport.c (address,
 * protocol and port; ICMP type/code stand in for the port) and ip_set_bitmap_port.c. Lookups
 * allocate nothing: a set is an open-addressing table of 6-word keys in typed arrays.
 */
import { parseCidr, parseIpv4, parseIpv6, prefixMaskWord } from './addr.js';

export const enum SetType {
  HASH_IP = 0,
  HASH_NET = 1,
  HASH_IP_PORT = 2,
  BITMAP_PORT = 3,
}
export type SetTypeValue = SetType;

const TYPE_NAMES: Record<string, SetTypeValue> = {
  'hash:ip': SetType.HASH_IP,
  'hash:net': SetType.HASH_NET,
  'hash:ip,port': SetType.HASH_IP_PORT,
  'bitmap:port': SetType.BITMAP_PORT,
};

const KEY_WORDS = 6;

/** Open-addressing hash set of 6-word keys with a one-byte value (1 = match, 2 = nomatch). */
export class WordTable {
  private keys: Uint32Array;
  private values: Uint8Array;
  private mask: number;
  size = 0;

  constructor(initial = 16) {
    let cap = 16;
    while (cap < initial * 2) cap *= 2;
    this.keys = new Uint32Array(cap * KEY_WORDS);
    this.values = new Uint8Array(cap);
    this.mask = cap - 1;
  }

  private static hash(k: ArrayLike<number>): number {
    let h = 0x811c9dc5;
    for (let w = 0; w < KEY_WORDS; w++) {
      h = Math.imul(h ^ k[w]!, 0x01000193);
      h ^= h >>> 15;
    }
    return h >>> 0;
  }

  get(k: ArrayLike<number>): number {
    let slot = WordTable.hash(k) & this.mask;
    while (true) {
      const v = this.values[slot]!;
      if (v === 0) return 0;
      const base = slot * KEY_WORDS;
      const keys = this.keys;
      if (keys[base] === k[0] && keys[base + 1] === k[1] && keys[base + 2] === k[2] && keys[base + 3] === k[3] && keys[base + 4] === k[4] && keys[base + 5] === k[5]) return v;
      slot = (slot + 1) & this.mask;
    }
  }

  set(k: ArrayLike<number>, value: number): void {
    if ((this.size + 1) * 2 > this.mask + 1) this.grow();
    let slot = WordTable.hash(k) & this.mask;
    while (this.values[slot] !== 0) {
      const base = slot * KEY_WORDS;
      let same = true;
      for (let w = 0; w < KEY_WORDS; w++) if (this.keys[base + w] !== k[w]) same = false;
      if (same) {
        this.values[slot] = value;
        return;
      }
      slot = (slot + 1) & this.mask;
    }
    this.keys.set(Array.from({ length: KEY_WORDS }, (_, w) => k[w]!), slot * KEY_WORDS);
    this.values[slot] = value;
    this.size++;
  }

  private grow(): void {
    const oldKeys = this.keys;
    const oldValues = this.values;
    const cap = (this.mask + 1) * 2;
    this.keys = new Uint32Array(cap * KEY_WORDS);
    this.values = new Uint8Array(cap);
    this.mask = cap - 1;
    this.size = 0;
    for (let s = 0; s < oldValues.length; s++) {
      if (oldValues[s] !== 0) this.set(oldKeys.subarray(s * KEY_WORDS, s * KEY_WORDS + KEY_WORDS), oldValues[s]!);
    }
  }
}

export interface IpSet {
  readonly name: string;
  readonly type: SetTypeValue;
  readonly typeName: string;
  readonly family: 4 | 6;
  /** hash:ip `netmask` (prefix length applied to entries and lookups). */
  readonly netmask: number;
  readonly table: WordTable;
  /** hash:net: the distinct prefix lengths present, most specific first. */
  prefixes: number[];
  /** bitmap:port: 1 per member port. */
  readonly ports: Uint8Array | null;
  readonly rangeLo: number;
  readonly rangeHi: number;
  /** Line of the `create` command. */
  readonly line: number;
}

export type SetError = (line: number, message: string) => never;

const PROTO_NUMBERS: Record<string, number> = { tcp: 6, udp: 17, sctp: 132, udplite: 136, icmp: 1, icmpv6: 58 };

/** Maximum addresses one `add` with a range or CIDR may expand to in a hash:ip set. */
const MAX_EXPANSION = 1 << 16;

/**
 * Parses `ipset save` text. Unknown set types, options and malformed entries go to `fail` with
 * the line number (fail throws).
 */
export function parseIpsetSave(text: string, fail: SetError): Map<string, IpSet> {
  const sets = new Map<string, IpSet>();
  const lines = text.split('\n');
  const key = new Uint32Array(KEY_WORDS);
  const addr = new Uint32Array(4);
  const mask = new Uint32Array(4);
  for (let n = 0; n < lines.length; n++) {
    const lineNo = n + 1;
    const line = lines[n]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const tok = line.split(/\s+/);
    const cmd = tok[0];
    if (cmd === 'create' || cmd === '-N') {
      const name = tok[1];
      const typeName = tok[2];
      if (!name || !typeName) fail(lineNo, 'create needs a set name and a type');
      const type = TYPE_NAMES[typeName];
      if (type === undefined) fail(lineNo, `set type "${typeName}" is not modelled (known: ${Object.keys(TYPE_NAMES).join(', ')})`);
      if (sets.has(name)) fail(lineNo, `set "${name}" is created twice`);
      let family: 4 | 6 = 4;
      let netmask = -1;
      let lo = 0;
      let hi = 65535;
      for (let k = 3; k < tok.length; k++) {
        const opt = tok[k]!;
        const arg = tok[k + 1];
        switch (opt) {
          case 'family':
            if (arg !== 'inet' && arg !== 'inet6') fail(lineNo, `family must be inet or inet6, got "${arg ?? ''}"`);
            family = arg === 'inet6' ? 6 : 4;
            k++;
            break;
          case 'netmask':
            if (!arg || !/^\d+$/.test(arg)) fail(lineNo, `bad netmask "${arg ?? ''}"`);
            netmask = Number(arg);
            k++;
            break;
          case 'range': {
            const m = /^(\d+)-(\d+)$/.exec(arg ?? '');
            if (!m || Number(m[1]) > Number(m[2]) || Number(m[2]) > 65535) fail(lineNo, `bad port range "${arg ?? ''}"`);
            lo = Number(m[1]);
            hi = Number(m[2]);
            k++;
            break;
          }
          case 'hashsize': case 'maxelem': case 'timeout': case 'bucketsize': case 'initval': case 'markmask':
            k++;
            break;
          case 'counters': case 'comment': case 'skbinfo': case 'forceadd':
            break;
          default:
            fail(lineNo, `create option "${opt}" is not modelled`);
        }
      }
      if (type === SetType.BITMAP_PORT && !tok.includes('range')) fail(lineNo, 'bitmap:port needs "range FROM-TO"');
      const maxBits = family === 4 ? 32 : 128;
      if (netmask > maxBits) fail(lineNo, `netmask ${netmask} exceeds ${maxBits}`);
      sets.set(name, {
        name, type, typeName, family, netmask: netmask < 0 ? maxBits : netmask,
        table: new WordTable(), prefixes: [],
        ports: type === SetType.BITMAP_PORT ? new Uint8Array(65536) : null,
        rangeLo: lo, rangeHi: hi, line: lineNo,
      });
    } else if (cmd === 'add' || cmd === '-A') {
      const set = sets.get(tok[1] ?? '');
      if (!set) fail(lineNo, `add to unknown set "${tok[1] ?? ''}"`);
      const entry = tok[2];
      if (!entry) fail(lineNo, 'add needs an entry');
      let nomatch = false;
      for (let k = 3; k < tok.length; k++) {
        const opt = tok[k]!;
        if (opt === 'nomatch' && set.type === SetType.HASH_NET) nomatch = true;
        else if (opt === 'timeout' || opt === 'packets' || opt === 'bytes' || opt === 'skbmark' || opt === 'skbprio' || opt === 'skbqueue') k++;
        else if (opt === 'comment') break; // the comment runs to the end of the line
        else fail(lineNo, `add option "${opt}" is not modelled`);
      }
      addEntry(set, entry, nomatch, key, addr, mask, (msg) => fail(lineNo, msg));
    } else {
      fail(lineNo, `unknown ipset command "${cmd}" (expected create or add)`);
    }
  }
  for (const set of sets.values()) set.prefixes.sort((a, b) => b - a);
  return sets;
}

function parseHostOrRange(set: IpSet, text: string, each: (a: Uint32Array) => void, err: (m: string) => never, addr: Uint32Array, mask: Uint32Array): void {
  const maxBits = set.family === 4 ? 32 : 128;
  const dash = text.indexOf('-');
  if (set.family === 4 && (dash > 0 || text.includes('/'))) {
    let lo: number;
    let hi: number;
    if (dash > 0) {
      lo = parseIpv4(text.slice(0, dash));
      hi = parseIpv4(text.slice(dash + 1));
      if (lo < 0 || hi < 0 || lo > hi) err(`bad address range "${text}"`);
    } else {
      const e = parseCidr(text, 4, addr, mask, 0);
      if (e) err(e);
      lo = addr[0]!;
      hi = lo + (~mask[0]! >>> 0);
    }
    if (hi - lo + 1 > MAX_EXPANSION) err(`range "${text}" expands to more than ${MAX_EXPANSION} addresses`);
    const one = new Uint32Array(4);
    for (let v = lo; v <= hi; v++) {
      one[0] = v;
      each(one);
    }
    return;
  }
  if (set.family === 6 && text.includes('/')) {
    const e = parseCidr(text, 6, addr, mask, 0);
    if (e) err(e);
    if (Number(text.slice(text.indexOf('/') + 1)) !== maxBits) err(`an IPv6 hash:ip entry takes one address, got "${text}"`);
    each(addr);
    return;
  }
  const e = parseCidr(text, set.family, addr, mask, 0);
  if (e) err(e);
  each(addr);
}

function applyNetmask(set: IpSet, a: ArrayLike<number>, key: Uint32Array): void {
  for (let w = 0; w < 4; w++) key[w] = (a[w]! & prefixMaskWord(set.netmask, w)) >>> 0;
}

function addEntry(set: IpSet, entry: string, nomatch: boolean, key: Uint32Array, addr: Uint32Array, mask: Uint32Array, err: (m: string) => never): void {
  key.fill(0);
  switch (set.type) {
    case SetType.HASH_IP:
      parseHostOrRange(set, entry, (a) => {
        applyNetmask(set, a, key);
        set.table.set(key, 1);
      }, err, addr, mask);
      return;
    case SetType.HASH_NET: {
      const e = parseCidr(entry, set.family, addr, mask, 0);
      if (e) err(e);
      const slash = entry.indexOf('/');
      const prefix = slash < 0 ? (set.family === 4 ? 32 : 128) : Number(entry.slice(slash + 1));
      if (!Number.isInteger(prefix)) err(`hash:net takes ADDR/PREFIX, got "${entry}"`);
      if (prefix === 0) err('hash:net does not accept a /0 entry');
      for (let w = 0; w < 4; w++) key[w] = addr[w]!;
      key[4] = prefix;
      set.table.set(key, nomatch ? 2 : 1);
      if (!set.prefixes.includes(prefix)) set.prefixes.push(prefix);
      return;
    }
    case SetType.HASH_IP_PORT: {
      const comma = entry.lastIndexOf(',');
      if (comma < 0) err(`hash:ip,port takes ADDR,[PROTO:]PORT, got "${entry}"`);
      const portPart = entry.slice(comma + 1);
      const colon = portPart.indexOf(':');
      const protoName = colon < 0 ? 'tcp' : portPart.slice(0, colon);
      const proto = PROTO_NUMBERS[protoName];
      if (proto === undefined) err(`unknown protocol "${protoName}" in "${entry}"`);
      const spec = colon < 0 ? portPart : portPart.slice(colon + 1);
      let lo: number;
      let hi: number;
      if (proto === 1 || proto === 58) {
        const m = /^(\d+)\/(\d+)$/.exec(spec);
        if (!m || Number(m[1]) > 255 || Number(m[2]) > 255) err(`ICMP entries take TYPE/CODE, got "${spec}"`);
        lo = hi = (Number(m[1]) << 8) | Number(m[2]);
      } else {
        const m = /^(\d+)(?:-(\d+))?$/.exec(spec);
        if (!m) err(`bad port "${spec}" in "${entry}"`);
        lo = Number(m[1]);
        hi = m[2] === undefined ? lo : Number(m[2]);
        if (hi > 65535 || lo > hi) err(`port out of range in "${entry}" (0..65535)`);
      }
      parseHostOrRange(set, entry.slice(0, comma), (a) => {
        for (let p = lo; p <= hi; p++) {
          applyNetmask(set, a, key);
          key[4] = (proto << 16) | p;
          set.table.set(key, 1);
        }
      }, err, addr, mask);
      return;
    }
    case SetType.BITMAP_PORT: {
      const m = /^(?:(?:tcp|udp):)?(\d+)(?:-(\d+))?$/.exec(entry);
      if (!m) err(`bad port "${entry}"`);
      const lo = Number(m[1]);
      const hi = m[2] === undefined ? lo : Number(m[2]);
      if (lo > hi || lo < set.rangeLo || hi > set.rangeHi) err(`port "${entry}" outside the set's range ${set.rangeLo}-${set.rangeHi}`);
      for (let p = lo; p <= hi; p++) set.ports![p] = 1;
      return;
    }
  }
}

/** Scratch key for lookups (one per module: lookups run on one thread at a time). */
const scratch = new Uint32Array(KEY_WORDS);

/**
 * Tests one packet dimension tuple against a set. `addr` is the packet's address words at
 * `offset`; `proto`/`port` are the transport values (port = ICMP type<<8|code for ICMP), or
 * -1 when the packet has none.
 */
export function setLookup(set: IpSet, addrs: Uint32Array, offset: number, proto: number, port: number): boolean {
  switch (set.type) {
    case SetType.HASH_IP:
      applyNetmaskAt(set, addrs, offset);
      scratch[4] = 0;
      scratch[5] = 0;
      return set.table.get(scratch) === 1;
    case SetType.HASH_NET: {
      scratch[5] = 0;
      const prefixes = set.prefixes;
      for (let k = 0; k < prefixes.length; k++) {
        const p = prefixes[k]!;
        for (let w = 0; w < 4; w++) scratch[w] = (addrs[offset + w]! & prefixMaskWord(p, w)) >>> 0;
        scratch[4] = p;
        const v = set.table.get(scratch);
        if (v !== 0) return v === 1;
      }
      return false;
    }
    case SetType.HASH_IP_PORT:
      if (port < 0) return false;
      applyNetmaskAt(set, addrs, offset);
      scratch[4] = (proto << 16) | port;
      scratch[5] = 0;
      return set.table.get(scratch) === 1;
    case SetType.BITMAP_PORT:
      if (port < 0 || (proto !== 6 && proto !== 17)) return false;
      return port >= set.rangeLo && port <= set.rangeHi && set.ports![port] === 1;
  }
  return false;
}

function applyNetmaskAt(set: IpSet, addrs: Uint32Array, offset: number): void {
  const nm = set.netmask;
  for (let w = 0; w < 4; w++) scratch[w] = (addrs[offset + w]! & prefixMaskWord(nm, w)) >>> 0;
}

/** Number of dimensions a set type matches on (`--match-set NAME src,dst` lists one flag each). */
export function setDimensions(type: SetTypeValue): number {
  return type === SetType.HASH_IP_PORT ? 2 : 1;
}

/** True when `parseIpv6` accepts the text (re-exported for the rules parser). */
export function isIpv6Text(text: string): boolean {
  return parseIpv6(text, [0, 0, 0, 0]);
}

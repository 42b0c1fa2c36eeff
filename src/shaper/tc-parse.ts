/**
 * Reads the tc commands admins keep in shell scripts or `tc -batch` files into a ShaperConfig.
 * Argument handling follows iproute2: tc/tc_qdisc.c, tc_class.c, tc_filter.c (common options),
 * tc/q_htb.c (htb_parse_opt, htb_parse_class_opt), tc/q_fifo.c, tc/f_fw.c, tc/f_u32.c; numbers
 * and units via tc-units.ts. Errors are InputError `file:line: message`; tc's own words are quoted
 * where tc has them. What the kernel would reject (duplicate classid, missing qdisc, tree too deep)
 * is refused too, with the kernel's reason.
 */
import { InputError } from '../errors.js';
import {
  ETH_P_ALL, ETH_P_IP, ETH_P_IPV6,
  type FilterSpec, type HtbClassSpec, type HtbQdiscSpec, type LeafQdiscSpec, type ShaperConfig, type U32FilterSpec, type U32KeySpec,
} from './config.js';
import {
  formatClassid, formatRate, getInteger, getQdiscHandle, getRate64, getSize, getSizeAndCell, getTcClassid, getU32, matches,
  tcCalcXmittime, TC_H_ROOT,
} from './tc-units.js';

/** Leaf qdisc kinds modelled as a packet fifo (their own dequeue order is not modelled). */
const FIFO_LIKE = new Set(['pfifo', 'bfifo', 'pfifo_fast', 'pfifo_head_drop', 'sfq', 'fq_codel', 'codel', 'fq', 'pie', 'fq_pie', 'red', 'tbf', 'netem', 'cake', 'choke', 'sfb', 'hhf']);

class LineError extends Error {}

function fail(msg: string): never {
  throw new LineError(msg);
}

/** Splits a script into logical lines: comments, `\` continuations, quotes. */
function logicalLines(text: string): { line: number; words: string[] }[] {
  const out: { line: number; words: string[] }[] = [];
  const raw = text.split(/\r?\n/);
  for (let i = 0; i < raw.length; i++) {
    const start = i + 1;
    let s = raw[i]!;
    while (s.endsWith('\\') && i + 1 < raw.length) s = s.slice(0, -1) + ' ' + raw[++i]!;
    const words: string[] = [];
    const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
    let m: RegExpExecArray | null;
    while ((m = re.exec(s))) {
      const w = m[1] ?? m[2] ?? m[3]!;
      if (m[3] !== undefined && w.startsWith('#')) break;
      words.push(w);
    }
    if (words.length) out.push({ line: start, words });
  }
  return out;
}

type MutableClass = HtbClassSpec;

export class TcScriptParser {
  private dev = '';
  private qdisc: HtbQdiscSpec | undefined;
  private classes = new Map<number, MutableClass>();
  private leafQdiscs: LeafQdiscSpec[] = [];
  private filters: FilterSpec[] = [];
  /** fw mask per (parent, prio) instance. */
  private fwMasks = new Map<string, number>();
  /** Filter instances by (parent, prio): kind, protocol and (u32) root table id. */
  private instances = new Map<string, { kind: string; protocol: number; root: number }>();
  private u32Roots = 0;

  constructor(private readonly file: string) {}

  parse(text: string): ShaperConfig {
    for (const { line, words } of logicalLines(text)) {
      try {
        this.command(words, line);
      } catch (err) {
        if (err instanceof LineError) throw new InputError(`${this.file}:${line}`, err.message);
        throw err;
      }
    }
    if (!this.qdisc) throw new InputError(this.file, 'no `qdisc add ... root ... htb` line: nothing to shape');
    return {
      dev: this.dev,
      qdisc: this.qdisc,
      classes: [...this.classes.values()],
      leafQdiscs: this.leafQdiscs,
      filters: this.filters,
    };
  }

  private command(words: string[], line: number): void {
    let w = words;
    if (w[0] === 'tc' || w[0]!.endsWith('/tc')) w = w.slice(1);
    while (w.length && w[0]!.startsWith('-')) w = w.slice(1);
    if (w.length === 0) return;
    const [obj = '', cmd = '', ...args] = w;
    const verb = matches(cmd, 'add') ? 'add' : matches(cmd, 'replace') ? 'replace' : matches(cmd, 'change') ? 'change'
      : matches(cmd, 'delete') ? 'delete' : matches(cmd, 'show') || matches(cmd, 'list') ? 'show' : '';
    if (!verb) fail(`Command "${cmd}" is unknown, try "tc ${obj} help".`);
    if (verb === 'show') return;
    if (matches(obj, 'qdisc')) this.qdiscCmd(verb, args);
    else if (matches(obj, 'class')) this.classCmd(verb, args, line);
    else if (matches(obj, 'filter')) this.filterCmd(verb, args, line);
    else fail(`Object "${obj}" is unknown, try "tc help".`);
  }

  private setDev(d: string): void {
    if (this.dev && this.dev !== d) fail(`this script shapes dev ${this.dev}; a second device (${d}) is not modelled`);
    this.dev = d;
  }

  private qdiscCmd(verb: string, a: string[]): void {
    let parent: number | undefined;
    let handle = 0;
    let i = 0;
    for (; i < a.length; i++) {
      const w = a[i]!;
      if (w === 'dev') this.setDev(a[++i] ?? fail('"dev" needs a device name'));
      else if (w === 'root') parent = TC_H_ROOT;
      else if (w === 'parent') parent = getTcClassid(a[++i] ?? '') ?? fail(`Invalid parent ID "${a[i] ?? ''}"`);
      else if (w === 'handle') handle = getQdiscHandle(a[++i] ?? '') ?? fail(`Invalid qdisc ID "${a[i] ?? ''}"`);
      else break;
    }
    const kind = a[i];
    const opts = a.slice(i + 1);
    if (verb === 'delete') {
      if (parent === TC_H_ROOT) {
        this.qdisc = undefined;
        this.classes.clear();
        this.leafQdiscs = [];
        this.filters = [];
      }
      return;
    }
    if (parent === undefined) fail('"root" or "parent" is required');
    if (kind === undefined) fail('qdisc kind is required (htb, pfifo, ...)');
    if (parent === TC_H_ROOT) {
      if (kind !== 'htb') fail(`root qdisc "${kind}": only htb is modelled`);
      if (this.qdisc && verb === 'add') fail('RTNETLINK answers: File exists (a root qdisc is already there; use replace)');
      this.qdisc = this.htbQdisc(handle || 0x10000, opts);
      return;
    }
    if (!this.qdisc) fail('there is no root htb qdisc yet for this parent');
    const cl = this.classes.get(parent);
    if (!cl) fail(`parent class ${formatClassid(parent)} does not exist`);
    if (kind === 'htb') fail('htb below htb is not modelled');
    if (!FIFO_LIKE.has(kind)) fail(`Unknown qdisc "${kind}", hence option "${opts[0] ?? ''}" is unparsable`);
    let limitPackets: number | undefined;
    let limitBytes: number | undefined;
    for (let k = 0; k < opts.length; k++) {
      if (opts[k] === 'limit') {
        const v = opts[++k] ?? '';
        if (kind === 'bfifo') limitBytes = getSize(v) ?? fail(`Illegal "limit"`);
        else limitPackets = getU32(v, 0) ?? getSize(v) ?? fail(`Illegal "limit"`);
      } else if (kind === 'pfifo' || kind === 'bfifo') fail(`What is "${opts[k]}"?`);
    }
    this.leafQdiscs = this.leafQdiscs.filter((q) => q.parent !== parent);
    this.leafQdiscs.push({ parent, handle, kind, limitPackets, limitBytes });
  }

  private htbQdisc(handle: number, a: string[]): HtbQdiscSpec {
    let r2q = 10;
    let defcls = 0;
    let directQlen: number | undefined;
    for (let i = 0; i < a.length; i++) {
      const w = a[i]!;
      if (matches(w, 'r2q')) r2q = getU32(a[++i] ?? '', 10) ?? fail('Illegal "r2q"');
      else if (matches(w, 'default')) defcls = getU32(a[++i] ?? '', 16) ?? fail('Illegal "default"');
      else if (matches(w, 'debug')) i++;
      else if (matches(w, 'direct_qlen')) directQlen = getU32(a[++i] ?? '', 10) ?? fail('Illegal "direct_qlen"');
      else if (matches(w, 'offload')) fail('htb offload (hardware) is not modelled');
      else fail(`What is "${w}"?`);
    }
    return { handle, defcls, r2q, directQlen };
  }

  private classCmd(verb: string, a: string[], line: number): void {
    let parent: number | undefined;
    let classid: number | undefined;
    let i = 0;
    for (; i < a.length; i++) {
      const w = a[i]!;
      if (w === 'dev') this.setDev(a[++i] ?? fail('"dev" needs a device name'));
      else if (w === 'root') parent = TC_H_ROOT;
      else if (w === 'parent') parent = getTcClassid(a[++i] ?? '') ?? fail(`Invalid parent ID "${a[i] ?? ''}"`);
      else if (w === 'classid') classid = getTcClassid(a[++i] ?? '') ?? fail(`Invalid class ID "${a[i] ?? ''}"`);
      else break;
    }
    const q = this.qdisc ?? fail('RTNETLINK answers: No such file or directory (no root htb qdisc yet)');
    if (verb === 'delete') {
      if (classid !== undefined) this.classes.delete(classid);
      return;
    }
    if (classid === undefined) fail('"classid" is required');
    if (a[i] !== 'htb') fail(a[i] === undefined ? 'class kind is required ("htb")' : `class kind "${a[i]}": only htb is modelled`);
    if (((classid ^ q.handle) & 0xffff0000) !== 0 || (classid & 0xffff) === 0) fail(`classid ${formatClassid(classid)} does not belong to qdisc ${formatClassid(q.handle)}`);
    const existing = this.classes.get(classid);
    if (existing && verb === 'add') fail(`RTNETLINK answers: File exists (class ${formatClassid(classid)} is already defined on line ${existing.line})`);
    if (!existing && verb === 'change') fail(`RTNETLINK answers: No such file or directory (class ${formatClassid(classid)} does not exist)`);
    let parentId = 0;
    if (parent !== undefined && parent !== TC_H_ROOT && parent !== q.handle) {
      if (((parent ^ q.handle) & 0xffff0000) !== 0) fail(`RTNETLINK answers: No such file or directory (no qdisc ${formatClassid(parent & 0xffff0000)})`);
      const pc = this.classes.get(parent);
      if (!pc) fail(`parent class ${formatClassid(parent)} does not exist (the kernel would silently make ${formatClassid(classid)} a root class)`);
      parentId = parent;
      // Depth: a grandparent below level 2 means "tree is too deep" (sch_htb.c).
      let depth = 1;
      for (let p: MutableClass | undefined = pc; p && p.parent; p = this.classes.get(p.parent)) depth++;
      if (depth >= 8) fail('tree is too deep (HTB allows 8 levels)');
    } else if (existing) {
      parentId = existing.parent;
    }
    const spec = this.htbClassOpts(a.slice(i + 1), classid, parentId, line);
    this.classes.set(classid, spec);
  }

  private htbClassOpts(a: string[], classid: number, parent: number, line: number): MutableClass {
    let rate = 0;
    let ceil = 0;
    let buffer = 0;
    let cbuffer = 0;
    let mtu = 1600;
    let mpu = 0;
    let overhead = 0;
    let quantum = 0;
    let prio = 0;
    let atm = false;
    const size = (what: string, v: string | undefined): number => (getSizeAndCell(v ?? '') ?? fail(`Illegal "${what}"`))[0];
    for (let i = 0; i < a.length; i++) {
      const w = a[i]!;
      if (matches(w, 'prio')) prio = getU32(a[++i] ?? '', 10) ?? fail('Illegal "prio"');
      else if (matches(w, 'mtu')) mtu = getU32(a[++i] ?? '', 10) ?? fail('Illegal "mtu"');
      else if (matches(w, 'mpu')) mpu = getU32(a[++i] ?? '', 10) ?? fail('Illegal "mpu"');
      else if (matches(w, 'overhead')) overhead = getU32(a[++i] ?? '', 10) ?? fail('Illegal "overhead"');
      else if (matches(w, 'linklayer')) {
        const v = a[++i] ?? '';
        if (matches(v, 'ethernet')) atm = false;
        else if (matches(v, 'atm') || matches(v, 'adsl')) atm = true;
        else fail('Illegal "linklayer"');
      } else if (matches(w, 'quantum')) quantum = getU32(a[++i] ?? '', 10) ?? fail('Illegal "quantum"');
      else if (matches(w, 'burst') || w === 'buffer' || w === 'maxburst') buffer = size(w, a[++i]);
      else if (matches(w, 'cburst') || w === 'cbuffer' || w === 'cmaxburst') cbuffer = size(w, a[++i]);
      else if (w === 'ceil') {
        if (ceil) fail('Double "ceil" spec');
        const v = a[++i] ?? '';
        if (v.includes('%')) fail('Illegal "ceil": a percentage needs the device speed, which a script does not give');
        ceil = getRate64(v) ?? fail('Illegal "ceil"');
      } else if (w === 'rate') {
        if (rate) fail('Double "rate" spec');
        const v = a[++i] ?? '';
        if (v.includes('%')) fail('Illegal "rate": a percentage needs the device speed, which a script does not give');
        rate = getRate64(v) ?? fail('Illegal "rate"');
      } else fail(`What is "${w}"?`);
    }
    if (!rate) fail('"rate" is required.');
    if (!ceil) ceil = rate;
    if (ceil < rate) {
      fail(`ceil ${formatRate(ceil)} is below rate ${formatRate(rate)}: tc and the kernel accept it silently, but the class can never reach its rate`);
    }
    // get_hz() is 1e9 on current kernels (/proc/net/psched), so default bursts are about one mtu.
    if (!buffer) buffer = Math.floor(rate / 1e9) + mtu;
    if (!cbuffer) cbuffer = Math.floor(ceil / 1e9) + mtu;
    return {
      classid, parent, rate, ceil,
      bufferTicks: tcCalcXmittime(rate, buffer),
      cbufferTicks: tcCalcXmittime(ceil, cbuffer),
      quantum, prio, overhead, mpu, linklayerAtm: atm, line,
    };
  }

  private filterCmd(verb: string, a: string[], line: number): void {
    let parent: number | undefined;
    let prio = 0;
    let protocol = ETH_P_ALL;
    let handle: string | undefined;
    let i = 0;
    for (; i < a.length; i++) {
      const w = a[i]!;
      if (w === 'dev') this.setDev(a[++i] ?? fail('"dev" needs a device name'));
      else if (w === 'root') parent = TC_H_ROOT;
      else if (w === 'parent') parent = getTcClassid(a[++i] ?? '') ?? fail(`Invalid parent ID "${a[i] ?? ''}"`);
      else if (w === 'handle') handle = a[++i] ?? fail('"handle" needs a value');
      else if (matches(w, 'preference') || matches(w, 'priority')) prio = getU32(a[++i] ?? '', 0) ?? fail(`Illegal "${w}"`);
      else if (matches(w, 'protocol')) {
        const p = a[++i] ?? '';
        protocol = p === 'ip' ? ETH_P_IP : p === 'ipv6' ? ETH_P_IPV6 : p === 'all' ? ETH_P_ALL : (getU32(p, 16) ?? fail(`Illegal "protocol"`));
      } else if (w === 'estimator' || w === 'chain' || w === 'block') fail(`"${w}" is not modelled`);
      else break;
    }
    if (verb === 'delete') {
      this.filters = this.filters.filter((f) => !(f.parent === parent && (prio === 0 || f.prio === prio)));
      return;
    }
    const q = this.qdisc ?? fail('RTNETLINK answers: No such file or directory (no root htb qdisc yet)');
    if (parent === undefined || parent === TC_H_ROOT) parent = q.handle;
    if ((parent & 0xffff) !== 0 && !this.classes.has(parent)) fail(`parent class ${formatClassid(parent)} does not exist`);
    if (((parent ^ q.handle) & 0xffff0000) !== 0) fail(`no qdisc ${formatClassid(parent & 0xffff0000)} on this device`);
    if (prio === 0) prio = 0xc000 - this.filters.length; // the kernel picks a prio below the existing ones
    const kind = a[i];
    const opts = a.slice(i + 1);
    if (kind === 'fw' || kind === 'u32') {
      const key = `${parent}/${prio}`;
      const inst = this.instances.get(key);
      if (inst && (inst.kind !== kind || inst.protocol !== protocol)) {
        fail(`RTNETLINK answers: Invalid argument (prio ${prio} on ${formatClassid(parent)} already holds ${inst.kind} filters for another kind or protocol)`);
      }
      if (!inst) this.instances.set(key, { kind, protocol, root: kind === 'u32' ? 0x800 + this.u32Roots++ : 0 });
    }
    if (kind === 'fw') this.fwFilter(parent, prio, protocol, handle, opts, line);
    else if (kind === 'u32') this.u32Filter(parent, prio, protocol, handle, opts, line);
    else fail(kind === undefined ? 'filter kind is required (fw or u32)' : `filter kind "${kind}": only fw and u32 are modelled`);
  }

  private checkTarget(classid: number): void {
    const q = this.qdisc!;
    if (classid === q.handle) return;
    if (!this.classes.has(classid)) {
      fail(`classid ${formatClassid(classid)} does not exist (the kernel accepts the filter, and matching packets then fall to the default class)`);
    }
  }

  private fwFilter(parent: number, prio: number, protocol: number, handle: string | undefined, a: string[], line: number): void {
    let classid: number | undefined;
    for (let i = 0; i < a.length; i++) {
      const w = a[i]!;
      if (matches(w, 'classid') || matches(w, 'flowid')) classid = getTcClassid(a[++i] ?? '') ?? fail('Illegal "classid"');
      else if (matches(w, 'indev') || matches(w, 'action') || matches(w, 'police')) fail(`fw "${w}" is not modelled`);
      else fail(`What is "${w}"?`);
    }
    const key = `${parent}/${prio}`;
    if (handle === undefined) {
      if (classid !== undefined) fail('fw needs a "handle" (the mark) to go with "classid"');
      this.filters.push({ parent, prio, protocol, line, filter: { type: 'fw', id: 0, mask: 0xffffffff, classid: 0, oldMethod: true } });
      return;
    }
    const slash = handle.indexOf('/');
    const id = getU32(slash >= 0 ? handle.slice(0, slash) : handle, 0) ?? fail('Illegal "handle"');
    const mask = slash >= 0 ? (getU32(handle.slice(slash + 1), 0) ?? fail('Illegal "handle" mask')) : 0xffffffff;
    const known = this.fwMasks.get(key);
    if (known !== undefined && known !== mask) {
      fail(`RTNETLINK answers: Invalid argument (fw filters at prio ${prio} use mask 0x${known.toString(16)}; one instance has one mask)`);
    }
    this.fwMasks.set(key, mask);
    if (classid !== undefined) this.checkTarget(classid);
    this.filters.push({ parent, prio, protocol, line, filter: { type: 'fw', id, mask, classid: classid ?? 0, oldMethod: false } });
  }

  private u32Filter(parent: number, prio: number, protocol: number, handle: string | undefined, a: string[], line: number): void {
    const keys: U32KeySpec[] = [];
    const spec = {
      htid: 0, bucket: 0, divisor: 0, nodeId: 0, markVal: 0, markMask: 0, hasMark: false, classid: 0, hasClassid: false, link: 0,
      hmask: 0, hoff: 0, offPlus: 0, offOff: 0, offMask: 0, offShift: 0, varOffset: false, fixedOffset: false, eat: false,
    };
    let sampleBucket: number | undefined;
    if (handle !== undefined) {
      const h = getU32Handle(handle) ?? fail('Illegal "handle"');
      spec.htid = h & 0xfff00000;
      spec.nodeId = h & 0xfff;
    }
    const next = (i: number): string => a[i] ?? fail(`"${a[i - 1] ?? ''}" needs a value`);
    for (let i = 0; i < a.length; i++) {
      const w = a[i]!;
      if (matches(w, 'match')) {
        i = parseSelector(a, i + 1, keys, spec) - 1;
      } else if (matches(w, 'classid') || matches(w, 'flowid')) {
        spec.classid = getTcClassid(next(++i)) ?? fail('Illegal "classid"');
        spec.hasClassid = true;
      } else if (matches(w, 'divisor')) {
        const d = getU32(next(++i), 0);
        if (d === undefined || d === 0 || d > 0x100 || ((d - 1) & d) !== 0) fail('Illegal "divisor"');
        spec.divisor = d;
      } else if (matches(w, 'order')) {
        spec.nodeId = getU32(next(++i), 0) ?? fail('Illegal "order"');
      } else if (matches(w, 'link')) {
        const h = getU32Handle(next(++i)) ?? fail('Illegal "link"');
        if (h & 0xfffff) fail('"link" must be a hash table.');
        spec.link = h;
      } else if (w === 'ht') {
        const h = getU32Handle(next(++i)) ?? fail('Illegal "ht"');
        if (h & 0xfff) fail('"ht" must be a hash table.');
        spec.htid = h & 0xfff00000;
        spec.bucket = (h >>> 12) & 0xff;
      } else if (matches(w, 'sample')) {
        const sk: U32KeySpec[] = [];
        i = parseSelector(a, i + 1, sk, spec) - 1;
        if (sk.length !== 1) fail('"sample" must contain exactly ONE key.');
        let divisor = 0x100;
        if (a[i + 1] === 'divisor') {
          const d = getU32(a[i + 2] ?? '', 0);
          if (d === undefined || d === 0 || d > 0x100 || ((d - 1) & d) !== 0) fail('Illegal sample "divisor"');
          divisor = d;
          i += 2;
        }
        // tc hashes the key as it lies in memory (network order read by a little-endian host).
        const k = sk[0]!;
        const v = (k.val & k.mask) >>> 0;
        let h = (((v & 0xff) << 24) | ((v >>> 8 & 0xff) << 16) | ((v >>> 16 & 0xff) << 8) | (v >>> 24)) >>> 0;
        h = (h ^ (h >>> 16)) >>> 0;
        h = (h ^ (h >>> 8)) >>> 0;
        sampleBucket = h % divisor;
      } else if (matches(w, 'hashkey')) {
        if (next(++i) !== 'mask') fail('"hashkey" needs "mask"');
        spec.hmask = getU32(next(++i), 16) ?? fail('Illegal "mask"');
        if (next(++i) !== 'at') fail('"hashkey" needs "at"');
        spec.hoff = getInteger(next(++i), 0) ?? fail('Illegal "at"');
        if (spec.hoff % 4) fail('"at" must be a multiple of 4');
      } else if (matches(w, 'offset')) {
        for (i++; i < a.length; i++) {
          const o = a[i]!;
          if (o === 'plus') { spec.offPlus = getInteger(next(++i), 0) ?? fail('Illegal "plus"'); spec.fixedOffset = true; }
          else if (o === 'at') { spec.offOff = getInteger(next(++i), 0) ?? fail('Illegal "at"'); spec.varOffset = true; }
          else if (o === 'mask') spec.offMask = getU32(next(++i), 16) ?? fail('Illegal "mask"');
          else if (o === 'shift') spec.offShift = getInteger(next(++i), 0) ?? fail('Illegal "shift"');
          else if (o === 'eat') spec.eat = true;
          else { i--; break; }
        }
      } else if (matches(w, 'police') || matches(w, 'action') || matches(w, 'indev') || w === 'skip_sw' || w === 'skip_hw') {
        fail(`u32 "${w}" is not modelled`);
      } else fail(`What is "${w}"?`);
    }
    if (sampleBucket !== undefined) spec.bucket = sampleBucket;
    if (spec.divisor) {
      if (handle === undefined || (spec.htid === 0)) fail('a u32 "divisor" line needs "handle N:" naming the new table');
      this.filters.push({ parent, prio, protocol, line, filter: { type: 'u32', ...spec, keys } satisfies U32FilterSpec });
      return;
    }
    if (spec.hasClassid) this.checkTarget(spec.classid);
    const tableOk = (id: number): boolean =>
      this.filters.some((f) => f.filter.type === 'u32' && f.filter.divisor > 0 && f.filter.htid === id);
    const roots = new Set([...this.instances.values()].filter((x) => x.kind === 'u32').map((x) => x.root));
    if (spec.htid && (spec.htid >>> 20) >= 0x800 && !roots.has(spec.htid >>> 20)) fail(`hash table ${(spec.htid >>> 20).toString(16)}: does not exist`);
    if (spec.link && (spec.link >>> 20) >= 0x800) fail('"link" to a root table is not modelled');
    if (spec.htid && (spec.htid >>> 20) < 0x800 && !tableOk(spec.htid)) fail(`hash table ${(spec.htid >>> 20).toString(16)}: does not exist (create it with "u32 divisor N")`);
    if (spec.link && !tableOk(spec.link)) fail(`"link" to table ${(spec.link >>> 20).toString(16)}: which does not exist`);
    if (spec.htid && (spec.htid >>> 20) < 0x800) {
      const t = this.filters.find((f) => f.filter.type === 'u32' && f.filter.divisor > 0 && f.filter.htid === spec.htid);
      const d = t && t.filter.type === 'u32' ? t.filter.divisor : 1;
      if (spec.bucket >= d) fail(`bucket ${spec.bucket.toString(16)} is outside table ${(spec.htid >>> 20).toString(16)}: (divisor ${d})`);
    }
    this.filters.push({ parent, prio, protocol, line, filter: { type: 'u32', ...spec, keys } satisfies U32FilterSpec });
  }
}

/** get_u32_handle (f_u32.c): `HT:BUCKET:NODE`, each part hex. */
export function getU32Handle(str: string): number | undefined {
  const m = /^([0-9a-fA-F]*)(?::([0-9a-fA-F]*)(?::([0-9a-fA-F]*))?)?$/.exec(str);
  if (!m || str === '') return undefined;
  const ht = m[1] ? parseInt(m[1], 16) : 0;
  const bucket = m[2] ? parseInt(m[2], 16) : 0;
  const node = m[3] ? parseInt(m[3], 16) : 0;
  if (ht >= 0x1000 || bucket >= 0x100 || node >= 0x1000) return undefined;
  return ((ht << 20) | (bucket << 12) | node) >>> 0;
}

type SelectorExtra = { markVal: number; markMask: number; hasMark: boolean };

/** pack_key (f_u32.c): keys at the same offset merge; conflicting ones are an error. */
function packKey(keys: U32KeySpec[], val: number, mask: number, off: number, offmask: number): void {
  val = (val & mask) >>> 0;
  for (let k = 0; k < keys.length; k++) {
    const o = keys[k]!;
    if (o.off === off && o.offmask === offmask) {
      if (((o.val ^ val) & o.mask & mask) !== 0) fail('key conflict');
      keys[k] = { off, offmask, val: (o.val | val) >>> 0, mask: (o.mask | mask) >>> 0 };
      return;
    }
  }
  if (keys.length >= 128) fail('too many keys');
  keys.push({ val, mask: mask >>> 0, off, offmask });
}

function packKey16(keys: U32KeySpec[], val: number, mask: number, off: number, offmask: number): void {
  if (val > 0xffff || mask > 0xffff) fail('value or mask too big for 16 bits');
  if (off & 1) fail('16-bit key at an odd offset');
  const shift = (off & 3) === 0 ? 16 : 0;
  packKey(keys, (val & mask) * 2 ** shift, mask * 2 ** shift, off & ~3, offmask);
}

function packKey8(keys: U32KeySpec[], val: number, mask: number, off: number, offmask: number): void {
  if (val > 0xff || mask > 0xff) fail('value or mask too big for 8 bits');
  const shift = 24 - 8 * (off & 3);
  packKey(keys, (val & mask) * 2 ** shift, mask * 2 ** shift, off & ~3, offmask);
}

/** parse_selector: one `match` clause starting at a[i]; returns the index after it. */
function parseSelector(a: string[], i: number, keys: U32KeySpec[], extra: SelectorExtra): number {
  const need = (k: number): string => a[k] ?? fail('"match" ends too early');
  const what = need(i);
  const val0 = (k: number): number => getU32(need(k), 0) ?? fail(`Illegal "match" value "${a[k] ?? ''}"`);
  const mask16 = (k: number): number => getU32(need(k), 16) ?? fail(`Illegal "match" mask "${a[k] ?? ''}"`);
  const at = (k: number): [number, number, number] => {
    if (a[k] !== 'at') return [0, 0, k];
    const s = need(k + 1);
    let offmask = 0;
    let rest = s;
    if (s.startsWith('nexthdr+') && s.length > 8) { offmask = -1; rest = s.slice(8); }
    const off = getInteger(rest, 0) ?? fail(`Illegal "at" offset "${s}"`);
    return [off, offmask, k + 2];
  };
  if (what === 'u32' || what === 'u16' || what === 'u8') {
    const v = val0(i + 1);
    const m = mask16(i + 2);
    const [off, offmask, end] = at(i + 3);
    if (a[i + 3] !== 'at') fail('"at" is required');
    if (what === 'u32') {
      if (off % 4) fail('u32 "at" must be a multiple of 4');
      packKey(keys, v, m, off, offmask);
    } else if (what === 'u16') packKey16(keys, v, m, off, offmask);
    else packKey8(keys, v, m, off, offmask);
    return end;
  }
  if (what === 'mark') {
    extra.markVal = getU32(need(i + 1), 0) ?? fail('Illegal "mark" value');
    extra.markMask = getU32(need(i + 2), 0) ?? fail('Illegal "mark" mask');
    if (((extra.markVal & extra.markMask) >>> 0) !== extra.markVal) fail('Illegal "mark" value, not masked');
    extra.hasMark = true;
    return i + 3;
  }
  if (what === 'ip') {
    const f = need(i + 1);
    if (f === 'src' || f === 'dst') {
      const [addr, plen] = parsePrefix(need(i + 2));
      const mask = plen === 0 ? 0 : (0xffffffff << (32 - plen)) >>> 0;
      packKey(keys, addr, mask, f === 'src' ? 12 : 16, 0);
      return i + 3;
    }
    const u8 = { tos: 1, dsfield: 1, precedence: 1, ihl: 0, protocol: 9, icmp_type: 20, icmp_code: 21 } as Record<string, number>;
    const u16 = { sport: 20, dport: 22 } as Record<string, number>;
    if (f in u8) { packKey8(keys, val0(i + 2), mask16(i + 3), u8[f]!, 0); return i + 4; }
    if (f in u16) { packKey16(keys, val0(i + 2), mask16(i + 3), u16[f]!, 0); return i + 4; }
    if (f === 'nofrag') { packKey16(keys, 0, 0x3fff, 6, 0); return i + 2; }
    if (f === 'firstfrag') { packKey16(keys, 0x2000, 0x3fff, 6, 0); return i + 2; }
    if (f === 'df') { packKey16(keys, 0x4000, 0x4000, 6, 0); return i + 2; }
    if (f === 'mf') { packKey16(keys, 0x2000, 0x2000, 6, 0); return i + 2; }
    fail(`Illegal "match ip ${f}"`);
  }
  if (what === 'tcp' || what === 'udp') {
    const f = need(i + 1);
    if (f !== 'src' && f !== 'dst') fail(`Illegal "match ${what} ${f}"`);
    packKey16(keys, val0(i + 2), mask16(i + 3), f === 'src' ? 0 : 2, -1);
    return i + 4;
  }
  if (what === 'icmp') {
    const f = need(i + 1);
    if (f !== 'type' && f !== 'code') fail(`Illegal "match icmp ${f}"`);
    packKey8(keys, val0(i + 2), mask16(i + 3), f === 'type' ? 0 : 1, -1);
    return i + 4;
  }
  fail(`Illegal "match" "${what}" (modelled: u32, u16, u8, ip, tcp, udp, icmp, mark)`);
}

function parsePrefix(s: string): [number, number] {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)(?:\/(\d+))?$/.exec(s);
  if (!m) fail(`Illegal IPv4 prefix "${s}"`);
  const b = [m[1], m[2], m[3], m[4]].map(Number);
  if (b.some((x) => x > 255)) fail(`Illegal IPv4 prefix "${s}"`);
  const plen = m[5] === undefined ? 32 : Number(m[5]);
  if (plen > 32) fail(`Illegal prefix length in "${s}"`);
  return [((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0, plen];
}

/** Parses tc script text; `file` names it in error messages. */
export function parseTcScript(text: string, file: string): ShaperConfig {
  return new TcScriptParser(file).parse(text);
}

/**
 * A flow table over typed arrays: 5-tuple key -> packets, bytes, first core seen and whether a
 * second core saw it. Open addressing with linear probing, fixed capacity, no allocation per
 * packet. Used for flow accounting (per worker, or one table shared by all workers) and for the
 * conntrack-locality figure of the simulated cores.
 *
 * Shared mode: every array lives in one SharedArrayBuffer. A slot is claimed with
 * Atomics.compareExchange on its state word (EMPTY -> CLAIMED -> FULL), and the counters of a key
 * are updated under a striped spinlock chosen by the key's home slot, so two threads updating the
 * same flow serialise while different flows mostly do not. This mirrors the kernel's conntrack
 * locking (`nf_conntrack_locks`, 1024 spinlocks indexed by bucket hash, nf_conntrack_core.c);
 * it is what giving up per-flow pinning costs.
 */

/** Key words: [l3 | proto << 8, src0..3, dst0..3, sport << 16 | dport]. */
export const FLOW_KEY_WORDS = 10;
const STATE_EMPTY = 0;
const STATE_CLAIMED = 1;
const STATE_FULL = 2;
const HEADER_WORDS = 8;
/** header: [flows, overflowPackets, capacity, stripes] (Int32). */
const H_FLOWS = 0;
const H_CAPACITY = 2;
const H_STRIPES = 3;
const DEFAULT_STRIPES = 1024;

export interface FlowTableLayout {
  readonly capacity: number;
  readonly stripes: number;
}

function align8(n: number): number {
  return (n + 7) & ~7;
}

function layoutBytes(capacity: number, stripes: number): { header: number; state: number; keys: number; locks: number; packets: number; bytes: number; core: number; total: number } {
  const header = 0;
  const state = HEADER_WORDS * 4;
  const keys = align8(state + capacity * 4);
  const locks = align8(keys + capacity * FLOW_KEY_WORDS * 4);
  const packets = align8(locks + stripes * 4);
  const bytes = packets + capacity * 8;
  const core = bytes + capacity * 8;
  const total = align8(core + capacity * 4);
  return { header, state, keys, locks, packets, bytes, core, total };
}

/** Mix of the key words into a slot index (murmur3 finaliser per word; not a kernel hash). */
function mixKey(k: Uint32Array, at: number): number {
  let h = 0x9747b28c;
  for (let w = 0; w < FLOW_KEY_WORDS; w++) {
    let x = Math.imul(k[at + w]!, 0xcc9e2d51);
    x = (x << 15) | (x >>> 17);
    h ^= Math.imul(x, 0x1b873593);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export class FlowTable {
  readonly capacity: number;
  readonly shared: boolean;
  /** Insertions stop at this many flows (7/8 of capacity) to keep probe chains short. */
  readonly maxFlows: number;
  readonly buffer: SharedArrayBuffer | ArrayBuffer;
  private readonly header: Int32Array;
  private readonly state: Int32Array;
  private readonly keys: Uint32Array;
  private readonly locks: Int32Array;
  readonly packets: Float64Array;
  readonly bytes: Float64Array;
  /** First core that touched the flow in the low 16 bits; bit 16 set when another core did too. */
  private readonly coreWord: Int32Array;
  private readonly mask: number;
  private readonly stripeMask: number;
  /** Scratch key of the packet being looked up. */
  private readonly probe = new Uint32Array(FLOW_KEY_WORDS);
  /** Packets and bytes that found the table full (counted here, per table instance). */
  overflowPackets = 0;
  overflowBytes = 0;

  /** A new table (capacity rounded up to a power of two), shared or private. */
  static create(capacity: number, shared: boolean, stripes = DEFAULT_STRIPES): FlowTable {
    if (!Number.isInteger(capacity) || capacity < 2 || capacity > 1 << 26) throw new RangeError(`flow table capacity must be 2..67108864, got ${capacity}`);
    let cap = 2;
    while (cap < capacity) cap *= 2;
    let st = 1;
    while (st < Math.min(stripes, cap)) st *= 2;
    const size = layoutBytes(cap, st).total;
    const buf = shared ? new SharedArrayBuffer(size) : new ArrayBuffer(size);
    const header = new Int32Array(buf, 0, HEADER_WORDS);
    header[H_CAPACITY] = cap;
    header[H_STRIPES] = st;
    return new FlowTable(buf);
  }

  /** Views over a table made by `create` (possibly in another thread). */
  constructor(buffer: SharedArrayBuffer | ArrayBuffer) {
    this.buffer = buffer;
    this.shared = typeof SharedArrayBuffer !== 'undefined' && buffer instanceof SharedArrayBuffer;
    this.header = new Int32Array(buffer, 0, HEADER_WORDS);
    const cap = this.header[H_CAPACITY]!;
    const st = this.header[H_STRIPES]!;
    const l = layoutBytes(cap, st);
    if (buffer.byteLength < l.total) throw new RangeError('flow table buffer is too small for its header');
    this.capacity = cap;
    this.maxFlows = cap - (cap >> 3);
    this.mask = cap - 1;
    this.stripeMask = st - 1;
    this.state = new Int32Array(buffer, l.state, cap);
    this.keys = new Uint32Array(buffer, l.keys, cap * FLOW_KEY_WORDS);
    this.locks = new Int32Array(buffer, l.locks, st);
    this.packets = new Float64Array(buffer, l.packets, cap);
    this.bytes = new Float64Array(buffer, l.bytes, cap);
    this.coreWord = new Int32Array(buffer, l.core, cap);
  }

  get flows(): number {
    return this.shared ? Atomics.load(this.header, H_FLOWS) : this.header[H_FLOWS]!;
  }

  /**
   * Fills the scratch key from packet fields. With `canonical`, the two endpoints are ordered so
   * both directions of a connection give the same key (as one conntrack entry covers both).
   */
  setKey(l3: number, proto: number, src: Uint32Array, dst: Uint32Array, at: number, sport: number, dport: number, canonical: boolean): void {
    const k = this.probe;
    let swap = false;
    if (canonical) {
      let cmp = 0;
      for (let w = 0; w < 4 && cmp === 0; w++) cmp = src[at + w]! - dst[at + w]!;
      swap = cmp > 0 || (cmp === 0 && sport > dport);
    }
    k[0] = l3 | (proto << 8);
    for (let w = 0; w < 4; w++) {
      k[1 + w] = swap ? dst[at + w]! : src[at + w]!;
      k[5 + w] = swap ? src[at + w]! : dst[at + w]!;
    }
    k[9] = swap ? ((dport << 16) | sport) >>> 0 : ((sport << 16) | dport) >>> 0;
  }

  /** Sets the scratch key to words `keys[at..at + FLOW_KEY_WORDS)` (a key another table extracted). */
  setKeyWords(keys: Uint32Array, at: number): void {
    const k = this.probe;
    for (let w = 0; w < FLOW_KEY_WORDS; w++) k[w] = keys[at + w]!;
  }

  /**
   * Adds one packet of `bytes` seen on `core` to the flow of the scratch key; returns the slot or
   * -1 when the table is full (the packet is then counted as overflow).
   */
  add(bytes: number, core: number): number {
    return this.addPackets(1, bytes, core);
  }

  /** add() for `packets` packets of `bytes` bytes in all (merging shard tables). */
  addPackets(packets: number, bytes: number, core: number): number {
    const k = this.probe;
    const home = mixKey(k, 0) & this.mask;
    const shared = this.shared;
    const lock = home & this.stripeMask;
    if (shared) while (Atomics.compareExchange(this.locks, lock, 0, 1) !== 0) Atomics.wait(this.locks, lock, 1, 0.05);
    let slot = home;
    let found = -1;
    for (let n = 0; n < this.capacity; n++) {
      let st = shared ? Atomics.load(this.state, slot) : this.state[slot]!;
      if (st === STATE_EMPTY) {
        if (this.flows >= this.maxFlows) break;
        if (shared) {
          st = Atomics.compareExchange(this.state, slot, STATE_EMPTY, STATE_CLAIMED);
          if (st !== STATE_EMPTY) {
            // Another stripe's insert took this slot: wait until its key is written, then compare.
            while (Atomics.load(this.state, slot) === STATE_CLAIMED);
            if (this.keyAt(slot)) { found = slot; break; }
            slot = (slot + 1) & this.mask;
            continue;
          }
        }
        this.keys.set(k, slot * FLOW_KEY_WORDS);
        this.packets[slot] = 0;
        this.bytes[slot] = 0;
        this.coreWord[slot] = core;
        if (shared) {
          Atomics.add(this.header, H_FLOWS, 1);
          Atomics.store(this.state, slot, STATE_FULL);
        } else {
          this.header[H_FLOWS]!++;
          this.state[slot] = STATE_FULL;
        }
        found = slot;
        break;
      }
      if (st === STATE_CLAIMED) while (Atomics.load(this.state, slot) === STATE_CLAIMED);
      if (this.keyAt(slot)) { found = slot; break; }
      slot = (slot + 1) & this.mask;
    }
    if (found >= 0) {
      this.packets[found]! += packets;
      this.bytes[found]! += bytes;
      const cw = this.coreWord[found]!;
      if ((cw & 0xffff) !== core && (cw & 0x10000) === 0) this.coreWord[found] = cw | 0x10000;
    } else {
      this.overflowPackets += packets;
      this.overflowBytes += bytes;
    }
    if (shared) {
      Atomics.store(this.locks, lock, 0);
      Atomics.notify(this.locks, lock, 1);
    }
    return found;
  }

  private keyAt(slot: number): boolean {
    const k = this.probe;
    const base = slot * FLOW_KEY_WORDS;
    for (let w = 0; w < FLOW_KEY_WORDS; w++) if (this.keys[base + w] !== k[w]) return false;
    return true;
  }

  /** Number of flows that more than one core touched. */
  flowsOnSeveralCores(): number {
    let n = 0;
    for (let s = 0; s < this.capacity; s++) if (this.state[s] === STATE_FULL && (this.coreWord[s]! & 0x10000) !== 0) n++;
    return n;
  }

  /** Copies the used slots out: keys (FLOW_KEY_WORDS per flow), packets and bytes per flow. */
  extract(): { keys: Uint32Array; packets: Float64Array; bytes: Float64Array } {
    const n = this.flows;
    const keys = new Uint32Array(n * FLOW_KEY_WORDS);
    const packets = new Float64Array(n);
    const bytes = new Float64Array(n);
    let j = 0;
    for (let s = 0; s < this.capacity && j < n; s++) {
      if (this.state[s] !== STATE_FULL) continue;
      for (let w = 0; w < FLOW_KEY_WORDS; w++) keys[j * FLOW_KEY_WORDS + w] = this.keys[s * FLOW_KEY_WORDS + w]!;
      packets[j] = this.packets[s]!;
      bytes[j] = this.bytes[s]!;
      j++;
    }
    return { keys, packets, bytes };
  }
}

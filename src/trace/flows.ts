/**
 * Counts packets and bytes per unidirectional flow (l3, proto, src, dst, sport, dport) in an
 * open-addressing table over typed arrays: no per-packet objects or strings. Grows by doubling.
 *
 * Each table slot is one 64-byte cache line: key words 0..9, then the packet and byte counters as
 * float64 at words 12..15 (a Float64Array over the same buffer), so a lookup touches one line.
 * Word 9 carries OCCUPIED, so an empty slot is all zeros and needs no separate "used" array.
 */
import { PacketFlag, type PacketBatch } from './batch.js';

/** Uint32 words per slot (64 bytes). */
const SLOT_WORDS = 16;
/** Float64 index of the packet counter within a slot (words 12-13); bytes follow (words 14-15). */
const PACKETS_F64 = 6;
const BYTES_F64 = 7;
/** Set in word 9 of every used slot (l3 and proto leave bits 17+ free). */
const OCCUPIED = 0x20000;

export interface FlowSummary {
  l3: number;
  proto: number;
  /** Whether sport/dport are real ports (not a later fragment or a protocol without ports). */
  hasPorts: boolean;
  src: readonly number[];
  dst: readonly number[];
  sport: number;
  dport: number;
  packets: number;
  bytes: number;
}

/** The flow hash of a key (src/dst words at `s[w..w+3]`, `d[w..w+3]`); lp without OCCUPIED. */
function flowHash(lp: number, ports: number, s: Uint32Array, sw: number, d: Uint32Array, dw: number): number {
  let h = Math.imul(lp ^ 0x9e3779b9, 0x85ebca6b) ^ ports;
  h = Math.imul(h ^ s[sw]!, 0xcc9e2d51);
  h = Math.imul(h ^ (h >>> 15) ^ d[dw]!, 0x1b873593);
  h = Math.imul(h ^ s[sw + 1]!, 0xcc9e2d51);
  h = Math.imul(h ^ (h >>> 15) ^ d[dw + 1]!, 0x1b873593);
  h = Math.imul(h ^ s[sw + 2]!, 0xcc9e2d51);
  h = Math.imul(h ^ (h >>> 15) ^ d[dw + 2]!, 0x1b873593);
  h = Math.imul(h ^ s[sw + 3]!, 0xcc9e2d51);
  h = Math.imul(h ^ (h >>> 15) ^ d[dw + 3]!, 0x1b873593);
  h ^= h >>> 13;
  return h >>> 0;
}

export class FlowCounter {
  private slots: number;
  private keys: Uint32Array;
  /** The same buffer as `keys`, for the counters. */
  private counts: Float64Array;
  size = 0;

  constructor(initialSlots = 1024) {
    if (!Number.isInteger(initialSlots) || initialSlots < 2 || (initialSlots & (initialSlots - 1)) !== 0) throw new RangeError(`initial slots must be a power of two >= 2, got ${initialSlots}`);
    this.slots = initialSlots;
    this.keys = new Uint32Array(initialSlots * SLOT_WORDS);
    this.counts = new Float64Array(this.keys.buffer);
  }

  /** Counts slot i of the batch if it has an IP header. */
  add(batch: PacketBatch, i: number): void {
    const flags = batch.flags[i]!;
    if ((flags & PacketFlag.IP) === 0) return;
    const w = i * 4;
    const hasPorts = (flags & PacketFlag.PORTS) !== 0;
    const ports = hasPorts ? ((batch.sport[i]! << 16) | batch.dport[i]!) >>> 0 : 0;
    // Fragments after the first have no ports: a flow of their own, marked by bit 16.
    const lp = (batch.l3[i]! << 8) | batch.proto[i]! | (hasPorts ? 0x10000 : 0);
    const tag = lp | OCCUPIED;
    const s = batch.src;
    const d = batch.dst;
    const s0 = s[w]!, d0 = d[w]!;
    const mask = this.slots - 1;
    let pos = flowHash(lp, ports, s, w, d, w) & mask;
    const keys = this.keys;
    while (true) {
      const o = pos * SLOT_WORDS;
      const slotTag = keys[o + 9]!;
      if (slotTag === 0) {
        keys[o] = s0; keys[o + 1] = s[w + 1]!; keys[o + 2] = s[w + 2]!; keys[o + 3] = s[w + 3]!;
        keys[o + 4] = d0; keys[o + 5] = d[w + 1]!; keys[o + 6] = d[w + 2]!; keys[o + 7] = d[w + 3]!;
        keys[o + 8] = ports;
        keys[o + 9] = tag;
        const c = pos * 8;
        this.counts[c + PACKETS_F64] = 1;
        this.counts[c + BYTES_F64] = batch.wireLen[i]!;
        this.size++;
        if (this.size * 2 > this.slots) this.grow();
        return;
      }
      if (slotTag === tag && keys[o + 8] === ports && keys[o] === s0 && keys[o + 4] === d0 &&
        keys[o + 1] === s[w + 1] && keys[o + 2] === s[w + 2] && keys[o + 3] === s[w + 3] &&
        keys[o + 5] === d[w + 1] && keys[o + 6] === d[w + 2] && keys[o + 7] === d[w + 3]) {
        const c = pos * 8;
        this.counts[c + PACKETS_F64]! += 1;
        this.counts[c + BYTES_F64]! += batch.wireLen[i]!;
        return;
      }
      pos = (pos + 1) & mask;
    }
  }

  private grow(): void {
    const oldKeys = this.keys;
    const oldSlots = this.slots;
    this.slots *= 2;
    this.keys = new Uint32Array(this.slots * SLOT_WORDS);
    this.counts = new Float64Array(this.keys.buffer);
    const mask = this.slots - 1;
    // Rehash from the stored keys with the same function as add(), in table order, so that the
    // layout (and the tie order of top()) is what adding the flows into a big table would give.
    for (let p = 0; p < oldSlots; p++) {
      const o = p * SLOT_WORDS;
      const tag = oldKeys[o + 9]!;
      if (tag === 0) continue;
      let pos = flowHash(tag & ~OCCUPIED, oldKeys[o + 8]!, oldKeys, o, oldKeys, o + 4) & mask;
      while (this.keys[pos * SLOT_WORDS + 9] !== 0) pos = (pos + 1) & mask;
      this.keys.set(oldKeys.subarray(o, o + SLOT_WORDS), pos * SLOT_WORDS);
    }
  }

  /** The `n` flows with the most packets (ties: more bytes first, then table order). */
  top(n: number): FlowSummary[] {
    const idx: number[] = [];
    const c = this.counts;
    for (let p = 0; p < this.slots; p++) if (this.keys[p * SLOT_WORDS + 9] !== 0) idx.push(p);
    idx.sort((a, b) => c[b * 8 + PACKETS_F64]! - c[a * 8 + PACKETS_F64]! || c[b * 8 + BYTES_F64]! - c[a * 8 + BYTES_F64]! || a - b);
    return idx.slice(0, n).map((p) => {
      const o = p * SLOT_WORDS;
      const k = this.keys;
      return {
        l3: (k[o + 9]! >>> 8) & 0xff,
        proto: k[o + 9]! & 0xff,
        hasPorts: (k[o + 9]! & 0x10000) !== 0,
        src: [k[o]!, k[o + 1]!, k[o + 2]!, k[o + 3]!],
        dst: [k[o + 4]!, k[o + 5]!, k[o + 6]!, k[o + 7]!],
        sport: k[o + 8]! >>> 16,
        dport: k[o + 8]! & 0xffff,
        packets: c[p * 8 + PACKETS_F64]!,
        bytes: c[p * 8 + BYTES_F64]!,
      };
    });
  }
}

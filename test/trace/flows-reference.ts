/**
 * The first FlowCounter of src/trace/flows.ts (four parallel arrays per slot), kept verbatim as
 * the reference of the differential test in fast-paths.test.ts.
 */
import { PacketFlag, type PacketBatch } from '../../src/trace/batch.js';

const KEY_WORDS = 10; // src[4] dst[4] ports, l3<<8|proto
const EMPTY = 0xffffffff;

interface FlowSummary {
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

export class ReferenceFlowCounter {
  private slots: number;
  private keys: Uint32Array;
  private packets: Float64Array;
  private bytes: Float64Array;
  private used: Uint32Array;
  size = 0;

  constructor(initialSlots = 1024) {
    this.slots = initialSlots;
    this.keys = new Uint32Array(initialSlots * KEY_WORDS);
    this.packets = new Float64Array(initialSlots);
    this.bytes = new Float64Array(initialSlots);
    this.used = new Uint32Array(initialSlots).fill(EMPTY);
  }

  /** Counts slot i of the batch if it has an IP header. */
  add(batch: PacketBatch, i: number): void {
    if ((batch.flags[i]! & PacketFlag.IP) === 0) return;
    const w = i * 4;
    const ports = (batch.flags[i]! & PacketFlag.PORTS) !== 0 ? ((batch.sport[i]! << 16) | batch.dport[i]!) >>> 0 : 0;
    // Fragments after the first have no ports: a flow of their own, marked by bit 16.
    const lp = (batch.l3[i]! << 8) | batch.proto[i]! | ((batch.flags[i]! & PacketFlag.PORTS) !== 0 ? 0x10000 : 0);
    const s = batch.src;
    const d = batch.dst;
    let h = Math.imul(lp ^ 0x9e3779b9, 0x85ebca6b) ^ ports;
    for (let k = 0; k < 4; k++) {
      h = Math.imul(h ^ s[w + k]!, 0xcc9e2d51);
      h = Math.imul(h ^ (h >>> 15) ^ d[w + k]!, 0x1b873593);
    }
    h ^= h >>> 13;
    const mask = this.slots - 1;
    let pos = (h >>> 0) & mask;
    const keys = this.keys;
    while (true) {
      if (this.used[pos] === EMPTY) {
        const o = pos * KEY_WORDS;
        for (let k = 0; k < 4; k++) {
          keys[o + k] = s[w + k]!;
          keys[o + 4 + k] = d[w + k]!;
        }
        keys[o + 8] = ports;
        keys[o + 9] = lp;
        this.used[pos] = 1;
        this.packets[pos] = 1;
        this.bytes[pos] = batch.wireLen[i]!;
        this.size++;
        if (this.size * 2 > this.slots) this.grow();
        return;
      }
      const o = pos * KEY_WORDS;
      if (keys[o + 8] === ports && keys[o + 9] === lp && keys[o] === s[w] && keys[o + 4] === d[w] &&
        keys[o + 1] === s[w + 1] && keys[o + 2] === s[w + 2] && keys[o + 3] === s[w + 3] &&
        keys[o + 5] === d[w + 1] && keys[o + 6] === d[w + 2] && keys[o + 7] === d[w + 3]) {
        this.packets[pos]! += 1;
        this.bytes[pos]! += batch.wireLen[i]!;
        return;
      }
      pos = (pos + 1) & mask;
    }
  }

  private grow(): void {
    const old = { keys: this.keys, packets: this.packets, bytes: this.bytes, used: this.used, slots: this.slots };
    this.slots *= 2;
    this.keys = new Uint32Array(this.slots * KEY_WORDS);
    this.packets = new Float64Array(this.slots);
    this.bytes = new Float64Array(this.slots);
    this.used = new Uint32Array(this.slots).fill(EMPTY);
    const mask = this.slots - 1;
    for (let p = 0; p < old.slots; p++) {
      if (old.used[p] === EMPTY) continue;
      const o = p * KEY_WORDS;
      // Rehash from the stored key with the same function as add().
      const lp = old.keys[o + 9]!;
      const ports = old.keys[o + 8]!;
      let h = Math.imul(lp ^ 0x9e3779b9, 0x85ebca6b) ^ ports;
      for (let k = 0; k < 4; k++) {
        h = Math.imul(h ^ old.keys[o + k]!, 0xcc9e2d51);
        h = Math.imul(h ^ (h >>> 15) ^ old.keys[o + 4 + k]!, 0x1b873593);
      }
      h ^= h >>> 13;
      let pos = (h >>> 0) & mask;
      while (this.used[pos] !== EMPTY) pos = (pos + 1) & mask;
      this.keys.set(old.keys.subarray(o, o + KEY_WORDS), pos * KEY_WORDS);
      this.used[pos] = 1;
      this.packets[pos] = old.packets[p]!;
      this.bytes[pos] = old.bytes[p]!;
    }
  }

  /** The `n` flows with the most packets (ties: more bytes first, then table order). */
  top(n: number): FlowSummary[] {
    const idx: number[] = [];
    for (let p = 0; p < this.slots; p++) if (this.used[p] !== EMPTY) idx.push(p);
    idx.sort((a, b) => this.packets[b]! - this.packets[a]! || this.bytes[b]! - this.bytes[a]! || a - b);
    return idx.slice(0, n).map((p) => {
      const o = p * KEY_WORDS;
      const k = this.keys;
      return {
        l3: (k[o + 9]! >>> 8) & 0xff,
        proto: k[o + 9]! & 0xff,
        hasPorts: (k[o + 9]! & 0x10000) !== 0,
        src: [k[o]!, k[o + 1]!, k[o + 2]!, k[o + 3]!],
        dst: [k[o + 4]!, k[o + 5]!, k[o + 6]!, k[o + 7]!],
        sport: k[o + 8]! >>> 16,
        dport: k[o + 8]! & 0xffff,
        packets: this.packets[p]!,
        bytes: this.bytes[p]!,
      };
    });
  }
}

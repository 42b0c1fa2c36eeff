/**
 * Toeplitz hash as RSS NICs compute it (Microsoft "RSS hashing functions", Intel 82599 datasheet
 * §7.1.2.8; the kernel's software copy is `__toeplitz_hash` used by tools/testing/selftests and
 * drivers that emulate RSS). Input bits are taken most-significant first; for every set input bit
 * i the 32-bit key window starting at key bit i is XORed into the result.
 *
 * For speed the per-key work is done once: `ToeplitzKey` precomputes, for every input byte
 * position and byte value, the XOR of the windows its set bits select (36 positions x 256 values,
 * enough for IPv6 + ports). Hashing is then one table lookup per input byte, no allocation.
 */

/** Microsoft / Intel verification key (kernel-reference §6.2). */
export const MICROSOFT_RSS_KEY: readonly number[] = [
  0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
  0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
  0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
];

/** Symmetric key: 0x6d5a repeated (Woo & Park), both directions of a flow hash alike (§6.5). */
export const SYMMETRIC_RSS_KEY: readonly number[] = Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? 0x6d : 0x5a));

/** Longest input: IPv6 source + destination + two ports. */
export const MAX_TOEPLITZ_INPUT = 36;

export class ToeplitzKey {
  /**
   * table[pos * 256 + byte] = XOR of the key windows the set bits of `byte` at input byte `pos`
   * select. Public so that batch loops (src/cores/dispatch.ts) can index it directly instead of
   * calling a method per packet; callers must not write to it.
   */
  readonly table: Uint32Array;
  readonly maxInputBytes: number;
  /**
   * True when the key repeats every 16 bits over the input it covers (the symmetric 0x6d5a key):
   * then the table row of input byte p equals the row of p mod 2, and since each row is linear
   * (row[a ^ b] = row[a] ^ row[b]) the hash of any input is `foldedHash` of the XOR of its
   * 16-bit big-endian halves: two lookups instead of one per byte. Checked on the built table.
   */
  readonly halfPeriodic: boolean;

  constructor(key: readonly number[] = MICROSOFT_RSS_KEY) {
    if (key.length < 4) throw new RangeError(`a Toeplitz key needs at least 4 bytes, got ${key.length}`);
    for (const b of key) if (!Number.isInteger(b) || b < 0 || b > 255) throw new RangeError(`key byte out of range: ${b}`);
    // A key of L bytes covers inputs of L - 4 bytes (the last window must fit in the key).
    this.maxInputBytes = Math.min(MAX_TOEPLITZ_INPUT, key.length - 4);
    this.table = new Uint32Array(this.maxInputBytes * 256);
    const window = (bit: number): number => {
      let w = 0;
      for (let k = 0; k < 32; k++) {
        const kb = bit + k;
        const set = (key[kb >> 3]! >> (7 - (kb & 7))) & 1;
        w = ((w << 1) | set) >>> 0;
      }
      return w;
    };
    for (let pos = 0; pos < this.maxInputBytes; pos++) {
      const windows: number[] = [];
      for (let b = 0; b < 8; b++) windows.push(window(pos * 8 + b));
      for (let v = 0; v < 256; v++) {
        let h = 0;
        for (let b = 0; b < 8; b++) if (v & (0x80 >> b)) h ^= windows[b]!;
        this.table[pos * 256 + v] = h >>> 0;
      }
    }
    let periodic = this.maxInputBytes >= 2;
    for (let i = 512; i < this.table.length && periodic; i++) periodic = this.table[i] === this.table[i - 512];
    this.halfPeriodic = periodic;
  }

  /**
   * For a `halfPeriodic` key: the hash of an input whose 16-bit big-endian halves XOR to `fold`
   * (any even input length up to maxInputBytes). Only meaningful when halfPeriodic is true.
   */
  foldedHash(fold: number): number {
    return (this.table[(fold >>> 8) & 0xff]! ^ this.table[256 + (fold & 0xff)]!) >>> 0;
  }

  /** Hash of `len` bytes of `input` starting at `offset`. */
  hashBytes(input: Uint8Array, offset = 0, len = input.length - offset): number {
    if (len > this.maxInputBytes) throw new RangeError(`input of ${len} bytes is longer than this key covers (${this.maxInputBytes})`);
    let h = 0;
    for (let p = 0; p < len; p++) h ^= this.table[p * 256 + input[offset + p]!]!;
    return h >>> 0;
  }

  /** Contribution of one 32-bit big-endian word placed at input byte `pos`. */
  private word(pos: number, w: number): number {
    const t = this.table;
    const base = pos * 256;
    return t[base + (w >>> 24)]! ^ t[base + 256 + ((w >>> 16) & 0xff)]! ^ t[base + 512 + ((w >>> 8) & 0xff)]! ^ t[base + 768 + (w & 0xff)]!;
  }

  /** Contribution of one 16-bit big-endian number placed at input byte `pos`. */
  private half(pos: number, v: number): number {
    const base = pos * 256;
    return this.table[base + ((v >>> 8) & 0xff)]! ^ this.table[base + 256 + (v & 0xff)]!;
  }

  /** IPv4 addresses (as big-endian numbers); with `withPorts`, the 12-byte 4-tuple input. */
  hashV4(src: number, dst: number, sport: number, dport: number, withPorts: boolean): number {
    let h = this.word(0, src) ^ this.word(4, dst);
    if (withPorts) h ^= this.half(8, sport) ^ this.half(10, dport);
    return h >>> 0;
  }

  /**
   * IPv6 addresses as four big-endian words each, read from `src`/`dst` at word offset `at` (the
   * PacketBatch layout); with `withPorts`, the 36-byte input.
   */
  hashV6(src: Uint32Array, dst: Uint32Array, at: number, sport: number, dport: number, withPorts: boolean): number {
    let h = 0;
    for (let k = 0; k < 4; k++) h ^= this.word(k * 4, src[at + k]!) ^ this.word(16 + k * 4, dst[at + k]!);
    if (withPorts) h ^= this.half(32, sport) ^ this.half(34, dport);
    return h >>> 0;
  }

  /** A single address (4 or 16 bytes) alone, as the `src-ip` policy hashes it. */
  hashAddress(words: Uint32Array, at: number, isV6: boolean): number {
    let h = this.word(0, words[at]!);
    if (isV6) h ^= this.word(4, words[at + 1]!) ^ this.word(8, words[at + 2]!) ^ this.word(12, words[at + 3]!);
    return h >>> 0;
  }
}

/** Reference implementation, bit by bit, straight from the definition (used by tests and as documentation). */
export function toeplitzReference(key: readonly number[], input: readonly number[]): number {
  let result = 0;
  // The current 32-bit window of the key, and the next key bit to shift in.
  let window = ((key[0]! << 24) | (key[1]! << 16) | (key[2]! << 8) | key[3]!) >>> 0;
  let next = 32;
  for (const byte of input) {
    for (let b = 7; b >= 0; b--) {
      if ((byte >> b) & 1) result = (result ^ window) >>> 0;
      const kb = next < key.length * 8 ? (key[next >> 3]! >> (7 - (next & 7))) & 1 : 0;
      window = ((window << 1) | kb) >>> 0;
      next++;
    }
  }
  return result;
}

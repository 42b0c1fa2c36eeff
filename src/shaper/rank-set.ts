/**
 * An ordered set of small integers (ranks) with "next member at or after r" in O(levels): the
 * stand-in for the kernel's classid-ordered rbtrees in HTB rows and feeds, where a class's rank is
 * its position in classid order. A hierarchical bitset: bit w of level k+1 says word w of level k
 * is non-empty. No allocation after construction.
 */
export class RankSet {
  readonly capacity: number;
  private readonly levels: Uint32Array[];
  private members = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.levels = [];
    let n = Math.max(1, capacity);
    do {
      const words = Math.ceil(n / 32);
      this.levels.push(new Uint32Array(words));
      n = words;
    } while (n > 1);
  }

  get size(): number {
    return this.members;
  }

  has(r: number): boolean {
    return ((this.levels[0]![r >>> 5]! >>> (r & 31)) & 1) === 1;
  }

  add(r: number): void {
    if (this.has(r)) return;
    this.members++;
    let i = r;
    for (let k = 0; k < this.levels.length; k++) {
      const words = this.levels[k]!;
      const w = i >>> 5;
      const was = words[w]!;
      words[w] = was | (1 << (i & 31));
      if (was !== 0) break;
      i = w;
    }
  }

  delete(r: number): void {
    if (!this.has(r)) return;
    this.members--;
    let i = r;
    for (let k = 0; k < this.levels.length; k++) {
      const words = this.levels[k]!;
      const w = i >>> 5;
      const now = words[w]! & ~(1 << (i & 31));
      words[w] = now;
      if (now !== 0) break;
      i = w;
    }
  }

  /** The smallest member >= r, or -1. */
  nextFrom(r: number): number {
    if (r >= this.capacity) return -1;
    if (r < 0) r = 0;
    // Climb while the rest of the current word is empty, then descend to the lowest set bit.
    let k = 0;
    let i = r;
    for (;;) {
      const words = this.levels[k]!;
      const w = i >>> 5;
      if (w >= words.length) return -1;
      const bits = words[w]! & (~0 << (i & 31));
      if (bits !== 0) {
        i = (w << 5) + (31 - Math.clz32(bits & -bits));
        break;
      }
      if (k + 1 === this.levels.length) return -1;
      k++;
      i = w + 1;
    }
    while (k > 0) {
      k--;
      const bits = this.levels[k]![i]!;
      i = (i << 5) + (31 - Math.clz32(bits & -bits));
    }
    return i;
  }

  first(): number {
    return this.members === 0 ? -1 : this.nextFrom(0);
  }
}

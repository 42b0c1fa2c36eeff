/**
 * ConntrackTable.lookupRun (the chain walk in WebAssembly, chain-walk.wat) and takeWalk against
 * find(): two tables built alike, the same lookups and the same changes in between, one taking
 * the walks done ahead where they stand, the other walking every lookup with find(). Every result,
 * every counter (lookups, nodes visited, the visit histogram, expired entries reaped) and the
 * whole table must be equal: a walk result that should no longer stand shows up as a difference.
 */
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { ChainWalk } from '../../src/conntrack/chain-walk.js';
import { formatTable, statsCounters } from '../../src/conntrack/format.js';
import { ConntrackTable, CtStatus, NO_NODE, resolveConfig, WALK_UNDECIDED } from '../../src/conntrack/table.js';
import type { HashAlgorithm } from '../../src/conntrack/tuple.js';

interface Tuple { l3: 4 | 6; proto: number; s: number[]; d: number[]; sport: number; dport: number }

/** A connection's tuple from a small space (so that lookups hit as often as they miss). */
const tuple: fc.Arbitrary<Tuple> = fc.record({
  six: fc.nat(9),
  proto: fc.constantFrom(6, 17),
  a: fc.nat(7),
  b: fc.nat(1),
  sport: fc.nat(5),
  dport: fc.constantFrom(53, 80, 443),
}).map(({ six, proto, a, b, sport, dport }) => {
  const l3 = six === 0 ? 6 : 4;
  const addr = (x: number): number[] => (l3 === 4 ? [(0x0a000000 + x) >>> 0, 0, 0, 0] : [0x20010db8, 0, x, 1]);
  return { l3, proto, s: addr(a), d: addr(1000 + b), sport: 1024 + sport, dport };
});

/** What happens between a run's walks and its lookups, or before them. */
type Step =
  | { kind: 'insert'; t: Tuple; timeoutMs: number }
  | { kind: 'refresh'; pick: number; timeoutMs: number }
  | { kind: 'kill'; pick: number }
  | { kind: 'run'; lookups: { t: Tuple; reply: boolean }[]; between: ('insert' | 'refresh' | 'kill' | 'none')[]; pick: number; tick: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('insert' as const), t: tuple, timeoutMs: fc.constantFrom(5, 50, 1_000_000) }), weight: 4 },
  { arbitrary: fc.record({ kind: fc.constant('refresh' as const), pick: fc.nat(), timeoutMs: fc.constantFrom(1, 20, 1_000_000) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('kill' as const), pick: fc.nat() }), weight: 1 },
  {
    arbitrary: fc.record({
      kind: fc.constant('run' as const),
      lookups: fc.array(fc.record({ t: tuple, reply: fc.boolean() }), { minLength: 1, maxLength: 40 }),
      between: fc.array(fc.constantFrom('insert' as const, 'refresh' as const, 'kill' as const, 'none' as const), { maxLength: 40 }),
      pick: fc.nat(),
      tick: fc.oneof(fc.nat(30), fc.constant(1200)),
    }),
    weight: 3,
  },
);

function hashOf(t: ConntrackTable, x: Tuple, reply: boolean): number {
  return reply ? t.setTuple(x.l3, x.proto, x.d[0]!, x.d[1]!, x.d[2]!, x.d[3]!, x.s[0]!, x.s[1]!, x.s[2]!, x.s[3]!, x.dport, x.sport)
    : t.setTuple(x.l3, x.proto, x.s[0]!, x.s[1]!, x.s[2]!, x.s[3]!, x.d[0]!, x.d[1]!, x.d[2]!, x.d[3]!, x.sport, x.dport);
}

/** Replays the steps on a table; `walks`: take lookupRun's results where they stand. */
function replay(hash: HashAlgorithm, steps: Step[], walks: boolean): { results: number[]; stats: [string, number][]; table: string[]; taken: number; redone: number } {
  const t = new ConntrackTable(resolveConfig({ buckets: 512, max: 600, hash }));
  const live: number[] = [];
  const results: number[] = [];
  let now = 1000;
  const pickLive = (pick: number): number => (live.length === 0 ? NO_NODE : live[pick % live.length]!);
  const insert = (x: Tuple, timeoutMs: number): void => {
    const h = hashOf(t, x, false);
    if (t.find(h, now) !== NO_NODE) return;
    const c = t.alloc(h, now);
    if (c === NO_NODE) return;
    t.status[c] = t.status[c]! | CtStatus.SEEN_REPLY;
    t.refresh(c, now, timeoutMs);
    if (t.confirm(c)) live.push(c);
  };
  /** The connection of a tuple, found with find() (on both tables alike). */
  const connOf = (x: Tuple, reply: boolean): number => {
    const n = t.find(hashOf(t, x, reply), now);
    return n === NO_NODE ? NO_NODE : n >>> 1;
  };
  const change = (what: 'insert' | 'refresh' | 'kill' | 'none', pick: number, x: Tuple, next: { t: Tuple; reply: boolean }): void => {
    if (what === 'insert') insert(x, 30);
    // Timeouts below the walk's horizon (1 s) and at it; half the time for the connection the
    // next lookup finds, so that its walked result may expire before it is taken.
    if (what === 'refresh') {
      const c = pick % 2 === 0 ? connOf(next.t, next.reply) : pickLive(pick);
      if (c !== NO_NODE && t.isLive(c)) t.refresh(c, now, [1, 2, 1000][(pick >>> 1) % 3]!);
    }
    if (what === 'kill') { const c = pickLive(pick); if (c !== NO_NODE && t.isLive(c)) t.kill(c); }
  };
  for (const s of steps) {
    if (s.kind === 'insert') insert(s.t, s.timeoutMs);
    else if (s.kind === 'refresh') { const c = pickLive(s.pick); if (c !== NO_NODE && t.isLive(c)) t.refresh(c, now, s.timeoutMs); }
    else if (s.kind === 'kill') { const c = pickLive(s.pick); if (c !== NO_NODE && t.isLive(c)) t.kill(c); }
    else {
      const hashes: number[] = [];
      s.lookups.forEach(({ t: x, reply }, k) => {
        const a = reply ? x.d : x.s, b = reply ? x.s : x.d;
        t.setRunTuple(k, x.l3, x.proto, a[0]! | 0, a[1]! | 0, a[2]! | 0, a[3]! | 0, b[0]! | 0, b[1]! | 0, b[2]! | 0, b[3]! | 0, reply ? x.dport : x.sport, reply ? x.sport : x.dport);
      });
      const walked = t.lookupRun(s.lookups.length, now);
      for (let k = 0; k < s.lookups.length; k++) hashes.push(t.runHashes[k]!);
      const ahead: { node: number; visited: number; expiry: number; generation: number; bucket: number }[] = [];
      const walkedMs = now;
      if (walks && walked) {
        for (let k = 0; k < s.lookups.length; k++) {
          const bucket = t.walkBucket[k]!;
          ahead.push({ node: t.walkNode[k]!, visited: t.walkVisited[k]!, expiry: t.walkExpiry[k]!, generation: t.walkGeneration(bucket), bucket });
        }
      }
      now += s.tick;
      s.lookups.forEach(({ t: x, reply }, k) => {
        // The table changes between the walks and the lookups (a packet's handler, a new entry).
        change(s.between[k] ?? 'none', s.pick + k, s.lookups[(k + 1) % s.lookups.length]!.t, s.lookups[k]!);
        // Time goes on between packets: an expiry moved earlier may pass before the next lookup.
        now += (s.pick + k) % 7 === 6 ? 600 : (s.pick + k) % 3;
        const w = ahead[k];
        let node = w === undefined ? WALK_UNDECIDED : t.takeWalk(w.node, w.visited, w.expiry, w.generation, w.bucket, now - walkedMs, now);
        if (node === WALK_UNDECIDED) {
          expect(hashOf(t, x, reply)).toBe(hashes[k]); // loads the tuple, as packet() does, and checks the run's hash
          node = t.find(hashes[k]!, now);
        }
        results.push(node);
      });
    }
  }
  return { results, stats: statsCounters(t), table: formatTable(t, now), taken: t.walksTaken, redone: t.walksRedone };
}

describe('lookupRun + takeWalk equal find()', () => {
  for (const hash of ['jhash', 'siphash'] as const) {
    it(`${hash}: same results, counters and table through inserts, earlier expiries, expiries and kills`, () => {
      let taken = 0;
      let redone = 0;
      fc.assert(fc.property(fc.array(step, { minLength: 1, maxLength: 60 }), (steps) => {
        const a = replay(hash, steps, true);
        const b = replay(hash, steps, false);
        expect(a.results).toEqual(b.results);
        expect(a.stats).toEqual(b.stats);
        expect(a.table).toEqual(b.table);
        taken += a.taken;
        redone += a.redone;
      }), { numRuns: 300, seed: 20261123 });
      if (ChainWalk.available) {
        // Both ways are exercised: results taken, and results that no longer stood.
        expect(taken).toBeGreaterThan(1000);
        expect(redone).toBeGreaterThan(200);
      }
    });
  }
});

describe('lookupRun compares the whole tuple', () => {
  it.runIf(ChainWalk.available)('a tuple that differs from a node in its chain only by protocol is not found', () => {
    const t = new ConntrackTable(resolveConfig({ buckets: 512, max: 600, hash: 'jhash' }));
    // Find addresses whose TCP and UDP tuples (same addresses and ports) share a bucket.
    let a = 0;
    const bucketOf = (proto: number, x: number): number => Math.floor(((t.setTuple(4, proto, 0x0a000000 + x, 0, 0, 0, 0xc0000201, 0, 0, 0, 1000, 80) >>> 0) * 512) / 2 ** 32);
    while (bucketOf(6, a) !== bucketOf(17, a)) a++;
    const c = t.alloc(t.setTuple(4, 6, 0x0a000000 + a, 0, 0, 0, 0xc0000201, 0, 0, 0, 1000, 80), 0);
    t.refresh(c, 0, 1_000_000);
    expect(t.confirm(c)).toBe(true);
    t.setRunTuple(0, 4, 17, 0x0a000000 + a, 0, 0, 0, 0xc0000201 | 0, 0, 0, 0, 1000, 80);
    t.setRunTuple(1, 4, 6, 0x0a000000 + a, 0, 0, 0, 0xc0000201 | 0, 0, 0, 0, 1000, 80);
    expect(t.lookupRun(2, 10)).toBe(true);
    expect([t.walkNode[0], t.walkNode[1]]).toEqual([NO_NODE, 2 * c]);
    expect(t.walkVisited[0]).toBeGreaterThanOrEqual(1);
  });
});

describe('a walk result stands only while the walked nodes are alive', () => {
  const setUp = (): { t: ConntrackTable; c: number; hash: number } => {
    const t = new ConntrackTable(resolveConfig({ buckets: 512, max: 600, hash: 'jhash' }));
    const hash = t.setTuple(4, 17, 0x0a000001, 0, 0, 0, 0xc0000201 | 0, 0, 0, 0, 1000, 53);
    const c = t.alloc(hash, 1000);
    t.refresh(c, 1000, 1_000_000);
    expect(t.confirm(c)).toBe(true);
    return { t, c, hash };
  };
  /** lookupRun of the connection's tuple: node, visited, expiry, generation, bucket. */
  const walk = (t: ConntrackTable, hash: number): [number, number, number, number, number] => {
    t.setRunTuple(0, 4, 17, 0x0a000001, 0, 0, 0, 0xc0000201 | 0, 0, 0, 0, 1000, 53);
    expect(t.lookupRun(1, 1000)).toBe(true);
    expect(t.runHashes[0]).toBe(hash);
    const bucket = t.walkBucket[0]!;
    expect(bucket).toBe(Math.floor(((hash >>> 0) * 512) / 2 ** 32)); // reciprocal_scale
    return [t.walkNode[0]!, t.walkVisited[0]!, t.walkExpiry[0]!, t.walkGeneration(bucket), bucket];
  };

  it.runIf(ChainWalk.available)('taken while nothing changed and within the horizon', () => {
    const { t, c, hash } = setUp();
    const [node, visited, expiry, generation, bucket] = walk(t, hash);
    expect(node).toBe(2 * c);
    expect(t.takeWalk(node, visited, expiry, generation, bucket, 999, 1999)).toBe(2 * c);
    expect(t.takeWalk(node, visited, expiry, generation, bucket, 1000, 2000)).toBe(WALK_UNDECIDED); // past the horizon
  });

  it.runIf(ChainWalk.available)('not taken once a refresh moved the expiry close enough to pass', () => {
    const { t, c, hash } = setUp();
    const [node, visited, expiry, generation, bucket] = walk(t, hash);
    t.refresh(c, 1000, 1); // a timeout under the horizon: the chain's group is marked changed
    expect(t.takeWalk(node, visited, expiry, generation, bucket, 5, 1005)).toBe(WALK_UNDECIDED);
    expect(t.find(hash, 1005)).toBe(NO_NODE);
    expect(t.stats.expired).toBe(1);
  });

  it.runIf(ChainWalk.available)('taken after a refresh to an earlier expiry that cannot pass within the horizon', () => {
    const { t, c, hash } = setUp();
    const [node, visited, expiry, generation, bucket] = walk(t, hash);
    t.refresh(c, 1000, 1000); // earlier than before, but at the horizon: nothing marked
    expect(t.takeWalk(node, visited, expiry, generation, bucket, 999, 1999)).toBe(2 * c);
    expect(t.find(hash, 1999)).toBe(2 * c);
  });

  it.runIf(ChainWalk.available)('not taken once the chain changed (a connection linked into its bucket group)', () => {
    const { t, hash } = setUp();
    const [node, visited, expiry, generation, bucket] = walk(t, hash);
    // Another connection whose bucket falls in the same group (bucket & 4095): with 512 buckets, any whose bucket is the same.
    let x = 2;
    const bucketOf = (h: number): number => Math.floor(((h >>> 0) * 512) / 2 ** 32);
    while (bucketOf(t.setTuple(4, 17, 0x0a000000 + x, 0, 0, 0, 0xc0000201 | 0, 0, 0, 0, 1000, 53)) !== bucket) x++;
    const d = t.alloc(t.setTuple(4, 17, 0x0a000000 + x, 0, 0, 0, 0xc0000201 | 0, 0, 0, 0, 1000, 53), 1000);
    t.refresh(d, 1000, 1_000_000);
    expect(t.confirm(d)).toBe(true);
    expect(t.takeWalk(node, visited, expiry, generation, bucket, 1, 1001)).toBe(WALK_UNDECIDED);
  });
});

/** Connection i's ORIGINAL tuple: 10.0.0.0 + i -> 192.0.2.1:443. */
const connectionTuple = (i: number): [number, number, number, number, number, number, number, number, number, number] =>
  [0x0a000000 + i, 0, 0, 0, 0xc0000201 | 0, 0, 0, 0, 1024 + (i % 50000), 443];

/** Inserts connections 0..n-1 (TCP, long timeouts) past the table's first capacity (4096); returns their hashes. */
function insertConnections(t: ConntrackTable, n: number): number[] {
  const hashes: number[] = [];
  for (let i = 0; i < n; i++) {
    const h = t.setTuple(4, 6, ...connectionTuple(i));
    const c = t.alloc(h, 0);
    t.refresh(c, 0, 1_000_000);
    expect(t.confirm(c)).toBe(true);
    hashes.push(h);
  }
  expect(t.capacity).toBeGreaterThan(4096);
  return hashes;
}

describe('a table whose walk memory cannot grow', () => {
  it.runIf(ChainWalk.available)('goes on with plain arrays: every entry still found, lookupRun declines', () => {
    const grow = vi.spyOn(ChainWalk.prototype, 'growNodes');
    try {
      const t = new ConntrackTable(resolveConfig({ buckets: 1024, max: 20_000, hash: 'jhash' }));
      grow.mockImplementation(() => { throw new RangeError('WebAssembly.Memory.grow(): Maximum memory size exceeded'); });
      // Past the first capacity: the table grows, the memory does not.
      const hashes = insertConnections(t, 6000);
      for (let i = 0; i < 6000; i++) {
        t.setTuple(4, 6, ...connectionTuple(i));
        expect(t.find(hashes[i]!, 1)).toBe(2 * i);
      }
      t.setRunTuple(0, 4, 6, ...connectionTuple(0));
      expect(t.lookupRun(1, 1)).toBe(false);
      expect(t.runHashes[0]).toBe(hashes[0]); // hashed all the same (the hasher's run)
    } finally {
      grow.mockRestore();
    }
  });
});

describe('the walk memory', () => {
  /** Fills a table past its first capacity (4096) and checks every entry is found by runs walked ahead. */
  const fillAndFind = (t: ConntrackTable, n: number): void => {
    const hashes = insertConnections(t, n);
    for (let from = 0; from < n; from += 1000) {
      const count = Math.min(1000, n - from);
      for (let k = 0; k < count; k++) t.setRunTuple(k, 4, 6, ...connectionTuple(from + k));
      expect(t.lookupRun(count, 1)).toBe(true);
      for (let k = 0; k < count; k++) {
        expect(t.runHashes[k]).toBe(hashes[from + k]);
        expect(t.walkNode[k]).toBe(2 * (from + k));
      }
    }
  };

  it.runIf(ChainWalk.available)('is reserved for max connections at once: the table grows without growing it (a grow would detach every view)', () => {
    const grow = vi.spyOn(WebAssembly.Memory.prototype, 'grow');
    try {
      fillAndFind(new ConntrackTable(resolveConfig({ buckets: 1024, max: 20_000, hash: 'jhash' })), 9000);
      expect(grow).not.toHaveBeenCalled();
    } finally {
      grow.mockRestore();
    }
  });

  it.runIf(ChainWalk.available)('starts small and grows where that much memory cannot be had', () => {
    const Real = WebAssembly.Memory;
    const pages: number[] = [];
    const limited = vi.spyOn(WebAssembly, 'Memory').mockImplementation(function (descriptor: WebAssembly.MemoryDescriptor) {
      pages.push(descriptor.initial);
      if (descriptor.initial > 200) throw new RangeError('WebAssembly.Memory(): could not allocate memory');
      return new Real(descriptor);
    });
    const grow = vi.spyOn(Real.prototype, 'grow');
    try {
      // 1M buckets (4 MiB of heads) fit in 200 pages (12.5 MiB); max 1M connections (40 MB of records) do not.
      const t = new ConntrackTable(resolveConfig({ buckets: 1_048_576, max: 1_048_576, hash: 'jhash' }));
      expect(pages.some((p) => p > 200)).toBe(true); // asked for the whole table first
      fillAndFind(t, 9000);
      expect(grow).toHaveBeenCalled();
    } finally {
      limited.mockRestore();
      grow.mockRestore();
    }
  });
});

/**
 * Differential test for the chain walk over the packed node records (table.ts `find`): on random
 * insert / delete / lookup sequences, `find` must answer exactly what a plain reference answers
 * (a list of live connections compared field by field, nf_ct_tuple_equal), in both directions,
 * for IPv4 and IPv6 tuples that differ in one field only, and also when the walk is handed another
 * tuple's hash (so the field comparisons must reject near-miss tuples, and a tuple is found only
 * through its own bucket).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConntrackTable, NO_NODE, resolveConfig } from '../../src/conntrack/table.js';
import { reciprocalScale } from '../../src/conntrack/tuple.js';

interface Tuple { l3: number; proto: number; s: number[]; d: number[]; sport: number; dport: number }

const reverse = (t: Tuple): Tuple => ({ l3: t.l3, proto: t.proto, s: t.d, d: t.s, sport: t.dport, dport: t.sport });
const equal = (a: Tuple, b: Tuple): boolean =>
  a.l3 === b.l3 && a.proto === b.proto && a.sport === b.sport && a.dport === b.dport && a.s.every((w, k) => w === b.s[k]) && a.d.every((w, k) => w === b.d[k]);

function setTuple(t: ConntrackTable, x: Tuple): number {
  return t.setTuple(x.l3, x.proto, x.s[0]!, x.s[1]!, x.s[2]!, x.s[3]!, x.d[0]!, x.d[1]!, x.d[2]!, x.d[3]!, x.sport, x.dport);
}

// A small universe of tuples that differ from a base in exactly one field, so near misses abound.
const base: Tuple = { l3: 6, proto: 6, s: [0x20010db8, 0, 0, 1], d: [0x20010db8, 0, 0, 2], sport: 40000, dport: 443 };
function variant(k: number): Tuple {
  const t: Tuple = { ...base, s: [...base.s], d: [...base.d] };
  switch (k % 9) {
    case 0: break;
    case 1: t.l3 = 4; t.s = [t.s[0]!, 0, 0, 0]; t.d = [t.d[0]!, 0, 0, 0]; break;
    case 2: t.proto = 17; break;
    case 3: t.s[3] = 3; break; // differs only in an IPv6 side word
    case 4: t.d[1] = 7; break;
    case 5: t.sport = 40001; break;
    case 6: t.dport = 80; break;
    case 7: t.s[0] = 0x20010db9; break;
    case 8: t.l3 = 4; t.proto = 17; t.s = [t.s[0]!, 0, 0, 0]; t.d = [t.d[0]!, 0, 0, 0]; break;
  }
  if (k >= 9) t.sport = (t.sport + Math.floor(k / 9)) & 0xffff; // more distinct flows
  return t;
}

const op = fc.record({ kind: fc.constantFrom('insert', 'insert', 'delete', 'lookup'), k: fc.integer({ min: 0, max: 35 }), reply: fc.boolean(), other: fc.integer({ min: 0, max: 35 }) });

describe('find over the node records == reference tuple comparison', () => {
  it('random insert/delete/lookup sequences, both hashes, both directions, foreign hashes', () => {
    fc.assert(fc.property(fc.array(op, { maxLength: 120 }), fc.constantFrom<'siphash' | 'jhash'>('siphash', 'jhash'), (ops, hash) => {
      // 512 buckets, 36 tuples: chains are short but collisions of bucket happen; timeouts far away.
      const t = new ConntrackTable(resolveConfig({ buckets: 512, max: 64, hash }));
      const live: { c: number; tuple: Tuple }[] = [];
      const refFind = (x: Tuple): number => {
        for (const e of live) {
          if (equal(e.tuple, x)) return 2 * e.c;
          if (equal(reverse(e.tuple), x)) return 2 * e.c + 1;
        }
        return NO_NODE;
      };
      for (const o of ops) {
        const x = o.reply ? reverse(variant(o.k)) : variant(o.k);
        const h = setTuple(t, x);
        const expected = refFind(x);
        expect(t.find(h, 0)).toBe(expected);
        // Walk with another tuple's hash: only x's own bucket can hold x (the walk compares tuples,
        // as nf_ct_key_equal does, not hashes: a foreign hash of the same bucket finds x too).
        const y = variant(o.other);
        const hy = setTuple(t, y);
        setTuple(t, x);
        const byForeign = t.find(hy, 0);
        const sameBucket = reciprocalScale(hy, t.buckets) === reciprocalScale(h, t.buckets);
        expect(byForeign).toBe(sameBucket ? expected : NO_NODE);
        if (o.kind === 'insert' && expected === NO_NODE) {
          setTuple(t, x);
          const c = t.alloc(h, 0);
          t.refresh(c, 0, 1_000_000);
          expect(t.confirm(c)).toBe(true);
          live.push({ c, tuple: x });
        } else if (o.kind === 'delete' && expected !== NO_NODE) {
          const c = expected >>> 1;
          t.kill(c);
          live.splice(live.findIndex((e) => e.c === c), 1);
        }
      }
      expect(t.count).toBe(live.length);
      for (const e of live) {
        expect(t.find(setTuple(t, e.tuple), 0)).toBe(2 * e.c);
        expect(t.find(setTuple(t, reverse(e.tuple)), 0)).toBe(2 * e.c + 1);
      }
    }), { numRuns: 200 });
  });

  it('expired entries met on the walk are reaped, as before the packed layout', () => {
    const t = new ConntrackTable(resolveConfig({ buckets: 512, max: 64 }));
    const x = variant(0);
    const c = t.alloc(setTuple(t, x), 0);
    t.refresh(c, 0, 100);
    expect(t.confirm(c)).toBe(true);
    expect(t.find(setTuple(t, reverse(x)), 99)).toBe(2 * c + 1);
    expect(t.find(setTuple(t, x), 100)).toBe(NO_NODE);
    expect(t.count).toBe(0);
    expect(t.stats.expired).toBe(1);
    expect(t.chainHistogram().reduce((s, b, len) => s + b * len, 0)).toBe(0);
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ChainWalk } from '../../src/conntrack/chain-walk.js';
import { formatEntry, formatIpv6, formatStatsLine, formatTable, lookupSummary } from '../../src/conntrack/format.js';
import { markUntracked } from '../../src/conntrack/stage.js';
import { ConntrackTable, CtStatus, defaultSizing, NO_NODE, resolveConfig } from '../../src/conntrack/table.js';
import { reciprocalScale } from '../../src/conntrack/tuple.js';
import { CtState, NO_CONNECTION, Verdict } from '../../src/trace/batch.js';
import { ACK, fillSlot, Harness, SYN } from './helpers.js';

const udp = (n: number) => ({ src: `10.1.${n >> 8}.${n & 0xff}`, dst: '198.51.100.1', proto: 17, sport: 1000 + (n % 50000), dport: 53 });

/** Nodes per bucket summed over the table. */
function chainTotal(t: ConntrackTable): number {
  return t.chainHistogram().reduce((sum, buckets, len) => sum + buckets * len, 0);
}

describe('sizing (nf_conntrack_init_start)', () => {
  it('follows the current and old formulas', () => {
    const GiB = 1024 ** 3;
    expect(defaultSizing(512 * 1024 ** 2)).toEqual({ buckets: 4096, max: 4096 });
    expect(defaultSizing(2 * GiB)).toEqual({ buckets: 65536, max: 65536 });
    expect(defaultSizing(16 * GiB)).toEqual({ buckets: 262144, max: 262144 });
    expect(defaultSizing(16 * GiB, 'old')).toEqual({ buckets: 65536, max: 262144 });
    expect(defaultSizing(64 * 1024 ** 2)).toEqual({ buckets: 1024, max: 1024 });
  });
  it('rounds buckets to 512 and gives max = 8 x an explicit hashsize', () => {
    expect(resolveConfig({ buckets: 1000 })).toMatchObject({ buckets: 1024, max: 8192 });
    expect(resolveConfig({})).toMatchObject({ buckets: 262144, max: 262144 });
    expect(resolveConfig({ buckets: 65536, max: 200000 })).toMatchObject({ buckets: 65536, max: 200000 });
  });
});

describe('memory per connection', () => {
  it('the per-connection arrays hold BYTES_PER_CONNECTION bytes per slot, at most 64 (IPv4)', () => {
    // Capacity 3000: no fixed-size array (the 4096 bucket-group counts) divides evenly by it.
    const t = new ConntrackTable(resolveConfig({ buckets: 1024, max: 3000 }));
    // Every typed array the table sizes by its capacity, found by reflection so a new one counts.
    let bytes = 0;
    for (const v of Object.values(t)) {
      if (ArrayBuffer.isView(v) && v !== t.heads && v.byteLength > 0 && v.byteLength % t.capacity === 0 && !(v instanceof Float64Array)) bytes += v.byteLength;
    }
    expect(bytes / t.capacity).toBe(ConntrackTable.BYTES_PER_CONNECTION);
    expect(ConntrackTable.BYTES_PER_CONNECTION).toBeLessThanOrEqual(64);
    expect(t.capacity).toBe(3000);
    // Heads, the walk's bucket-group change counts, the per-connection arrays, the hasher's pages
    // (SipHash, the default: the run's and one for single tuples) and the walk kernel's run area
    // (128 KiB) where it runs.
    expect(t.memoryBytes()).toBe(1024 * 4 + 4096 * 4 + t.capacity * ConntrackTable.BYTES_PER_CONNECTION + 2 * 65536 + (ChainWalk.available ? 131072 : 0));
  });
});

describe('confirm at the last hook', () => {
  it('a dropped NEW packet leaves no entry; an accepted one is inserted with both nodes', () => {
    const h = new Harness();
    const b = h.batch;
    fillSlot(b, 0, { src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2, tcp: SYN });
    h.stage.in.packet(b, 0, 0);
    expect(b.ctState[0]).toBe(CtState.NEW);
    b.verdict[0] = Verdict.DROP; // the filter table dropped it
    h.stage.confirm.packet(b, 0);
    expect([h.table.count, chainTotal(h.table)]).toEqual([0, 0]);
    fillSlot(b, 0, { src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2, tcp: SYN });
    h.stage.in.packet(b, 0, 1e9);
    h.stage.confirm.packet(b, 0);
    expect([h.table.count, chainTotal(h.table), h.table.stats.confirmed]).toEqual([1, 2, 1]);
  });

  it('skips packets a NOTRACK rule marked untracked', () => {
    const h = new Harness();
    fillSlot(h.batch, 0, { src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2, tcp: SYN });
    markUntracked(h.batch, 0);
    h.stage.packet(h.batch, 0, 0);
    expect([h.batch.ctState[0], h.batch.ctId[0], h.table.count, h.table.stats.untracked]).toEqual([CtState.UNTRACKED, NO_CONNECTION, 0, 1]);
  });

  it('NAT: a reply to the translated address finds the connection', () => {
    const h = new Harness();
    const b = h.batch;
    fillSlot(b, 0, { src: '10.0.0.5', dst: '192.0.2.9', sport: 5000, dport: 443, tcp: SYN });
    h.stage.in.packet(b, 0, 0);
    const id = b.ctId[0]!;
    h.table.setNat(id, true, 0xcb007101, 0, 0, 0, 61000); // MASQUERADE to 203.0.113.1:61000
    h.stage.confirm.packet(b, 0);
    const r = h.send(0.01, { src: '192.0.2.9', dst: '203.0.113.1', sport: 443, dport: 61000, tcp: SYN | ACK });
    expect([r.state, r.id, r.reply]).toEqual([CtState.ESTABLISHED, id, 1]);
    expect(formatEntry(h.table, id, 1010)).toBe('tcp      6 59 SYN_RECV src=10.0.0.5 dst=192.0.2.9 sport=5000 dport=443 src=192.0.2.9 dst=203.0.113.1 sport=443 dport=61000 mark=0 use=1');
    h.table.setMark(id, 7);
    expect(h.table.getMark(id)).toBe(7);
  });
});

describe('table full (early_drop)', () => {
  it('evicts every unassured entry of the first non-empty bucket in range, then inserts', () => {
    const h = new Harness({ buckets: 512, max: 600 });
    for (let n = 0; n < 600; n++) h.send(0, udp(n));
    expect(h.table.count).toBe(600);
    // Expected victims, from the table's own chains: the first of 8 buckets holding any entry.
    const next = udp(600);
    const t = h.table;
    const hash = t.setTuple(4, 17, (10 << 24 | 1 << 16 | 2 << 8 | 88) >>> 0, 0, 0, 0, (198 << 24 | 51 << 16 | 100 << 8 | 1) >>> 0, 0, 0, 0, next.sport, 53);
    let bucket = reciprocalScale(hash, t.buckets);
    const victims = new Set<number>();
    for (let i = 0; i < 8 && victims.size === 0; i++, bucket = (bucket + 1) % t.buckets) {
      for (let n = t.heads[bucket]!; n !== NO_NODE; n = t.nextOf(n)) victims.add(n >>> 1);
    }
    expect(victims.size).toBeGreaterThan(0);
    const r = h.send(1, next);
    expect(r.state).toBe(CtState.NEW);
    expect(t.stats.earlyDrop).toBe(victims.size);
    expect(t.count).toBe(600 - victims.size + 1);
    expect(t.stats.drop).toBe(0);
  });

  it('never evicts ASSURED entries: the new packet is dropped and counted', () => {
    const h = new Harness({ buckets: 512, max: 64 });
    for (let n = 0; n < 64; n++) {
      const p = { src: '10.0.0.1', dst: '10.0.0.2', sport: 1000 + n, dport: 22 };
      h.send(0, { ...p, tcp: SYN });
      h.send(0, { src: p.dst, dst: p.src, sport: p.dport, dport: p.sport, tcp: SYN | ACK });
      h.send(0, { ...p, tcp: ACK });
    }
    expect(h.table.count).toBe(64);
    const r = h.send(1, { src: '10.0.0.3', dst: '10.0.0.2', sport: 9, dport: 22, tcp: SYN });
    expect([r.verdict, r.state, h.table.stats.drop, h.table.stats.earlyDrop, h.table.count]).toEqual([Verdict.DROP, CtState.INVALID, 1, 0, 64]);
  });

  it('gc in early-drop mode then kills unassured entries once the table is 95% full', () => {
    const h = new Harness({ buckets: 512, max: 64 });
    for (let n = 0; n < 64; n++) h.send(0, udp(n));
    // Mark every entry ASSURED so that early_drop finds nothing and the allocation fails.
    for (let c = 0; c < 64; c++) h.table.status[c] = h.table.status[c]! | CtStatus.ASSURED;
    h.send(0.5, udp(100));
    expect(h.table.stats.drop).toBe(1);
    for (let c = 0; c < 32; c++) h.table.status[c] = h.table.status[c]! & ~CtStatus.ASSURED;
    h.table.gc(600);
    expect([h.table.stats.gcEarlyDropped, h.table.count]).toEqual([32, 32]);
  });
});

describe('garbage collection', () => {
  it('reaps entries at their trace-time expiry and hides them from the dump', () => {
    const h = new Harness();
    h.send(0, udp(1));
    h.send(20, udp(2));
    h.table.gc(30_000); // udp(1) expires at exactly 30 s
    expect([h.table.count, h.table.stats.expired]).toEqual([1, 1]);
    expect(formatTable(h.table, 30_000)).toEqual(['udp      17 20 src=10.1.0.2 dst=198.51.100.1 sport=1002 dport=53 [UNREPLIED] src=198.51.100.1 dst=10.1.0.2 sport=53 dport=1002 mark=0 use=1']);
  });
});

describe('output shapes', () => {
  it('conntrack -S line and lookup summary', () => {
    const h = new Harness();
    h.send(0, udp(1));
    h.send(1, udp(1));
    expect(formatStatsLine(h.table)).toBe('cpu=0   \tfound=0 invalid=0 insert=0 insert_failed=0 drop=0 early_drop=0 error=0 search_restart=0 clash_resolve=0 chaintoolong=0 ');
    expect(lookupSummary(h.table)).toEqual({ lookups: 2, mean: 0.5, p99: 1, max: 1 });
  });
  it('IPv6 addresses in RFC 5952 form', () => {
    expect(formatIpv6(0x20010db8, 0, 0, 1)).toBe('2001:db8::1');
    expect(formatIpv6(0, 0, 0, 0)).toBe('::');
    expect(formatIpv6(0x20010db8, 0x00000001, 0, 1)).toBe('2001:db8:0:1::1');
  });
});

describe('property: any trace leaves a consistent table', () => {
  const packet = fc.record({
    host: fc.integer({ min: 0, max: 5 }),
    peer: fc.integer({ min: 0, max: 3 }),
    port: fc.integer({ min: 1, max: 4 }),
    proto: fc.constantFrom(6, 17, 1, 47),
    tcp: fc.constantFrom(SYN, SYN | ACK, ACK, 0x11, 0x04, 0x14, 0x03),
    reverse: fc.boolean(),
    drop: fc.boolean(),
    dt: fc.integer({ min: 0, max: 40_000 }),
    v6: fc.boolean(),
  });
  it('every entry is findable from both directions and the chains hold 2 x count nodes', () => {
    fc.assert(fc.property(fc.array(packet, { maxLength: 200 }), fc.constantFrom<'siphash' | 'jhash'>('siphash', 'jhash'), (pkts, hash) => {
      const h = new Harness({ buckets: 512, max: 24, hash });
      const b = h.batch;
      let ms = 0;
      for (const p of pkts) {
        ms += p.dt;
        const a = `10.0.0.${p.host}`;
        const z = `192.0.2.${p.peer}`;
        fillSlot(b, 0, {
          src: p.reverse ? z : a, dst: p.reverse ? a : z, proto: p.proto,
          sport: p.reverse ? 80 : 1000 + p.port, dport: p.reverse ? 1000 + p.port : 80,
          tcp: p.tcp, icmpType: p.reverse ? 0 : 8, icmpId: p.port,
        });
        if (p.v6) { b.l3[0] = 6; b.src[3] = 1; b.dst[3] = 2; }
        h.stage.in.packet(b, 0, ms * 1e6);
        if (p.drop) b.verdict[0] = Verdict.DROP;
        h.stage.confirm.packet(b, 0);
      }
      const t = h.table;
      let confirmed = 0;
      t.forEachConfirmed((c) => {
        confirmed++;
        for (const n of [2 * c, 2 * c + 1]) {
          // Linked in the chain its own tuple hashes to.
          let found = false;
          for (let m = t.heads[reciprocalScale(t.hashNode(n), t.buckets)]!; m !== NO_NODE; m = t.nextOf(m)) if (m === n) found = true;
          expect(found).toBe(true);
        }
      });
      expect(confirmed).toBe(t.count);
      expect(chainTotal(t)).toBe(2 * t.count);
      expect(t.count).toBeLessThanOrEqual(24);
    }), { numRuns: 150 });
  });
});

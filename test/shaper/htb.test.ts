import { describe, expect, it } from 'vitest';
import { PacketBatch, Verdict } from '../../src/trace/batch.js';
import { parseTcScript } from '../../src/shaper/tc-parse.js';
import { Shaper } from '../../src/shaper/shaper.js';
import { getRate64 } from '../../src/shaper/tc-units.js';

const MBIT = 125_000; // bytes per second

/**
 * Feeds a saturating synthetic trace: `flows` marks, each offering `offeredBps` bytes/s in packets
 * of `size` bytes, evenly spaced and interleaved, for `seconds`. Returns the shaper after running
 * the device to the trace's end (backlog not drained, so byte counts cover exactly the trace span).
 */
function run(script: string, flows: { mark: number; offered: number }[], seconds: number, link = '1gbit', size = 1000): Shaper {
  const shaper = new Shaper(parseTcScript(script, 'test.tc'), { linkRate: getRate64(link)! });
  const batch = new PacketBatch(4096, 64);
  // Arrival times of every flow's packets, merged in time order.
  const events: [number, number][] = [];
  for (const [f, flow] of flows.entries()) {
    const gap = (size / flow.offered) * 1e9;
    for (let t = gap * (f / flows.length); t < seconds * 1e9; t += gap) events.push([t, flow.mark]);
  }
  events.sort((a, b) => a[0] - b[0]);
  let n = 0;
  for (const [t, mark] of events) {
    batch.resetSlot(n);
    batch.wireLen[n] = size;
    batch.l3[n] = 4;
    batch.mark[n] = mark;
    shaper.packet(batch, n, t);
    n = (n + 1) % batch.capacity;
  }
  shaper.advanceTo(seconds * 1e9);
  return shaper;
}

function achievedBps(s: Shaper, classid: string, seconds: number): number {
  const i = s.htb.find(parseInt(classid.split(':')[0]!, 16) * 65536 + parseInt(classid.split(':')[1]!, 16));
  expect(i).toBeGreaterThanOrEqual(0);
  return s.htb.bytes[i]! / seconds;
}

const TWO_LEAVES = (a: string, b: string, extra = ''): string => `
tc qdisc add dev eth0 root handle 1: htb default 30
tc class add dev eth0 parent 1: classid 1:1 htb rate 10mbit ceil 10mbit
tc class add dev eth0 parent 1:1 classid 1:10 htb ${a}
tc class add dev eth0 parent 1:1 classid 1:20 htb ${b}
tc class add dev eth0 parent 1:1 classid 1:30 htb rate 1mbit ceil 10mbit
tc filter add dev eth0 parent 1: protocol ip prio 1 handle 10 fw classid 1:10
tc filter add dev eth0 parent 1: protocol ip prio 1 handle 20 fw classid 1:20
${extra}`;

describe('HTB (sch_htb.c) on a saturating generated trace', () => {
  it('two leaves with rates 1:2 under a 10mbit parent share it 1:2 (within 1%)', () => {
    // Each leaf gets its rate (2 and 4 mbit); the 4 mbit left over is borrowed from 1:1 by DRR with
    // quanta rate/r2q = 25000 and 50000 bytes, so the excess splits 1:2 as well: 3.33 / 6.67 mbit.
    const s = run(TWO_LEAVES('rate 2mbit ceil 10mbit', 'rate 4mbit ceil 10mbit'), [
      { mark: 10, offered: 20 * MBIT },
      { mark: 20, offered: 20 * MBIT },
    ], 20);
    const a = achievedBps(s, '1:10', 20);
    const b = achievedBps(s, '1:20', 20);
    expect(a + b).toBeGreaterThan(10 * MBIT * 0.99);
    expect(a + b).toBeLessThan(10 * MBIT * 1.01);
    expect(a / (a + b)).toBeCloseTo(1 / 3, 2);
    expect(Math.abs(a / (10 * MBIT / 3) - 1)).toBeLessThan(0.01);
    expect(Math.abs(b / (20 * MBIT / 3) - 1)).toBeLessThan(0.01);
    // Both borrowed from the parent, which lent; the parent ran out of ceil (overlimits).
    const p = s.htb.find(0x10001);
    expect(s.htb.lends[p]!).toBeGreaterThan(0);
    expect(s.htb.borrows[s.htb.find(0x10010)]!).toBeGreaterThan(0);
    expect(s.htb.overlimits[p]!).toBeGreaterThan(0);
    // Queues overflowed (offered 40 mbit into 10): drops at the leaves.
    expect(s.htb.drops[s.htb.find(0x10010)]!).toBeGreaterThan(0);
  });

  it('ceil limits a leaf even when the parent has room', () => {
    const s = run(TWO_LEAVES('rate 1mbit ceil 3mbit', 'rate 4mbit ceil 10mbit'), [{ mark: 10, offered: 20 * MBIT }], 20);
    expect(Math.abs(achievedBps(s, '1:10', 20) / (3 * MBIT) - 1)).toBeLessThan(0.01);
    expect(achievedBps(s, '1:20', 20)).toBe(0);
  });

  it('borrows the idle sibling’s share up to the parent rate', () => {
    const s = run(TWO_LEAVES('rate 2mbit ceil 10mbit', 'rate 8mbit ceil 10mbit'), [{ mark: 10, offered: 20 * MBIT }], 20);
    expect(Math.abs(achievedBps(s, '1:10', 20) / (10 * MBIT) - 1)).toBeLessThan(0.01);
    const leaf = s.htb.find(0x10010);
    // About 8 of every 10 packets are sent on borrowed tokens (sent at level 7, the parent's row).
    const borrowedShare = s.htb.borrows[leaf]! / s.htb.packets[leaf]!;
    expect(borrowedShare).toBeGreaterThan(0.78);
    expect(borrowedShare).toBeLessThan(0.82);
  });

  it('serves the lower prio first for the excess', () => {
    // Both get their 2 mbit rate; the 6 mbit excess goes to prio 0 first: 8 vs 2 mbit.
    const s = run(TWO_LEAVES('rate 2mbit ceil 10mbit prio 0', 'rate 2mbit ceil 10mbit prio 1'), [
      { mark: 10, offered: 20 * MBIT },
      { mark: 20, offered: 20 * MBIT },
    ], 20);
    expect(Math.abs(achievedBps(s, '1:10', 20) / (8 * MBIT) - 1)).toBeLessThan(0.01);
    expect(Math.abs(achievedBps(s, '1:20', 20) / (2 * MBIT) - 1)).toBeLessThan(0.01);
  });

  it('the default class catches unmatched marks and is shaped to its ceil', () => {
    const s = run(TWO_LEAVES('rate 2mbit ceil 10mbit', 'rate 4mbit ceil 10mbit'), [{ mark: 99, offered: 20 * MBIT }], 10);
    expect(Math.abs(achievedBps(s, '1:30', 10) / (10 * MBIT) - 1)).toBeLessThan(0.01);
    expect(s.htb.directPackets).toBe(0);
  });

  it('without a default class unmatched packets take the direct queue, unshaped', () => {
    const script = TWO_LEAVES('rate 2mbit ceil 10mbit', 'rate 4mbit ceil 10mbit').replace('htb default 30', 'htb');
    const s = new Shaper(parseTcScript(script, 't.tc'), { linkRate: 125_000_000 });
    const b = new PacketBatch(4, 64);
    b.resetSlot(0);
    b.wireLen[0] = 1000;
    b.l3[0] = 4;
    b.mark[0] = 7;
    s.packet(b, 0, 0);
    expect(b.classId[0]).toBe(0x10000);
    expect(s.htb.directPackets).toBe(1);
    expect(s.htb.qdiscPackets).toBe(1); // sent at once: the direct queue is served first
  });

  it('skb->priority naming a leaf wins over the filters; DROP verdicts never reach the shaper', () => {
    const s = new Shaper(parseTcScript(TWO_LEAVES('rate 2mbit', 'rate 4mbit'), 't.tc'), { linkRate: 125_000_000 });
    const b = new PacketBatch(4, 64);
    for (let i = 0; i < 3; i++) {
      b.resetSlot(i);
      b.wireLen[i] = 100;
      b.l3[i] = 4;
      b.mark[i] = 10;
    }
    b.priority[0] = 0x10020;
    b.priority[1] = 0x10001; // an inner class: its (empty) filter list, then the default
    b.verdict[2] = Verdict.DROP;
    for (let i = 0; i < 3; i++) s.packet(b, i, i * 1000);
    expect(b.classId[0]).toBe(0x10020);
    expect(b.classId[1]).toBe(0x10030);
    expect(b.classId[2]).toBe(0);
    expect(s.skippedDropped).toBe(1);
  });

  it('the link rate caps the root when the classes allow more', () => {
    const s = run(TWO_LEAVES('rate 2mbit ceil 10mbit', 'rate 4mbit ceil 10mbit'), [{ mark: 10, offered: 20 * MBIT }], 10, '5mbit');
    expect(Math.abs(achievedBps(s, '1:10', 10) / (5 * MBIT) - 1)).toBeLessThan(0.01);
  });

  it('starts with full buckets: tokens = burst in ticks, shown as tc shows them', () => {
    const s = new Shaper(parseTcScript(TWO_LEAVES('rate 10mbit burst 15k cburst 15k', 'rate 4mbit'), 't.tc'), { linkRate: 125_000_000 });
    const i = s.htb.find(0x10010);
    expect(s.htb.tokensTicks(i)).toBe(192000);
    expect(s.htb.ctokensTicks(i)).toBe(192000);
    // quantum: 1,250,000 B/s / r2q 10 = 125000 (inside the [1000, 200000] clamp); 4mbit → 50000.
    expect(s.htb.quantum[i]).toBe(125000);
    expect(s.htb.quantum[s.htb.find(0x10020)]).toBe(50000);
    // 1mbit default class: 12500 → kept; levels: leaves 0, the root class 7.
    expect(s.htb.level[s.htb.find(0x10001)]).toBe(7);
    expect(s.htb.level[i]).toBe(0);
  });

  it('clamps a derived quantum to [1000, 200000] but keeps an explicit one (htb_change_class)', () => {
    const script = `tc qdisc add dev eth0 root handle 1: htb r2q 10
tc class add dev eth0 parent 1: classid 1:1 htb rate 100mbit
tc class add dev eth0 parent 1:1 classid 1:2 htb rate 100mbit
tc class add dev eth0 parent 1:1 classid 1:3 htb rate 64kbit
tc class add dev eth0 parent 1:1 classid 1:4 htb rate 64kbit quantum 300
tc class add dev eth0 parent 1:1 classid 1:5 htb rate 1mbit prio 9
`;
    const h = new Shaper(parseTcScript(script, 'q.tc'), { linkRate: 125_000_000 }).htb;
    // 12,500,000 / 10 = 1,250,000 → 200000; 8000 / 10 = 800 → 1000; explicit 300 stays.
    expect(h.quantum[h.find(0x10002)]).toBe(200000);
    expect(h.quantum[h.find(0x10003)]).toBe(1000);
    expect(h.quantum[h.find(0x10004)]).toBe(300);
    expect(h.prio[h.find(0x10005)]).toBe(7); // prio above 7 is clamped
  });
});

import { describe, expect, it } from 'vitest';
import { MICROSOFT_RSS_KEY, toeplitzReference } from '../../src/hash/toeplitz.js';
import { Dispatcher } from '../../src/cores/dispatch.js';
import { Reta, reciprocalScale, rpsCpu } from '../../src/cores/rss.js';
import { PacketBatch, PacketFlag } from '../../src/trace/batch.js';
import { batchesOf, putPacket, v4 } from './packets.js';

describe('RETA (ethtool -X semantics)', () => {
  it('equal: entry i -> i mod N; 6 queues over 128 entries get 22, 22, 21, 21, 21, 21', () => {
    const r = Reta.equal(6);
    expect(r.size).toBe(128);
    expect([...r.table.slice(0, 8)]).toEqual([0, 1, 2, 3, 4, 5, 0, 1]);
    expect(r.entriesPerQueue()).toEqual([22, 22, 21, 21, 21, 21]);
    expect([...Reta.equal(2, 8, 3).table]).toEqual([3, 4, 3, 4, 3, 4, 3, 4]);
  });

  it('weight: contiguous runs proportional to the weights, as fill_indir_table fills them', () => {
    const r = Reta.weight([1, 2, 1]);
    expect(r.entriesPerQueue()).toEqual([32, 64, 32]);
    expect(r.table[31]).toBe(0);
    expect(r.table[32]).toBe(1);
    expect(r.table[95]).toBe(1);
    expect(r.table[96]).toBe(2);
    // A zero weight skips its queue entirely.
    expect(Reta.weight([0, 1], 8).entriesPerQueue()).toEqual([0, 8]);
    // Uneven: 3 weights of 1 over 8 entries: i >= 8*partial/3 -> boundaries at 8*0/3 = 0, 8*1/3 = 2, 8*2/3 = 5.
    expect([...Reta.weight([1, 1, 1], 8).table]).toEqual([0, 0, 1, 1, 1, 2, 2, 2]);
    expect(() => Reta.weight([0, 0])).toThrow('At least one weight must be non-zero');
    expect(() => Reta.weight([100, 29])).toThrow('Total weight exceeds the size of the indirection table');
    expect(() => Reta.equal(2, 100)).toThrow(RangeError);
  });

  it('prints like ethtool -x', () => {
    const text = Reta.equal(4, 16).format('eth0', 4);
    expect(text).toBe(
      'RX flow hash indirection table for eth0 with 4 RX ring(s):\n' +
        '    0:      0     1     2     3     0     1     2     3\n' +
        '    8:      0     1     2     3     0     1     2     3',
    );
  });

  it('RPS picks cpus[reciprocal_scale(hash, len)]', () => {
    expect(reciprocalScale(0xffffffff, 4)).toBe(3);
    expect(reciprocalScale(0x80000000, 4)).toBe(2);
    expect(reciprocalScale(0x3fffffff, 4)).toBe(0);
    expect(rpsCpu(0xc0000000, [5, 6, 7, 8])).toBe(8);
  });
});

describe('dispatch policies', () => {
  const flow = { src: '66.9.149.187', sport: 2794, dst: '161.142.100.80', dport: 1766 };
  const reverse = { src: flow.dst, sport: flow.dport, dst: flow.src, dport: flow.sport };

  it('rss: Toeplitz 4-tuple -> RETA[hash & 127] -> queue core', () => {
    const [b] = batchesOf([flow], 4);
    const d = new Dispatcher({ policy: 'rss', cores: 4 });
    // 0x51ccc178 & 127 = 120; 120 mod 4 = 0.
    expect(d.assign(b!, 0)).toBe(0);
    expect(b!.flowHash[0]).toBe(0x51ccc178);
    const d3 = new Dispatcher({ policy: 'rss', cores: 3 });
    expect(d3.assign(b!, 0)).toBe(0); // 120 mod 3 = 0
    const d7 = new Dispatcher({ policy: 'rss', cores: 7 });
    expect(d7.assign(b!, 0)).toBe(1); // 120 mod 7 = 1
    expect(b!.core[0]).toBe(1);
  });

  it('rss hashes addresses only for fragments and protocols without RSS port hashing', () => {
    const [b] = batchesOf([flow, { ...flow, proto: 17 }, { ...flow, proto: 132 }, flow], 4);
    b!.flags[3] = b!.flags[3]! | PacketFlag.FRAGMENT;
    const d = new Dispatcher({ policy: 'rss', cores: 4 });
    for (let i = 0; i < 4; i++) d.assign(b!, i);
    expect([...b!.flowHash]).toEqual([0x51ccc178, 0x51ccc178, 0x323e8fc2, 0x323e8fc2]);
    // 0x323e8fc2 & 127 = 66 -> queue 2.
    expect(b!.core[2]).toBe(2);
  });

  it('rss splits the two directions, rss-symmetric keeps them together', () => {
    const [b] = batchesOf([flow, reverse], 2);
    const rss = new Dispatcher({ policy: 'rss', cores: 4 });
    expect([rss.assign(b!, 0), rss.assign(b!, 1)]).toEqual([0, (0xfde799b2 & 127) % 4]);
    const sym = new Dispatcher({ policy: 'rss-symmetric', cores: 4 });
    expect([sym.assign(b!, 0), sym.assign(b!, 1)]).toEqual([(0x9fcc9fcc & 127) % 4, (0x9fcc9fcc & 127) % 4]);
  });

  it('round-robin, src-ip and single-queue', () => {
    const pk = [flow, reverse, flow, { src: '10.0.0.1', dst: '10.0.0.2' }, flow];
    const [b] = batchesOf(pk, 8);
    const rr = new Dispatcher({ policy: 'round-robin', cores: 3 });
    expect(pk.map((_, i) => rr.assign(b!, i))).toEqual([0, 1, 2, 0, 1]);
    const sq = new Dispatcher({ policy: 'single-queue', cores: 3 });
    expect(pk.map((_, i) => sq.assign(b!, i))).toEqual([0, 0, 0, 0, 0]);
    const src = new Dispatcher({ policy: 'src-ip', cores: 5 });
    const addrHash = (a: string): number => {
      const n = v4(a);
      return toeplitzReference(MICROSOFT_RSS_KEY, [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
    };
    expect(pk.map((_, i) => src.assign(b!, i))).toEqual(pk.map((p) => addrHash(p.src) % 5));
  });

  it('non-IP packets hash to 0 and take RETA entry 0', () => {
    const b = new PacketBatch(2, 0);
    b.resetSlot(0);
    b.count = 1;
    const d = new Dispatcher({ policy: 'rss', cores: 4, retaWeights: [0, 0, 1, 1] });
    expect(d.assign(b, 0)).toBe(2);
    expect(b.flowHash[0]).toBe(0);
  });

  it('RETA weights, queue-to-core maps and RPS steer as configured', () => {
    const b = new PacketBatch(1, 0);
    putPacket(b, 0, flow, 1);
    b.count = 1;
    // hash & 127 = 120: with weights [1, 3] entries 0..31 -> queue 0, 32..127 -> queue 1.
    expect(new Dispatcher({ policy: 'rss', cores: 2, retaWeights: [1, 3] }).assign(b, 0)).toBe(1);
    expect(new Dispatcher({ policy: 'rss', cores: 4, retaWeights: [1, 3], queueToCore: [2, 3] }).assign(b, 0)).toBe(3);
    // RPS over cpus [1, 2, 3]: reciprocal_scale(0x51ccc178, 3) = 0 -> cpu 1.
    expect(new Dispatcher({ policy: 'rss', cores: 4, rpsCpus: [1, 2, 3] }).assign(b, 0)).toBe(1);
    expect(() => new Dispatcher({ policy: 'rss', cores: 2, queueToCore: [0, 5] })).toThrow(RangeError);
  });
});

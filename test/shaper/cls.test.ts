import { describe, expect, it } from 'vitest';
import { FwInstance, fwHash, FW_NO_MATCH } from '../../src/shaper/cls-fw.js';
import { PacketBatch } from '../../src/trace/batch.js';
import { parseTcScript } from '../../src/shaper/tc-parse.js';
import { Shaper } from '../../src/shaper/shaper.js';
import { formatClasses } from '../../src/shaper/format.js';

describe('cls_fw (cls_fw.c)', () => {
  it('fw_hash folds the four bytes (kernel-reference §5.1 vectors)', () => {
    expect(fwHash(5)).toBe(5);
    expect(fwHash(0x10005)).toBe(4);
    expect(fwHash(0x12345678)).toBe(0x08);
    expect(fwHash(0xffffffff)).toBe(0);
  });

  it.each([1, 255, 256, 257, 1000, 24000])('%d sequential marks in 256 buckets give a longest chain of ceil(N/256)', (n) => {
    const fw = new FwInstance(256);
    for (let m = 0; m < n; m++) fw.add(m, 0x10000 + (m & 0xffff));
    const chains = fw.chainLengths();
    expect(chains.reduce((a, b) => a + b, 0)).toBe(n);
    expect(Math.max(...chains)).toBe(Math.ceil(n / 256));
    expect(Math.min(...chains)).toBe(Math.floor(n / 256));
  });

  it('24000 marks in 65536 buckets: one entry per chain', () => {
    const fw = new FwInstance(65536);
    for (let m = 1; m <= 24000; m++) fw.add(m, 0x10000 + m);
    expect(Math.max(...fw.chainLengths())).toBe(1);
    expect(fw.classify(12345, 0x10000)).toBe(0x10000 + 12345);
    expect(fw.lastWalked).toBe(1);
  });

  it('walks the chain from the newest entry: the first added is found last', () => {
    const fw = new FwInstance(256);
    for (let m = 0; m < 1024; m++) fw.add(m, m + 1);
    // Bucket 0 holds marks 0, 0x101, 0x202, 0x303 (lo ^ hi = 0), newest first.
    expect(fw.classify(0x303, 0x10000)).toBe(0x304);
    expect(fw.lastWalked).toBe(1);
    expect(fw.classify(0, 0x10000)).toBe(1);
    expect(fw.lastWalked).toBe(4);
    expect(fw.classify(0x404, 0x10000)).toBe(FW_NO_MATCH); // a miss walks the whole chain
    expect(fw.lastWalked).toBe(4);
  });

  it('compares the handle with mark & mask', () => {
    const fw = new FwInstance();
    fw.mask = 0xff;
    fw.add(0x10, 0x10010);
    expect(fw.classify(0xab10, 0x10000)).toBe(0x10010);
    expect(fw.classify(0x11, 0x10000)).toBe(FW_NO_MATCH);
  });

  it('old method (no head): the mark is the classid when its major is 0 or the qdisc’s', () => {
    const fw = new FwInstance();
    expect(fw.classify(0x10010, 0x10000)).toBe(0x10010);
    expect(fw.classify(0x5, 0x10000)).toBe(0x5);
    expect(fw.classify(0x20005, 0x10000)).toBe(FW_NO_MATCH);
    expect(fw.classify(0, 0x10000)).toBe(FW_NO_MATCH);
  });
});

/** An IPv4/TCP head: 20-byte header (IHL 5) then ports. */
function ipv4(b: PacketBatch, i: number, src: string, dst: string, proto: number, sport: number, dport: number, mark = 0): void {
  b.resetSlot(i);
  b.l3[i] = 4;
  b.wireLen[i] = 100;
  b.mark[i] = mark;
  const h = b.head.subarray(i * b.headBytes, (i + 1) * b.headBytes);
  h.fill(0);
  h[0] = 0x45;
  h[2] = 0;
  h[3] = 86;
  h[9] = proto;
  h.set(src.split('.').map(Number), 12);
  h.set(dst.split('.').map(Number), 16);
  h[20] = sport >> 8; h[21] = sport & 0xff; h[22] = dport >> 8; h[23] = dport & 0xff;
  b.headLen[i] = 40;
}

const U32 = `
# u32 on an HTB tree, as in the LARTC hashing example
tc qdisc add dev eth0 root handle 1: htb default 90
tc class add dev eth0 parent 1: classid 1:1 htb rate 100mbit
tc class add dev eth0 parent 1:1 classid 1:10 htb rate 10mbit
tc class add dev eth0 parent 1:1 classid 1:20 htb rate 10mbit
tc class add dev eth0 parent 1:1 classid 1:30 htb rate 10mbit
tc class add dev eth0 parent 1:1 classid 1:40 htb rate 10mbit
tc class add dev eth0 parent 1:1 classid 1:90 htb rate 10mbit
tc filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip src 10.0.0.0/8 match ip dport 80 0xffff match ip protocol 6 0xff flowid 1:10
tc filter add dev eth0 parent 1: protocol ip prio 1 u32 match mark 0x5 0xff classid 1:40
tc filter add dev eth0 parent 1: prio 5 handle 2: protocol ip u32 divisor 256
tc filter add dev eth0 protocol ip parent 1: prio 5 u32 ht 800:: match ip dst 192.168.0.0/16 hashkey mask 0x000000ff at 16 link 2:
tc filter add dev eth0 parent 1: protocol ip prio 5 u32 ht 2:5: match ip dst 192.168.1.5/32 flowid 1:20
tc filter add dev eth0 parent 1: protocol ip prio 5 u32 ht 2: sample u32 0x00000007 0x000000ff at 16 match ip dst 192.168.2.7 flowid 1:30
`;

describe('cls_u32 (cls_u32.c) behind htb_classify', () => {
  const s = new Shaper(parseTcScript(U32, 'u32.tc'), { linkRate: 125_000_000 });
  const b = new PacketBatch(16, 64);
  const cls = (i: number): string => {
    s.classifyPacket(b, i);
    return `${(b.classId[i]! >>> 16).toString(16)}:${(b.classId[i]! & 0xffff).toString(16)}`;
  };

  it('matches ip src prefix, dport and protocol together', () => {
    ipv4(b, 0, '10.1.2.3', '1.1.1.1', 6, 40000, 80);
    expect(cls(0)).toBe('1:10');
    expect(s.walkMax).toBe(1);
    ipv4(b, 1, '10.1.2.3', '1.1.1.1', 17, 40000, 80); // UDP: protocol key fails
    expect(cls(1)).toBe('1:90');
    ipv4(b, 2, '11.1.2.3', '1.1.1.1', 6, 40000, 80);
    expect(cls(2)).toBe('1:90');
  });

  it('matches skb->mark under a mask', () => {
    ipv4(b, 3, '1.2.3.4', '5.6.7.8', 17, 1, 2, 0x1205);
    expect(cls(3)).toBe('1:40');
  });

  it('hashes into a linked table by the low byte of ip dst; tc’s sample picks the same bucket', () => {
    ipv4(b, 4, '1.2.3.4', '192.168.1.5', 17, 1, 2);
    s.walkMax = 0;
    expect(cls(4)).toBe('1:20');
    // Table 800: (the root of the first u32 instance, prio 1) holds both prio-1 knodes and the
    // linking knode added with `ht 800::`; then one knode in bucket 5 of table 2:.
    expect(s.walkMax).toBe(4);
    ipv4(b, 5, '1.2.3.4', '192.168.2.7', 17, 1, 2);
    expect(cls(5)).toBe('1:30');
    ipv4(b, 6, '1.2.3.4', '192.168.3.5', 17, 1, 2); // bucket 5, but the knode wants .1.5
    expect(cls(6)).toBe('1:90');
  });

  it('a key past the bytes available ends the match with no result', () => {
    ipv4(b, 7, '10.1.2.3', '1.1.1.1', 6, 40000, 80);
    b.headLen[7] = 20; // the ports are not there
    expect(cls(7)).toBe('1:90');
  });
});

describe('u32 sample (tc/f_u32.c)', () => {
  it('hashes the key as it lies in memory: a /32 sample lands in the byte-xor bucket, not the hashkey one', () => {
    const script = `${U32}tc filter add dev eth0 parent 1: protocol ip prio 5 u32 ht 2: sample ip dst 192.168.2.9/32 match ip dst 192.168.2.9 flowid 1:30\n`;
    const cfg = parseTcScript(script, 's.tc');
    const last = cfg.filters.at(-1)!.filter;
    // 0xc0 ^ 0xa8 ^ 0x02 ^ 0x09 = 0x63, while the kernel's hashkey (mask 0xff at 16) picks bucket 9.
    expect(last.type === 'u32' && last.bucket).toBe(0x63);
    const sh = new Shaper(cfg, { linkRate: 125_000_000 });
    const b = new PacketBatch(1, 64);
    ipv4(b, 0, '1.2.3.4', '192.168.2.9', 17, 1, 2);
    sh.classifyPacket(b, 0);
    expect(b.classId[0]).toBe(0x10090); // the filter sits in a bucket no packet to .2.9 reaches
  });
});

describe('htb_classify through an inner class’s own filters', () => {
  it('a qdisc filter naming an inner class continues with that class’s chain', () => {
    const script = `tc qdisc add dev eth0 root handle 1: htb default 99
tc class add dev eth0 parent 1: classid 1:1 htb rate 100mbit
tc class add dev eth0 parent 1:1 classid 1:2 htb rate 50mbit
tc class add dev eth0 parent 1:2 classid 1:21 htb rate 10mbit
tc class add dev eth0 parent 1:2 classid 1:22 htb rate 10mbit
tc class add dev eth0 parent 1:1 classid 1:99 htb rate 1mbit
tc qdisc add dev eth0 parent 1:21 handle 21: pfifo limit 10
tc filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dst 10.0.0.0/8 classid 1:2
tc filter add dev eth0 parent 1:2 protocol ip prio 1 handle 1 fw classid 1:21
tc filter add dev eth0 parent 1:2 protocol ip prio 2 handle 2 fw classid 1:22
`;
    const s = new Shaper(parseTcScript(script, 'inner.tc'), { linkRate: 125_000_000 });
    const b = new PacketBatch(4, 64);
    ipv4(b, 0, '1.1.1.1', '10.0.0.1', 17, 1, 2, 2);
    ipv4(b, 1, '1.1.1.1', '10.0.0.1', 17, 1, 2, 3); // no filter of 1:2 matches → default
    ipv4(b, 2, '1.1.1.1', '11.0.0.1', 17, 1, 2, 1); // the qdisc's u32 does not match → default
    for (let i = 0; i < 3; i++) s.classifyPacket(b, i);
    expect([...b.classId.subarray(0, 3)]).toEqual([0x10022, 0x10099, 0x10099]);
    // Packet 0: u32 knode (1), fw prio 1 miss in an empty bucket (0), fw prio 2 hit (1).
    expect(s.walkMax).toBe(2);
    expect(s.htb.limitPackets[s.htb.find(0x10021)]).toBe(10);
    expect(s.htb.leafHandle[s.htb.find(0x10021)]).toBe(0x210000);
    const text = formatClasses(s.htb);
    expect(text).toContain('class htb 1:2 parent 1:1 rate 50Mbit ceil 50Mbit burst 1600b cburst 1600b\n');
    expect(text).toContain('class htb 1:21 parent 1:2 leaf 21: prio 0 rate 10Mbit ceil 10Mbit burst 1600b cburst 1600b\n');
  });
});

describe('u32 offset/eat (cls_u32.c next-header walk)', () => {
  const script = `tc qdisc add dev eth0 root handle 1: htb default 90
tc class add dev eth0 parent 1: classid 1:1 htb rate 100mbit
tc class add dev eth0 parent 1:1 classid 1:10 htb rate 10mbit
tc class add dev eth0 parent 1:1 classid 1:90 htb rate 10mbit
tc filter add dev eth0 parent 1: prio 5 handle 3: protocol ip u32 divisor 1
tc filter add dev eth0 parent 1: protocol ip prio 5 u32 ht 3: match tcp dst 443 0xffff flowid 1:10
tc filter add dev eth0 parent 1: protocol ip prio 5 u32 ht 800:: match ip protocol 6 0xff offset at 0 mask 0x0f00 shift 6 eat link 3:
`;
  it('moves to the TCP header by the IHL (options included) and matches the port there', () => {
    const s = new Shaper(parseTcScript(script, 'eat.tc'), { linkRate: 125_000_000 });
    const b = new PacketBatch(4, 64);
    ipv4(b, 0, '1.1.1.1', '2.2.2.2', 6, 5555, 443);
    // Same packet with 8 bytes of IP options (IHL 7): the ports move to offset 28.
    ipv4(b, 1, '1.1.1.1', '2.2.2.2', 6, 0, 0);
    const h = b.head.subarray(64, 128);
    h[0] = 0x47;
    h[28] = 5555 >> 8; h[29] = 5555 & 0xff; h[30] = 443 >> 8; h[31] = 443 & 0xff;
    ipv4(b, 2, '1.1.1.1', '2.2.2.2', 6, 5555, 80);
    for (let i = 0; i < 3; i++) s.classifyPacket(b, i);
    expect([...b.classId.subarray(0, 3)]).toEqual([0x10010, 0x10010, 0x10090]);
  });
});

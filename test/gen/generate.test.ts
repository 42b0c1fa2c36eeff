import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PacketBatch, PacketFlag } from '../../src/trace/batch.js';
import { foldChecksum, sum16, TraceGenerator, type GenerateOptions } from '../../src/trace/generate.js';
import { MemoryTraceWriter, writeFrames, type TraceWriterOptions } from '../../src/trace/write.js';
import { repoRoot } from '../support/shared.js';
import { flowKey, hasTcpdump, internetChecksum, parseFrame, readPcap, type Packet } from './frames.js';

const dir = mkdtempSync(join(tmpdir(), 'pktbench-gen-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function generate(options: GenerateOptions, writer: TraceWriterOptions = { format: 'pcap', precision: 'ns' }): Uint8Array {
  const g = new TraceGenerator(options);
  const w = new MemoryTraceWriter(writer);
  writeFrames(g, w.encoder);
  return w.bytes();
}

function packets(options: GenerateOptions): Packet[] {
  return readPcap(generate(options)).frames.map((f) => parseFrame(f.data));
}

function byFlow(ps: Packet[]): Map<string, Packet[]> {
  const m = new Map<string, Packet[]>();
  for (const p of ps) {
    const k = flowKey(p);
    let list = m.get(k);
    if (!list) m.set(k, (list = []));
    list.push(p);
  }
  return m;
}

const minOf = (p: Packet): number => (p.proto === 6 ? 4 : 2);
const SYN = 0x02, ACK = 0x10, FIN = 0x01, RST = 0x04, PSH = 0x08;
const inV4 = (a: string, prefix: string): boolean => a.startsWith(prefix);

describe('checksum helpers', () => {
  it('match the textbook IPv4 header example (checksum 0xb861)', () => {
    const h = Uint8Array.from(Buffer.from('450000730000400040110000c0a80001c0a800c7', 'hex'));
    expect(foldChecksum(sum16(h, 0, 20))).toBe(0xb861);
    expect(internetChecksum([h])).toBe(0xb861);
    // odd length: the last byte is the high half of a word
    expect(foldChecksum(sum16(Uint8Array.of(0x01, 0x02, 0x03), 0, 3))).toBe(0xffff - 0x0402);
  });
});

describe('determinism', () => {
  const opts: GenerateOptions = { seed: 42, flows: 200, packets: 5000, ipv6: 0.3, pattern: 'zipf' };
  it('gives byte-identical output for the same seed', () => {
    const a = generate(opts);
    const b = generate(opts);
    expect(Buffer.compare(Buffer.from(a), Buffer.from(b))).toBe(0);
  });
  it('gives different output for another seed', () => {
    const a = generate(opts);
    const b = generate({ ...opts, seed: 43 });
    expect(Buffer.compare(Buffer.from(a), Buffer.from(b))).not.toBe(0);
  });
});

describe('frame bytes', () => {
  it('builds Ethernet + IPv4 + UDP exactly as laid out by hand', () => {
    const ps = readPcap(generate({ pattern: 'single-flow', mix: { tcp: 0, udp: 1, icmp: 0 }, packets: 2, payloadMin: 10, payloadMax: 10,
      clientNet: '192.0.2.0/30', serverNet: '198.51.100.0/30', seed: 9 })).frames;
    const f = ps[0]!.data;
    const p = parseFrame(f);
    expect(f.length).toBe(14 + 20 + 8 + 10);
    const src = f.subarray(26, 30);
    const dst = f.subarray(30, 34);
    expect([...src.subarray(0, 3)]).toEqual([192, 0, 2]);
    expect([1, 2]).toContain(src[3]);
    expect([...dst.subarray(0, 3)]).toEqual([198, 51, 100]);
    expect([1, 2]).toContain(dst[3]);
    const ipHeader = Uint8Array.of(0x45, 0, 0, 38, f[18]!, f[19]!, 0x40, 0, 64, 17, 0, 0, ...src, ...dst);
    const ipSum = internetChecksum([ipHeader]);
    ipHeader[10] = ipSum >> 8; ipHeader[11] = ipSum & 255;
    const payload = Uint8Array.from({ length: 10 }, (_, i) => 0x20 + i); // the generator's printable pattern
    const udp = Uint8Array.of(p.sport >> 8, p.sport & 255, p.dport >> 8, p.dport & 255, 0, 18, 0, 0);
    const udpSum = internetChecksum([Uint8Array.of(...src, ...dst, 0, 17, 0, 18), udp, payload]);
    udp[6] = udpSum >> 8; udp[7] = udpSum & 255;
    const expected = Uint8Array.of(2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00, ...ipHeader, ...udp, ...payload);
    expect(Buffer.from(f).toString('hex')).toBe(Buffer.from(expected).toString('hex'));
    expect(p.sport).toBeGreaterThanOrEqual(32768);
    expect(p.sport).toBeLessThan(61000);
    expect([53, 443, 123, 500, 4500, 1194, 51820]).toContain(p.dport);
    // The response swaps MACs, addresses and ports.
    const r = ps[1]!.data;
    expect(Buffer.from(r.subarray(0, 12)).toString('hex')).toBe('020000000001020000000002');
    expect(Buffer.from(r.subarray(26, 34))).toEqual(Buffer.from([...dst, ...src]));
  });

  it('builds an IPv6 SYN with the MSS option and an ICMPv6 echo', () => {
    const [syn] = packets({ pattern: 'single-flow', mix: { tcp: 1, udp: 0, icmp: 0 }, packets: 6, ipv6: 1 });
    expect(syn).toMatchObject({ family: 6, proto: 6, tcpFlags: SYN, ack: 0, window: 64240, payload: 0, ttl: 64, ipLen: 40 + 24, checksumsOk: true });
    const f = readPcap(generate({ pattern: 'single-flow', mix: { tcp: 1, udp: 0, icmp: 0 }, packets: 6, ipv6: 1 })).frames[0]!.data;
    expect(Buffer.from(f.subarray(12, 14)).toString('hex')).toBe('86dd');
    expect(f[14]! >> 4).toBe(6);
    expect(Buffer.from(f.subarray(54 + 20, 54 + 24)).toString('hex')).toBe('020405a0'); // MSS 1440
    const echo = packets({ pattern: 'single-flow', mix: { tcp: 0, udp: 0, icmp: 1 }, packets: 4, ipv6: 1 });
    expect(echo.map((p) => [p.proto, p.icmpType, p.icmpSeq, p.payload, p.checksumsOk])).toEqual([
      [58, 128, 1, 56, true], [58, 129, 1, 56, true], [58, 128, 2, 56, true], [58, 129, 2, 56, true],
    ]);
    expect(new Set(echo.map((p) => p.icmpId)).size).toBe(1);
  });
});

describe('checksums over a mixed trace', () => {
  const opts: GenerateOptions = { seed: 3, flows: 300, packets: 6000, ipv6: 0.5, mix: { tcp: 50, udp: 30, icmp: 20 }, payloadMin: 0, payloadMax: 1440 };
  it('verify with an independent implementation on every packet', () => {
    const ps = packets(opts);
    expect(ps).toHaveLength(6000);
    expect(ps.filter((p) => !p.checksumsOk)).toEqual([]);
    expect(new Set(ps.map((p) => `${p.family}/${p.proto}`))).toEqual(new Set(['4/6', '4/17', '4/1', '6/6', '6/17', '6/58']));
  });

  it.skipIf(!hasTcpdump())('are reported correct by tcpdump -vv (no bad or incorrect checksum)', () => {
    const path = join(dir, 'mixed.pcap');
    writeFileSync(path, generate(opts, { format: 'pcap' }));
    const out = execFileSync('tcpdump', ['-nn', '-vv', '-r', path], { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 }).toString();
    expect(out).not.toMatch(/incorrect|bad (udp |icmp6 )?cksum|wrong icmp cksum/);
    const ps = packets(opts);
    const verifiable = ps.filter((p) => p.proto !== 1).length;
    const ok = (out.match(/\(correct\)|udp sum ok|icmp6 sum ok/g) ?? []).length;
    expect(ok).toBe(verifiable);
  });
});

describe('flows and lifecycles', () => {
  it('TCP flows go SYN, SYN/ACK, ACK, data with consistent seq/ack, then FIN/ACK both ways or RST', () => {
    const ps = packets({ seed: 11, flows: 250, packets: 6000, ipv6: 0.3, mix: { tcp: 1, udp: 0, icmp: 0 }, concurrent: 50 });
    const flows = byFlow(ps);
    expect(flows.size).toBe(250);
    let fin = 0;
    let rst = 0;
    const problems: string[] = [];
    const want = (ok: boolean, what: string): void => {
      if (!ok && problems.length < 10) problems.push(what);
    };
    for (const [key, list] of flows) {
      const client = list[0]!.src;
      const [syn, synAck, ack] = list;
      want(syn!.tcpFlags === SYN, `${key}: first packet not a SYN`);
      want(synAck!.tcpFlags === (SYN | ACK) && synAck!.src !== client, `${key}: second packet not the server's SYN/ACK`);
      want(synAck!.ack === ((syn!.seq + 1) >>> 0), `${key}: SYN/ACK acks ${synAck!.ack}`);
      want(ack!.tcpFlags === ACK, `${key}: third packet not an ACK`);
      let cNext = (syn!.seq + 1) >>> 0;
      let sNext = (synAck!.seq + 1) >>> 0;
      list.slice(2).forEach((p, i) => {
        const fromClient = p.src === client;
        want(p.seq === (fromClient ? cNext : sNext), `${key} packet ${i + 2}: seq ${p.seq}, expected ${fromClient ? cNext : sNext}`);
        want((p.tcpFlags & ACK) === ACK && p.ack === (fromClient ? sNext : cNext), `${key} packet ${i + 2}: ack ${p.ack}`);
        const consumed = p.payload + (p.tcpFlags & FIN ? 1 : 0);
        if (fromClient) cNext = (cNext + consumed) >>> 0;
        else sNext = (sNext + consumed) >>> 0;
      });
      const last = list.at(-1)!;
      if (last.tcpFlags & RST) {
        rst++;
        want(last.tcpFlags === (RST | ACK) && last.src === client, `${key}: RST not a client RST/ACK`);
      } else {
        fin++;
        const [f1, f2, f3] = list.slice(-3);
        want(f1!.tcpFlags === (FIN | ACK) && f2!.tcpFlags === (FIN | ACK) && f3!.tcpFlags === ACK, `${key}: close is not FIN/ACK, FIN/ACK, ACK`);
        want(f1!.src === client && f2!.src !== client && f3!.src === client, `${key}: close directions wrong`);
      }
      // The first data packet is the client's request with PSH.
      if (list.length > 6) want(list[3]!.tcpFlags === (PSH | ACK) && list[3]!.src === client, `${key}: first data packet not the client's PSH/ACK`);
    }
    expect(problems).toEqual([]);
    expect(fin).toBeGreaterThan(190);
    expect(rst).toBeGreaterThan(8);
  });

  it('UDP flows alternate request and response; ICMP echo pairs share an id with seq 1, 2, ...', () => {
    const ps = packets({ seed: 5, flows: 100, packets: 2000, mix: { tcp: 0, udp: 1, icmp: 1 }, payloadMin: 20, payloadMax: 30 });
    for (const list of byFlow(ps).values()) {
      const client = list[0]!.src;
      list.forEach((p, i) => {
        expect(p.src === client).toBe(i % 2 === 0);
        if (p.proto === 17) expect(p.payload).toBeGreaterThanOrEqual(20);
        if (p.proto === 17) expect(p.payload).toBeLessThanOrEqual(30);
        if (p.proto === 1) expect([p.icmpType, p.icmpSeq]).toEqual([i % 2 === 0 ? 8 : 0, (i >> 1) + 1]);
      });
    }
  });

  it('keeps clients and servers in their prefixes, with roughly the IPv6 share asked', () => {
    const ps = packets({ seed: 8, flows: 1000, packets: 8000, ipv6: 0.25, clientNet: '172.16.0.0/12', serverNet6: '2001:db8:5::/48' });
    const flows = [...byFlow(ps).values()];
    let v6 = 0;
    for (const list of flows) {
      const c = list[0]!;
      if (c.family === 6) {
        v6++;
        expect(c.src.startsWith('fd00:0:0:0:')).toBe(true);
        expect(c.dst.startsWith('2001:db8:5:')).toBe(true);
      } else {
        const second = Number(c.src.split('.')[1]);
        expect(c.src.startsWith('172.')).toBe(true);
        expect(second >= 16 && second < 32).toBe(true);
        expect(inV4(c.dst, '198.51.100.')).toBe(true);
      }
    }
    expect(v6 / flows.length).toBeGreaterThan(0.2);
    expect(v6 / flows.length).toBeLessThan(0.3);
  });

  it('spaces timestamps by exactly 1/pps', () => {
    const frames = readPcap(generate({ packets: 7000, flows: 100, pps: 3000, startSec: 1_600_000_000 })).frames;
    expect(frames.map((f) => [f.tsSec, f.tsFrac])).toEqual(frames.map((_, i) => [1_600_000_000 + Math.floor(i / 3000), Math.floor(((i % 3000) * 1e9) / 3000)]));
  });

  it('keeps the number of active flows near --concurrent, not the number of flows', () => {
    const g = new TraceGenerator({ flows: 20000, packets: 100000, concurrent: 100, seed: 2 });
    const buf = new Uint8Array(g.maxFrameBytes);
    let n = 0;
    while (g.next(buf, 0) > 0) n++;
    expect(n).toBe(100000);
    expect(g.flowCount).toBe(20000);
    expect(g.peakActiveFlows).toBeLessThan(400);
  });
});

describe('patterns', () => {
  it('uniform: every flow gets its minimal lifecycle plus an equal share (within one packet)', () => {
    const flows = 300;
    const total = 9000;
    const ps = packets({ seed: 4, flows, packets: total });
    expect(ps).toHaveLength(total);
    const lists = [...byFlow(ps).values()];
    expect(lists).toHaveLength(flows);
    const mins = lists.reduce((s, l) => s + minOf(l[0]!), 0);
    const share = (total - mins) / flows;
    for (const l of lists) {
      const extra = l.length - minOf(l[0]!);
      expect(extra === Math.floor(share) || extra === Math.ceil(share)).toBe(true);
    }
  });

  it('zipf: the top flows carry exactly their Zipf share (s = 1.1, 100 flows)', () => {
    const n = 100;
    const total = 20000;
    const s = 1.1;
    const ps = packets({ seed: 6, flows: n, packets: total, pattern: 'zipf', zipfS: s, mix: { tcp: 1, udp: 0, icmp: 0 } });
    const counts = [...byFlow(ps).values()].map((l) => l.length).sort((a, b) => b - a);
    let h = 0;
    for (let k = 1; k <= n; k++) h += k ** -s;
    const rest = total - 4 * n;
    const first = Math.round(rest / h);
    const second = Math.round((rest * (1 + 2 ** -s)) / h) - first;
    expect(counts[0]).toBe(4 + first);
    expect(counts[1]).toBe(4 + second);
    expect(Math.abs(counts[0]! / total - 1 / h)).toBeLessThan(0.01); // about 1/H(100, 1.1) = 0.234 of the trace
  });

  it('elephant: 1 % of the flows (TCP) carry 80 % of the packets beyond the minimum', () => {
    const n = 200;
    const total = 50000;
    const ps = packets({ seed: 7, flows: n, packets: total, pattern: 'elephant' });
    const lists = [...byFlow(ps).values()].sort((a, b) => b.length - a.length);
    const mins = lists.reduce((sum, l) => sum + minOf(l[0]!), 0);
    const top = lists.slice(0, 2);
    expect(top.every((l) => l[0]!.proto === 6)).toBe(true);
    const topExtra = top.reduce((sum, l) => sum + l.length - 4, 0);
    expect(Math.abs(topExtra - 0.8 * (total - mins))).toBeLessThanOrEqual(2);
    expect(lists[2]!.length).toBeLessThan(lists[1]!.length / 50);
  });

  it('single-flow: every packet has one 5-tuple (either direction) and the lifecycle is complete', () => {
    for (const mix of [{ tcp: 1, udp: 0, icmp: 0 }, { tcp: 0, udp: 1, icmp: 0 }]) {
      const ps = packets({ seed: 12, packets: 3000, pattern: 'single-flow', mix, flows: 999 });
      expect(ps).toHaveLength(3000);
      expect(byFlow(ps).size).toBe(1);
      if (mix.tcp) {
        expect(ps[0]!.tcpFlags).toBe(SYN);
        expect(ps.at(-1)!.tcpFlags & (RST | ACK)).toBeTruthy();
      }
    }
  });

  it('synflood: only SYNs, from many sources to one server port 80', () => {
    const ps = packets({ seed: 13, packets: 5000, pattern: 'synflood', ipv6: 0.2 });
    expect(ps).toHaveLength(5000);
    expect(ps.every((p) => p.proto === 6 && p.tcpFlags === SYN && p.dport === 80 && p.checksumsOk)).toBe(true);
    const dsts = new Set(ps.map((p) => p.dst));
    expect(dsts.size).toBe(2); // one IPv4 and one IPv6 server
    expect(new Set(ps.map((p) => `${p.src}|${p.sport}`)).size).toBeGreaterThan(4990);
    expect(new Set(ps.map((p) => p.src)).size).toBeGreaterThan(4500); // random hosts of a /16: some repeat
    const v4 = ps.filter((p) => p.family === 4);
    expect(v4.every((p) => inV4(p.src, '10.0.'))).toBe(true);
    expect(v4.length / ps.length).toBeCloseTo(0.8, 1);
  });

  it('portscan: one source probes every port of a target once (SYN, then RST/ACK or SYN/ACK + RST), then moves on', () => {
    // 131k packets: read the generator's own fields (the round-trip property test shows the file holds them).
    const full = 65532 * 2 + 3 * 3;
    const g = new TraceGenerator({ seed: 14, packets: full + 1, pattern: 'portscan' });
    const buf = new Uint8Array(g.maxFrameBytes);
    const scanner = new Set<number>();
    const targets: number[] = [];
    const synPorts: number[] = [];
    const synAckPorts: number[] = [];
    let rstAck = 0;
    let scannerRst = 0;
    let first = 0;
    while (g.next(buf, 0) > 0) {
      if (g.tcpFlags === SYN) {
        scanner.add(g.src[0]!);
        targets.push(g.dst[0]!);
        synPorts.push(g.dport);
        if (!first) first = g.src[0]!;
      } else if (g.tcpFlags === (SYN | ACK)) synAckPorts.push(g.sport);
      else if (g.tcpFlags === (RST | ACK)) rstAck++;
      else if (g.tcpFlags === RST && g.src[0] === first) scannerRst++;
    }
    expect(g.packetCount).toBe(full + 1);
    expect(scanner.size).toBe(1);
    expect(synPorts).toHaveLength(65536);
    expect(new Set(synPorts.slice(0, 65535)).size).toBe(65535);
    expect(new Set(targets.slice(0, 65535)).size).toBe(1);
    // The last packet opens the scan of a second target.
    expect(targets[65535]).not.toBe(targets[0]);
    expect(synAckPorts.sort((a, b) => a - b)).toEqual([22, 80, 443]);
    expect([rstAck, scannerRst]).toEqual([65532, 3]);
    // Scrambled order, not 1, 2, 3...
    expect(synPorts.slice(0, 5)).not.toEqual([1, 2, 3, 4, 5]);
  });
});

describe('fillBatch', () => {
  it('fills a PacketBatch with the same packets and the fields a decoder sets', () => {
    const opts: GenerateOptions = { seed: 21, flows: 40, packets: 700, ipv6: 0.5, mix: { tcp: 2, udp: 1, icmp: 1 } };
    const frames = readPcap(generate(opts)).frames;
    const hex = (b: ArrayLike<number>): string => Buffer.from(Uint8Array.from(b)).toString('hex');
    // What a decoder would set, from the independent parse of the written file.
    const expected = frames.map((f, i) => {
      const p = parseFrame(f.data);
      const words = p.family === 4 ? 4 : 16;
      const srcAt = p.family === 4 ? 26 : 22;
      const flags = PacketFlag.IP | (p.proto === 6 || p.proto === 17 ? PacketFlag.PORTS : 0) | (p.proto === 6 ? PacketFlag.TCP : 0) | (p.proto === 1 || p.proto === 58 ? PacketFlag.ICMP : 0);
      const ports = p.proto === 6 || p.proto === 17 ? [p.sport, p.dport] : [0, 0];
      const tcp = p.proto === 6 ? [p.tcpFlags, p.seq, p.ack, p.window] : [0, 0, 0, 0];
      const icmp = p.proto === 1 || p.proto === 58 ? [p.icmpType, 0, p.icmpId] : [0, 0, 0];
      const head = Math.min(64, f.caplen - 14);
      return JSON.stringify([f.tsSec, f.tsFrac, f.caplen, f.wireLen, i + 1, 1, flags, p.family, p.proto, p.ttl, p.ipLen, p.ipId,
        hex(f.data.subarray(srcAt, srcAt + words)), hex(f.data.subarray(srcAt + words, srcAt + 2 * words)), ...ports, ...tcp, ...icmp, head, hex(f.data.subarray(14, 14 + head))]);
    });
    const g = new TraceGenerator(opts);
    const batch = new PacketBatch(256, 64);
    const got: string[] = [];
    let n: number;
    while ((n = g.fillBatch(batch)) > 0) {
      for (let k = 0; k < n; k++) {
        const w = batch.l3[k] === 4 ? 1 : 4;
        const words = (a: Uint32Array): string => Array.from(a.subarray(k * 4, k * 4 + w), (x) => x.toString(16).padStart(8, '0')).join('');
        got.push(JSON.stringify([batch.tsSec[k], batch.tsNsec[k], batch.caplen[k], batch.wireLen[k], batch.frameNo[k], batch.linkType[k], batch.flags[k],
          batch.l3[k], batch.proto[k], batch.ttl[k], batch.ipLen[k], batch.ipId[k], words(batch.src), words(batch.dst), batch.sport[k], batch.dport[k],
          batch.tcpFlags[k], batch.tcpSeq[k], batch.tcpAck[k], batch.tcpWindow[k], batch.icmpType[k], batch.icmpCode[k], batch.icmpId[k],
          batch.headLen[k], hex(batch.head.subarray(k * 64, k * 64 + batch.headLen[k]!))]));
      }
    }
    expect(got).toHaveLength(700);
    expect(got).toEqual(expected);
  });

  it('marks frames cut inside the transport header as truncated', () => {
    const g = new TraceGenerator({ pattern: 'single-flow', mix: { tcp: 1, udp: 0, icmp: 0 }, packets: 4, snaplen: 40 });
    const batch = new PacketBatch(8, 64);
    expect(g.fillBatch(batch)).toBe(4);
    expect(batch.caplen[0]).toBe(40);
    expect(batch.wireLen[0]).toBe(58);
    expect(batch.flags[0]).toBe(PacketFlag.IP | PacketFlag.TRUNCATED);
    expect(batch.headLen[0]).toBe(26);
  });
});

describe('option checks', () => {
  it('refuses impossible settings with a message naming the option', () => {
    expect(() => new TraceGenerator({ flows: 100, packets: 100 })).toThrow(/too few for 100 flows.*at least 400/);
    expect(() => new TraceGenerator({ ipv6: 1.5 })).toThrow(/ipv6 share/);
    expect(() => new TraceGenerator({ payloadMin: 10, payloadMax: 1441 })).toThrow(/payload bytes/);
    expect(() => new TraceGenerator({ clientNet: '10.0.0.0/31' })).toThrow(/no room for hosts/);
    expect(() => new TraceGenerator({ serverNet6: '2001:db8::zz/64' })).toThrow(/not an IPv6 prefix/);
    expect(() => new TraceGenerator({ mix: { tcp: 0, udp: 0, icmp: 0 } })).toThrow(/protocol mix/);
  });
});

describe('fixtures/traces/default.pcap', () => {
  it('is exactly what the command in fixtures/traces/README.md generates', () => {
    const committed = readFileSync(join(repoRoot, 'fixtures/traces/default.pcap'));
    const made = generate(
      { seed: 1, packets: 20000, flows: 1000, pps: 10000, pattern: 'zipf', ipv6: 0.2, payloadMin: 16, payloadMax: 256, concurrent: 200 },
      { format: 'pcap', interfaces: [{ linkType: 1, snaplen: 262144 }] },
    );
    expect(made.length).toBe(committed.length);
    expect(Buffer.from(made).equals(committed)).toBe(true);
  });
});

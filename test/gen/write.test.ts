import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryTraceWriter, TraceFileWriter, type TraceWriterOptions } from '../../src/trace/write.js';
import { hasTcpdump, readPcap, readPcapng, readPcapngBlocks } from './frames.js';

const dir = mkdtempSync(join(tmpdir(), 'pktbench-write-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const frame = Uint8Array.of(0xde, 0xad, 0xbe, 0xef, 0x42);

function oneRecord(options: TraceWriterOptions, tsSec: number, tsNsec: number): Uint8Array {
  const w = new MemoryTraceWriter(options);
  w.writePacket(tsSec, tsNsec, frame, 0, frame.length, frame.length);
  return w.bytes();
}

describe('pcap writer', () => {
  it('writes the microsecond header and record byte for byte, cutting to the snaplen', () => {
    const b = oneRecord({ format: 'pcap', interfaces: [{ linkType: 1, snaplen: 4 }] }, 1_700_000_000, 123_456_789);
    // magic a1b2c3d4 LE, v2.4, thiszone 0, sigfigs 0, snaplen 4, linktype 1
    expect(hex(b.subarray(0, 24))).toBe('d4c3b2a1' + '0200' + '0400' + '00000000' + '00000000' + '04000000' + '01000000');
    // ts_sec 1700000000 = 0x6553f100, ts_usec 123456 = 0x0001e240, incl 4, orig 5
    expect(hex(b.subarray(24))).toBe('00f15365' + '40e20100' + '04000000' + '05000000' + 'deadbeef');
  });

  it('writes the nanosecond magic and keeps the nanoseconds', () => {
    const b = oneRecord({ format: 'pcap', precision: 'ns' }, 1, 999_999_999);
    expect(hex(b.subarray(0, 4))).toBe('4d3cb2a1');
    const { frames } = readPcap(b);
    expect(frames).toHaveLength(1);
    expect([frames[0]!.tsSec, frames[0]!.tsFrac, frames[0]!.caplen, frames[0]!.wireLen]).toEqual([1, 999_999_999, 5, 5]);
  });

  it('gives the same bytes whatever the buffer size (records straddling flushes)', () => {
    const make = (bufferBytes: number): Uint8Array => {
      const w = new MemoryTraceWriter({ format: 'pcapng', bufferBytes, interfaces: [{ linkType: 1, snaplen: 2000 }] });
      const data = new Uint8Array(1500).map((_, i) => i & 255);
      for (let i = 0; i < 500; i++) w.writePacket(10 + i, i * 1000, data, i % 7, 60 + ((i * 37) % 1400), 1500);
      return w.bytes();
    };
    const big = make(1 << 20);
    const small = make(4096);
    expect(small.length).toBe(big.length);
    expect(Buffer.compare(Buffer.from(small), Buffer.from(big))).toBe(0);
    expect(readPcapng(big).frames).toHaveLength(500);
  });

  it('cuts a frame larger than its buffer to the snaplen instead of failing', () => {
    const w = new MemoryTraceWriter({ format: 'pcap', bufferBytes: 4096, interfaces: [{ linkType: 1, snaplen: 100 }] });
    const jumbo = new Uint8Array(10000).fill(7);
    w.writePacket(1, 0, jumbo, 0, jumbo.length, jumbo.length);
    const { frames } = readPcap(w.bytes());
    expect(frames.map((f) => [f.caplen, f.wireLen, f.data.length])).toEqual([[100, 10000, 100]]);
  });

  it('refuses records that do not fit what it was given', () => {
    const w = new MemoryTraceWriter();
    expect(() => w.writePacket(0, 0, frame, 2, 4, 4)).toThrow(/runs past/);
    expect(() => w.writePacket(0, 0, frame, 0, 5, 5, 1)).toThrow(/interface 1 does not exist/);
    expect(() => w.writePacket(0, 1e9, frame, 0, 5, 5)).toThrow(/out of range/);
    expect(() => w.writePacket(2 ** 32, 0, frame, 0, 5, 5)).toThrow(/32-bit seconds/);
    expect(() => new MemoryTraceWriter({ format: 'pcap', interfaces: [{ linkType: 1 }, { linkType: 101 }] })).toThrow(/one interface/);
  });
});

describe('pcapng writer', () => {
  it('writes SHB, IDB with if_tsresol=9 and an EPB whose 64-bit timestamp is exact', () => {
    const b = oneRecord({ format: 'pcapng', interfaces: [{ linkType: 1, snaplen: 65535, name: 'eth0' }] }, 1_700_000_000, 123_456_789);
    const blocks = readPcapngBlocks(b);
    expect(blocks.map((x) => x.type)).toEqual([0x0a0d0d0a, 1, 6]);
    // SHB: byte-order magic, version 1.0, section length -1, shb_userappl "pktbench", end of options.
    expect(hex(blocks[0]!.body)).toBe('4d3c2b1a' + '0100' + '0000' + 'ffffffffffffffff' + '0400' + '0800' + hex(Buffer.from('pktbench')) + '00000000');
    // IDB: linktype 1, reserved, snaplen 65535, if_name "eth0", if_tsresol 9 (padded), end.
    expect(hex(blocks[1]!.body)).toBe('0100' + '0000' + 'ffff0000' + '0200' + '0400' + hex(Buffer.from('eth0')) + '0900' + '0100' + '09000000' + '00000000');
    const ns = 1_700_000_000n * 1_000_000_000n + 123_456_789n;
    const { frames } = readPcapng(b);
    expect(frames[0]!.ts).toBe(ns);
    expect([frames[0]!.caplen, frames[0]!.wireLen, frames[0]!.ifIndex]).toEqual([5, 5, 0]);
    // 5 bytes of data padded to 8 with zeros.
    expect(hex(blocks[2]!.body.subarray(20))).toBe('deadbeef42000000');
  });

  it('splits timestamps exactly across the full range (checked against BigInt)', () => {
    for (const [sec, nsec] of [[0, 0], [4294967295, 999_999_999], [17_179_869_183, 1], [1_234_567_890, 500_000_000]] as const) {
      const ns = readPcapng(oneRecord({ format: 'pcapng' }, sec, nsec)).frames[0]!.ts;
      expect(ns).toBe(BigInt(sec) * 1_000_000_000n + BigInt(nsec));
      const us = readPcapng(oneRecord({ format: 'pcapng', precision: 'us' }, sec, nsec)).frames[0]!.ts;
      expect(us).toBe(BigInt(sec) * 1_000_000n + BigInt(Math.floor(nsec / 1000)));
    }
  });

  it('writes one IDB per interface and the interface id in each EPB', () => {
    const w = new MemoryTraceWriter({ format: 'pcapng', interfaces: [{ linkType: 1 }, { linkType: 101, snaplen: 3 }] });
    w.writePacket(1, 0, frame, 0, 5, 5, 1);
    w.writePacket(2, 0, frame, 0, 5, 5, 0);
    const b = w.bytes();
    expect(readPcapngBlocks(b).map((x) => x.type)).toEqual([0x0a0d0d0a, 1, 1, 6, 6]);
    const { frames } = readPcapng(b);
    expect(frames.map((f) => [f.ifIndex, f.caplen, f.wireLen])).toEqual([[1, 3, 5], [0, 5, 5]]);
  });
});

describe('file writer', () => {
  it('writes under a temp name and renames at close; abort leaves the old file alone', () => {
    const path = join(dir, 'atomic.pcap');
    writeFileSync(path, 'old');
    const w = new TraceFileWriter(path);
    w.writePacket(1, 0, frame, 0, 5, 5);
    expect(existsSync(w.tempPath)).toBe(true);
    w.abort();
    expect(readFileSync(path, 'utf8')).toBe('old');
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
    const w2 = new TraceFileWriter(path);
    w2.writePacket(1, 0, frame, 0, 5, 5);
    expect(readFileSync(path, 'utf8')).toBe('old');
    w2.close();
    expect(readPcap(new Uint8Array(readFileSync(path))).frames).toHaveLength(1);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('throws the file system error for a directory that does not exist', () => {
    expect(() => new TraceFileWriter(join(dir, 'missing', 'x.pcap'))).toThrow(/ENOENT/);
  });
});

describe.skipIf(!hasTcpdump())('tcpdump reads the files back', () => {
  const write = (name: string, options: TraceWriterOptions): string => {
    const path = join(dir, name);
    const w = new TraceFileWriter(path, options);
    // A minimal Ethernet + IPv4 + UDP frame, 10 of them, 1.5 ms apart.
    const f = Uint8Array.from(Buffer.from('02000000000202000000000108004500001c00004000401100000a0000010a0000020035003500080000', 'hex'));
    for (let i = 0; i < 10; i++) w.writePacket(1_700_000_000, i * 1_500_000 + 7, f, 0, f.length, f.length);
    w.close();
    return path;
  };
  const run = (path: string, extra: string[] = []): string[] =>
    execFileSync('tcpdump', ['-nn', '-tt', ...extra, '-r', path], { stdio: ['ignore', 'pipe', 'pipe'] }).toString().trim().split('\n');

  it('pcap (us)', () => {
    const lines = run(write('t-us.pcap', { format: 'pcap' }));
    expect(lines).toHaveLength(10);
    expect(lines[1]).toMatch(/^1700000000\.001500 IP 10\.0\.0\.1\.53 > 10\.0\.0\.2\.53: /);
  });

  it('pcap (ns)', () => {
    const lines = run(write('t-ns.pcap', { format: 'pcap', precision: 'ns' }), ['--time-stamp-precision=nano']);
    expect(lines).toHaveLength(10);
    expect(lines[1]).toMatch(/^1700000000\.001500007 IP /);
  });

  it('pcapng (ns and us)', () => {
    const lines = run(write('t.pcapng', { format: 'pcapng' }), ['--time-stamp-precision=nano']);
    expect(lines).toHaveLength(10);
    expect(lines[9]).toMatch(/^1700000000\.013500007 IP /);
    const us = run(write('t-us.pcapng', { format: 'pcapng', precision: 'us' }));
    expect(us).toHaveLength(10);
    expect(us[9]).toMatch(/^1700000000\.013500 IP /);
  });
});

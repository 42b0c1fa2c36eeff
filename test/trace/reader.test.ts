import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { PacketBatch } from '../../src/trace/batch.js';
import { openTrace, readTraceBytes } from '../../src/trace/reader.js';
import { repoRoot } from '../support/shared.js';
import { ETH_HEADER, IPV4_TCP_SYN, IPV6_UDP, block, epb, idb, obsoletePb, pcapFile, shb, spb } from './build.js';
import { rows, streamRows, thrown } from './helpers.js';

const SYN_ROW = (frame: number, ts: string, linkType = 'Ethernet', len = 54): string =>
  `${frame}\t${len}\t${len}\t${ts}\t${linkType}\t4\t192.0.2.1\t198.51.100.7\t6\t1234\t80\t0x0002\t-\t0`;
const ETH_SYN = [...ETH_HEADER(0x0800), ...IPV4_TCP_SYN];
const ETH_V6 = [...ETH_HEADER(0x86dd), ...IPV6_UDP];
const V6_ROW_TAIL = '6\t2001:db8::1\tff02::fb\t17\t5353\t53\t-\t-\t0';
const tmp = mkdtempSync(join(tmpdir(), 'pktbench-trace-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const fixtures = resolve(repoRoot, 'fixtures/trace');

describe('pcap', () => {
  it.each([
    { bigEndian: false, nano: false },
    { bigEndian: true, nano: false },
    { bigEndian: false, nano: true },
    { bigEndian: true, nano: true },
  ])('reads byte order big=$bigEndian, nanoseconds=$nano', ({ bigEndian, nano }) => {
    const file = pcapFile({ bigEndian, nano, linkType: 1 }, [
      { sec: 1700000000, sub: nano ? 123456789 : 123456, data: ETH_SYN },
      { sec: 1700000001, sub: 5, data: ETH_V6, wireLen: 1500 },
    ]);
    const { rows: r, result } = rows(file);
    expect(result.format).toBe('pcap');
    expect(result.linkTypes).toEqual([1]);
    expect(r.map((x) => x.tsv)).toEqual([
      SYN_ROW(1, nano ? '1700000000.123456789' : '1700000000.123456000'),
      `2\t62\t1500\t${nano ? '1700000001.000000005' : '1700000001.000005000'}\tEthernet\t${V6_ROW_TAIL}`,
    ]);
  });

  it('masks the link-type field with 0x03FFFFFF as libpcap does (FCS bits above)', () => {
    const file = pcapFile({ linkType: 0x14000001 }, [{ sec: 1, sub: 0, data: ETH_SYN }]);
    expect(rows(file).result.linkTypes).toEqual([1]);
    expect(rows(file).rows[0]!.tsv).toBe(SYN_ROW(1, '1.000000000'));
  });

  it('keeps caplen > snaplen and caplen 0 records as they are', () => {
    const file = pcapFile({ linkType: 101, snaplen: 20 }, [{ sec: 2, sub: 0, data: IPV4_TCP_SYN }, { sec: 3, sub: 0, data: [], wireLen: 60 }]);
    expect(rows(file).rows.map((x) => x.tsv)).toEqual([
      SYN_ROW(1, '2.000000000', 'Raw IP', 40),
      '2\t0\t60\t3.000000000\tRaw IP\t-\t-\t-\t-\t-\t-\t-\t-\t-',
    ]);
  });

  it('gives the packets before a cut and a warning with the byte offset', () => {
    const whole = pcapFile({ linkType: 1 }, [{ sec: 1, sub: 0, data: ETH_SYN }, { sec: 2, sub: 0, data: ETH_SYN }]);
    const cut = whole.subarray(0, whole.length - 10);
    const { rows: r, result } = rows(cut);
    expect(r.map((x) => x.tsv)).toEqual([SYN_ROW(1, '1.000000000')]);
    // Second record header at 24 + 16 + 54 = 94.
    expect(result.warnings).toEqual(['test.pcap: byte 94: file cut short inside a pcap record (60 byte(s) left); 1 packet(s) read before it']);
    const cutHeader = whole.subarray(0, 100);
    expect(rows(cutHeader).result.warnings[0]).toMatch(/^test\.pcap: byte 94: file cut short inside a pcap record header \(6 byte/);
  });

  it('refuses a record claiming a huge length without allocating it', () => {
    const file = pcapFile({ linkType: 1 }, [{ sec: 1, sub: 0, data: ETH_SYN }]);
    new DataView(file.buffer).setUint32(24 + 8, 0xfffffff0, true);
    const e = thrown(() => rows(file));
    expect(e).toBeInstanceOf(InputError);
    expect((e as Error).message).toBe('test.pcap: byte 32: record 1 claims 4294967280 captured bytes (more than 67108864; snaplen is 262144): corrupt record header');
  });

  it('hands over the packets before a corrupt record, then raises it (streaming, in memory, CLI)', async () => {
    // Three good records (one batch of 7 holds them all), then a header claiming 2 GiB.
    const file = pcapFile({ linkType: 1 }, [1, 2, 3].map((sec) => ({ sec, sub: 0, data: ETH_SYN })));
    const bad = new Uint8Array(file.length + 16);
    bad.set(file);
    new DataView(bad.buffer).setUint32(file.length, 4, true);
    new DataView(bad.buffer).setUint32(file.length + 8, 0x7fffffff, true);
    const path = join(tmp, 'corrupt-after-three.pcap');
    writeFileSync(path, bad);
    const message = `${path}: byte ${file.length + 8}: record 4 claims 2147483647 captured bytes (more than 67108864; snaplen is 262144): corrupt record header`;
    // Streaming: the first read returns the three packets, the next one throws.
    const reader = await openTrace(path);
    const batch = new PacketBatch(7);
    expect(await reader.read(batch)).toBe(3);
    expect(Array.from(batch.tsSec.subarray(0, 3))).toEqual([1, 2, 3]);
    await expect(reader.read(batch)).rejects.toThrow(message);
    await reader.close();
    // In memory: the batch before the error reaches the callback.
    const seen: number[] = [];
    const inMemory = thrown(() => readTraceBytes(bad, new PacketBatch(7), (b) => seen.push(b.count), 'mem.pcap'));
    expect(seen).toEqual([3]);
    expect((inMemory as Error).message).toBe(message.replace(path, 'mem.pcap'));
    // The CLI prints the three frames, then the error, exit 3.
    const cli = spawnSync(process.execPath, [resolve(repoRoot, 'dist/src/cli/main.js'), 'trace', 'tuples', path], { encoding: 'utf8' });
    expect(cli.status).toBe(3);
    expect(cli.stdout.trim().split('\n').slice(1).map((l) => l.split('\t')[0])).toEqual(['1', '2', '3']);
    expect(cli.stderr).toContain(message);
  });

  it('names the byte offset of a wrong magic, a short header and an empty file', () => {
    expect((thrown(() => rows(Uint8Array.from([1, 2, 3, 4, 5, 6]))) as Error).message).toBe('test.pcap: byte 0: not a pcap or pcapng file (magic 0x01020304)');
    expect((thrown(() => rows(pcapFile({ linkType: 1 }, []).subarray(0, 10))) as Error).message).toBe('test.pcap: byte 10: pcap file header cut short: 10 of 24 bytes');
    expect((thrown(() => rows(new Uint8Array(0))) as Error).message).toBe('test.pcap: byte 0: empty file: no pcap or pcapng header');
    const v3 = pcapFile({ linkType: 1 }, []);
    v3[4] = 3;
    expect(thrown(() => rows(v3))).toBeInstanceOf(InputError);
  });
});

describe('pcapng', () => {
  it('reads several interfaces with their own link type and if_tsresol (10^-9, 2^-10), EPB, SPB, obsolete PB, unknown blocks', () => {
    const file = Uint8Array.from([
      ...shb(),
      ...idb(1),
      ...idb(101, { tsresol: 9 }),
      ...idb(228, { tsresol: 0x8a }),
      ...block(0x0badcafe, [1, 2, 3, 4, 5, 6, 7]),
      // 1.5 s in µs = 1500000 units
      ...epb(0, 0, 1_500_000, ETH_SYN),
      // 2^32 + 7 ns
      ...epb(1, 1, 7, IPV4_TCP_SYN),
      // 3 s + 512/1024 s in 2^-10 units = 3584
      ...epb(2, 0, 3584, IPV4_TCP_SYN),
      ...block(5, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), // interface statistics: skipped
      ...spb(ETH_V6),
      ...obsoletePb(1, 0, 999_999_999, IPV4_TCP_SYN),
    ]);
    const { rows: r, result } = rows(file, 2);
    expect(result.format).toBe('pcapng');
    expect(result.linkTypes).toEqual([1, 101, 228]);
    expect(r.map((x) => x.tsv)).toEqual([
      SYN_ROW(1, '1.500000000'),
      SYN_ROW(2, '4.294967303', 'Raw IP', 40),
      SYN_ROW(3, '3.500000000', 'Raw IPv4', 40),
      `4\t62\t62\t0.000000000\tEthernet\t${V6_ROW_TAIL}`,
      SYN_ROW(5, '0.999999999', 'Raw IP', 40),
    ]);
    expect(r.map((x) => x.ifIndex)).toEqual([0, 1, 2, 0, 1]);
  });

  it('reads several sections, the second big-endian, with interface ids restarting per section', () => {
    const file = Uint8Array.from([
      ...shb(), ...idb(1), ...epb(0, 0, 1, ETH_SYN),
      ...shb(true), ...idb(229, { be: true }), ...idb(1, { be: true, tsresol: 3 }), ...epb(1, 0, 2500, ETH_SYN, true), ...epb(0, 0, 0, IPV6_UDP, true),
    ]);
    const { rows: r, result } = rows(file);
    expect(result.linkTypes).toEqual([1, 229, 1]);
    expect(r.map((x) => x.tsv)).toEqual([
      SYN_ROW(1, '0.000001000'),
      SYN_ROW(2, '2.500000000'),
      `3\t48\t48\t0.000000000\tRaw IPv6\t${V6_ROW_TAIL}`,
    ]);
    expect(r.map((x) => x.ifIndex)).toEqual([0, 2, 1]);
  });

  it('reads timestamps past 2^32 seconds and nanosecond counts past 2^53 exactly', () => {
    // 2^32 s in µs: 4294967296000000 = 0x000F4240_00000000
    const us = Uint8Array.from([...shb(), ...idb(1), ...epb(0, 0x000f4240, 0, ETH_SYN)]);
    expect(rows(us).rows[0]!.tsv).toBe(SYN_ROW(1, '4294967296.000000000'));
    // 1.7e18 ns + 123 = 0x17979CFE_362A007B ns (past 2^53)
    const ns = Uint8Array.from([...shb(), ...idb(1, { tsresol: 9 }), ...epb(0, 0x17979cfe, 0x362a007b, ETH_SYN)]);
    expect(rows(ns).rows[0]!.tsv).toBe(SYN_ROW(1, '1700000000.000000123'));
  });

  it('splits sequences of 64-bit timestamps exactly (as BigInt does), steps back and across seconds included', () => {
    // Units: ns, µs (default), 2^-20 s, 10^-3 s; a start near 2026 and steps that stay in the
    // second, cross it, jump, or go back (the split carries on from the last packet when it can).
    const units = fc.constantFrom({ tsresol: 9, perSecond: 1_000_000_000n }, { tsresol: undefined, perSecond: 1_000_000n }, { tsresol: 0x94, perSecond: 1n << 20n }, { tsresol: 3, perSecond: 1000n });
    // A step is a number of units, or 'boundary': to the start of the next second exactly.
    const step = fc.oneof(fc.bigInt({ min: 0n, max: 2000n }), fc.bigInt({ min: -2000n, max: 0n }), fc.bigInt({ min: 0n, max: 1n << 40n }), fc.constant('boundary' as const));
    fc.assert(fc.property(units, fc.bigInt({ min: 0n, max: 1n << 40n }), fc.array(step, { minLength: 1, maxLength: 30 }), ({ tsresol, perSecond }, jitter, steps) => {
      let t = 1_764_000_000n * perSecond + jitter;
      const stamps = steps.map((d) => (t = d === 'boundary' ? (t / perSecond + 1n) * perSecond : t + d < 0n ? 0n : t + d));
      const blocks = [...shb(), ...idb(1, tsresol === undefined ? {} : { tsresol })];
      for (const u of stamps) blocks.push(...epb(0, Number(u >> 32n), Number(u & 0xffffffffn), ETH_SYN));
      const got = rows(Uint8Array.from(blocks)).rows.map((r) => r.tsv.split('\t')[3]);
      const want = stamps.map((u) => `${u / perSecond}.${String(((u % perSecond) * 1_000_000_000n) / perSecond).padStart(9, '0')}`);
      expect(got).toEqual(want);
    }), { numRuns: 300 });
  });

  it('refuses block lengths of 0, not a multiple of 4, or different at both ends, with the byte offset', () => {
    const good = [...shb(), ...idb(1)];
    const zero = Uint8Array.from([...good, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect((thrown(() => rows(zero)) as Error).message).toBe(`test.pcap: byte ${good.length + 4}: pcapng block (type 0x6) has total length 0: must be a multiple of 4 and at least 12`);
    const odd = Uint8Array.from([...good, 6, 0, 0, 0, 13, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect((thrown(() => rows(odd)) as Error).message).toMatch(/byte 52: pcapng block \(type 0x6\) has total length 13/);
    const mismatch = Uint8Array.from([...good, ...epb(0, 0, 0, ETH_SYN)]);
    mismatch[mismatch.length - 4] = 0x10;
    expect((thrown(() => rows(mismatch)) as Error).message).toMatch(/pcapng block \(type 0x6\) total length 88 at its start but 16 at its end/);
  });

  it('refuses a packet of an interface that does not exist and a bad byte-order magic', () => {
    const file = Uint8Array.from([...shb(), ...idb(1), ...epb(3, 0, 0, ETH_SYN)]);
    expect((thrown(() => rows(file)) as Error).message).toBe('test.pcap: byte 56: packet block refers to interface 3, but the section has 1 interface(s)');
    const bom = Uint8Array.from(shb());
    bom[8] = 0;
    expect((thrown(() => rows(bom)) as Error).message).toBe('test.pcap: byte 8: section header block with a bad byte-order magic 0x003c2b1a');
  });

  it('warns about a file cut inside a block and keeps the packets before it', () => {
    const whole = Uint8Array.from([...shb(), ...idb(1), ...epb(0, 0, 1, ETH_SYN), ...epb(0, 0, 2, ETH_SYN)]);
    const { rows: r, result } = rows(whole.subarray(0, whole.length - 1));
    expect(r).toHaveLength(1);
    expect(result.warnings[0]).toMatch(/^test\.pcap: byte 136: file cut short inside a pcapng block/);
  });
});

describe('streaming reader', () => {
  it('streams a file through a window smaller than the file, the same as reading it in memory', async () => {
    const records = Array.from({ length: 5000 }, (_, i) => ({ sec: 1000 + i, sub: i, data: i % 3 ? ETH_SYN : ETH_V6 }));
    const file = pcapFile({ linkType: 1 }, records);
    expect(file.length).toBeGreaterThan(4 * 65536);
    const path = join(tmp, 'many.pcap');
    writeFileSync(path, file);
    const streamed = await streamRows(await openTrace(path, { chunkBytes: 65536 }), 100);
    expect(streamed).toEqual(rows(file, 64).rows.map((r) => r.tsv));
    expect(streamed).toHaveLength(5000);
  });

  it('decodes a record larger than the window from the part that fits and skips the rest', async () => {
    const big = [...ETH_SYN, ...new Array<number>(200_000).fill(0xee)];
    const file = pcapFile({ linkType: 1 }, [{ sec: 1, sub: 0, data: ETH_SYN }, { sec: 2, sub: 0, data: big }, { sec: 3, sub: 0, data: ETH_SYN }]);
    const path = join(tmp, 'big.pcap');
    writeFileSync(path, file);
    const reader = await openTrace(path, { chunkBytes: 65536 });
    const r = await streamRows(reader);
    expect(r).toEqual([SYN_ROW(1, '1.000000000'), SYN_ROW(2, '2.000000000', 'Ethernet', 200054), SYN_ROW(3, '3.000000000')]);
    expect(reader.warnings).toEqual([]);
  });

  it('reads gzip-compressed traces (by magic, not by name) both streaming and in memory', async () => {
    const file = pcapFile({ linkType: 1 }, [{ sec: 1, sub: 0, data: ETH_SYN }, { sec: 2, sub: 0, data: ETH_V6 }]);
    const gz = gzipSync(file);
    const path = join(tmp, 'compressed.bin');
    writeFileSync(path, gz);
    const reader = await openTrace(path);
    const r = await streamRows(reader);
    expect(reader.info).toEqual({ path, format: 'pcap', compressed: true, linkTypes: [1] });
    expect(r).toEqual(rows(file).rows.map((x) => x.tsv));
    expect(rows(gz).result.compressed).toBe(true);
    expect(rows(gz).rows.map((x) => x.tsv)).toEqual(r);
  });

  it('warns about a cut gzip stream and keeps the packets before it', async () => {
    const records = Array.from({ length: 3000 }, (_, i) => ({ sec: i, sub: 0, data: ETH_SYN }));
    const gz = gzipSync(pcapFile({ linkType: 1 }, records), { level: 0 });
    const path = join(tmp, 'cut.pcap.gz');
    writeFileSync(path, gz.subarray(0, gz.length >> 1));
    const reader = await openTrace(path, { chunkBytes: 65536 });
    const r = await streamRows(reader);
    expect(r.length).toBeGreaterThan(1000);
    expect(r.length).toBeLessThan(3000);
    expect(r[0]).toBe(SYN_ROW(1, '0.000000000'));
    expect(reader.warnings.some((w) => w.includes('gzip data is corrupt or cut short'))).toBe(true);
  });

  it('knows a pcapng file before the first read', async () => {
    const path = join(tmp, 'x.pcapng');
    writeFileSync(path, Uint8Array.from([...shb(), ...idb(1), ...epb(0, 0, 1, ETH_SYN)]));
    const reader = await openTrace(path);
    expect(reader.info.format).toBe('pcapng');
    expect(await streamRows(reader)).toEqual([SYN_ROW(1, '0.000001000')]);
    expect(reader.info).toEqual({ path, format: 'pcapng', compressed: false, linkTypes: [1] });
  });

  it('refuses a missing file, a directory and an empty file with InputError', async () => {
    await expect(openTrace(join(tmp, 'nope.pcap'))).rejects.toThrow(`${join(tmp, 'nope.pcap')}: no such file`);
    await expect(openTrace(tmp)).rejects.toBeInstanceOf(InputError);
    writeFileSync(join(tmp, 'empty.pcap'), '');
    const reader = await openTrace(join(tmp, 'empty.pcap'));
    await expect(reader.read(new PacketBatch(4))).rejects.toThrow('empty file');
  });
});

describe('bundled real captures (fixtures/trace) match their tshark truth', () => {
  const files = readdirSync(fixtures).filter((f) => /\.pcap(ng)?$/.test(f)).sort();
  it.each(files)('%s', async (file) => {
    const truth = readFileSync(join(fixtures, `${file}.tsv`), 'utf8').trim().split('\n').slice(1).map((l) => l.split('\t').slice(0, 14).join('\t'));
    const streamed = await streamRows(await openTrace(join(fixtures, file)));
    if (file === 'timestamp_invalid_nano.pcap') {
      // Out-of-range sub-second fields: seconds carried over (truth README lists these rows as invalid).
      expect(streamed[0]).toBe(truth[0]);
      expect(streamed.slice(1).map((l) => l.split('\t')[3])).toEqual(['1418145371.000000000', '1418145372.147483648']);
      expect(streamed.map((l) => l.split('\t').slice(4))).toEqual(truth.map((l) => l.split('\t').slice(4)));
      return;
    }
    expect(streamed).toEqual(truth);
  });
});

describe('clearBatch', () => {
  it('clears exactly what PacketBatch.resetSlot clears', async () => {
    const { clearBatch } = await import('../../src/trace/parser.js');
    const a = new PacketBatch(3, 8);
    const b = new PacketBatch(3, 8);
    new Uint8Array(a.buffer).fill(0xa5);
    new Uint8Array(b.buffer).fill(0xa5);
    clearBatch(a);
    for (let i = 0; i < 3; i++) b.resetSlot(i);
    expect(new Uint8Array(a.buffer)).toEqual(new Uint8Array(b.buffer));
  });
});

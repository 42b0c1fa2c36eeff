import { describe, expect, it } from 'vitest';
import {
  formatRate, formatSize, getRate64, getSize, getSizeAndCell, getTcClassid, formatClassid, strtod, tcCalcXmitsize, tcCalcXmittime,
} from '../../src/shaper/tc-units.js';

// Expected values worked out by hand from iproute2 tc/tc_util.c: get_rate64 returns bytes/s
// (bits / 8, truncated); the suffix table is matched with strcasecmp, first hit wins.
describe('get_rate64 (tc rates)', () => {
  it.each([
    ['8', 1], // a bare number is bit/s
    ['800bit', 100],
    ['10kbit', 1250],
    ['10Kibit', 1280],
    ['10mbit', 1_250_000],
    ['10Mbit', 1_250_000],
    ['1mibit', 131_072],
    ['1gbit', 125_000_000],
    ['1gibit', 134_217_728],
    ['1tbit', 125_000_000_000],
    ['100bps', 100], // bps = bytes per second
    ['1kbps', 1000], // strcasecmp: kbps == KBps = 8000 bit/s
    ['1KiBps', 1024],
    ['2mbps', 2_000_000],
    ['1MiBps', 1_048_576],
    ['1.5mbit', 187_500],
    ['0x10kbit', 2000], // strtod reads hex
    ['1e3kbit', 125_000],
    ['12', 1], // 12 bit/s → 1.5 B/s → truncated to 1
  ])('%s → %d B/s', (s, v) => {
    expect(getRate64(s)).toBe(v);
  });

  it.each(['', 'mbit', '10 mbit', '10mbits', '10m', '10kb', 'ten'])('refuses %j', (s) => {
    expect(getRate64(s)).toBeUndefined();
  });
});

describe('get_size (tc sizes are IEC)', () => {
  it.each([
    ['1514', 1514], ['15k', 15360], ['15kb', 15360], ['15K', 15360], ['2m', 2_097_152], ['1g', 1_073_741_824],
    ['8kbit', 1024], ['1mbit', 131_072], ['1gbit', 134_217_728], ['100b', 100], ['1.5k', 1536],
  ])('%s → %d bytes', (s, v) => {
    expect(getSize(s)).toBe(v);
  });
  it.each(['', 'k', '15kib', '15 k', '15bytes'])('refuses %j', (s) => expect(getSize(s)).toBeUndefined());
  it('reads SIZE/CELL with a power-of-two cell', () => {
    expect(getSizeAndCell('15k/8')).toEqual([15360, 3]);
    expect(getSizeAndCell('1600')).toEqual([1600, -1]);
    expect(getSizeAndCell('15k/6')).toBeUndefined();
  });
});

describe('strtod prefix', () => {
  it('stops where C strtod stops', () => {
    expect(strtod('1e3kbit')).toEqual([1000, 3]);
    expect(strtod('1ekbit')).toEqual([1, 1]);
    expect(strtod('.5mbit')).toEqual([0.5, 2]);
    expect(strtod('0x1p4')).toEqual([16, 5]);
    expect(strtod('mbit')).toEqual([0, 0]);
  });
});

describe('classids', () => {
  it('parses and prints hex MAJ:MIN as tc does', () => {
    expect(getTcClassid('1:10')).toBe(0x10010);
    expect(getTcClassid('1:')).toBe(0x10000);
    expect(getTcClassid(':a')).toBe(0xa);
    expect(getTcClassid('ffff:ffff')).toBe(0xffffffff >>> 0);
    expect(getTcClassid('1:10000')).toBeUndefined();
    expect(getTcClassid('x:1')).toBeUndefined();
    expect(formatClassid(0x10010)).toBe('1:10');
    expect(formatClassid(0x10000)).toBe('1:');
  });
});

describe('burst conversion (tc_core.c with /proc/net/psched = 1000 64 1000000 1000000000)', () => {
  it('15k at 10mbit is 192000 ticks and prints back as 15Kb', () => {
    // 15360 B / 1,250,000 B/s = 12288 us; × 15.625 ticks/us = 192000 ticks (× 64 ns = 12.288 ms).
    expect(tcCalcXmittime(1_250_000, 15360)).toBe(192000);
    expect(tcCalcXmitsize(1_250_000, 192000)).toBe(15360);
    expect(formatSize(15360)).toBe('15Kb');
  });
  it('default burst 1600 at 100mbit: 128 us → 2000 ticks', () => {
    expect(tcCalcXmittime(12_500_000, 1600)).toBe(2000);
    expect(formatSize(tcCalcXmitsize(12_500_000, 2000))).toBe('1600b');
  });
});

describe('print_rate and print_size', () => {
  it.each([
    [12_500_000, '100Mbit'], [1_250_000, '10Mbit'], [125, '1Kbit'], [100, '800bit'], [1_000_001, '8Mbit'] /* 8000008 bit: the remainder is dropped once above 1000 kilo */, [150_000, '1200Kbit'],
    [125_000_000, '1Gbit'],
  ])('rate %d B/s → %s', (r, s) => expect(formatRate(r)).toBe(s));
  it.each([[1600, '1600b'], [15360, '15Kb'], [15370, '15Kb'], [15380, '15380b'], [2_097_152, '2Mb'], [1024 * 1024 + 1000, '1Mb']])(
    'size %d → %s', (v, s) => expect(formatSize(v)).toBe(s),
  );
});

import { describe, expect, it } from 'vitest';
import { batchByteLength, PacketBatch, PacketFlag } from '../src/trace/batch.js';

describe('PacketBatch', () => {
  it('carves every field out of one SharedArrayBuffer without overlap', () => {
    const b = new PacketBatch(16, 64);
    expect(b.buffer.byteLength).toBe(batchByteLength(16, 64));
    const ranges = [b.tsSec, b.frameNo, b.src, b.dst, b.tsNsec, b.caplen, b.wireLen, b.flags, b.vlan, b.head, b.verdict]
      .map((a) => [a.byteOffset, a.byteOffset + a.byteLength] as const)
      .sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < ranges.length; i++) expect(ranges[i]![0]).toBeGreaterThanOrEqual(ranges[i - 1]![1]);
    expect(ranges.at(-1)![1]).toBeLessThanOrEqual(b.buffer.byteLength);
  });

  it('is rebuilt over the same memory from its buffer alone', () => {
    const a = new PacketBatch(8, 32);
    a.count = 3;
    a.batchId = 42;
    a.src[4] = 0xc0000201;
    a.flags[1] = PacketFlag.IP | PacketFlag.PORTS;
    a.head[32 + 5] = 0xab;
    const b = PacketBatch.fromBuffer(a.buffer);
    expect([b.capacity, b.headBytes, b.count, b.batchId]).toEqual([8, 32, 3, 42]);
    expect(b.src[4]).toBe(0xc0000201);
    expect(b.flags[1]).toBe(PacketFlag.IP | PacketFlag.PORTS);
    expect(b.head[37]).toBe(0xab);
  });

  it('copies a slot with all its fields and resets one', () => {
    const a = new PacketBatch(4, 16);
    a.tsSec[2] = 4294967296 + 5; // past 2^32 s
    a.tsNsec[2] = 999_999_999;
    a.sport[2] = 443;
    a.vlan[2 * 4 + 1] = 2001;
    a.vlanCount[2] = 2;
    a.head.set([1, 2, 3], 2 * 16);
    a.headLen[2] = 3;
    const b = new PacketBatch(4, 16);
    b.copySlotFrom(a, 2, 0);
    expect([b.tsSec[0], b.tsNsec[0], b.sport[0], b.vlan[1], b.vlanCount[0]]).toEqual([4294967301, 999_999_999, 443, 2001, 2]);
    expect([...b.head.subarray(0, 3)]).toEqual([1, 2, 3]);
    b.resetSlot(0);
    expect([b.sport[0], b.vlanCount[0], b.headLen[0]]).toEqual([0, 0, 0]);
    expect(b.timeNs(0, 4294967300)).toBe(1e9 + 999_999_999);
  });

  it('refuses impossible shapes', () => {
    expect(() => new PacketBatch(0)).toThrow(RangeError);
    expect(() => new PacketBatch(8, 300)).toThrow(RangeError);
    expect(() => { new PacketBatch(8).count = 9; }).toThrow(RangeError);
  });
});

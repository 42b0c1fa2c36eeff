import { describe, expect, it } from 'vitest';
import { copySlots } from '../../src/harness/reshard.js';
import { PacketBatch } from '../../src/trace/batch.js';

/** Every typed-array field of a batch, by name (so a field added to PacketBatch is covered too). */
function fields(b: PacketBatch): Record<string, ArrayLike<number>> {
  const out: Record<string, ArrayLike<number>> = {};
  // meta and the whole-buffer views (all64..all8) start at byte 0 of the buffer; every field lies after them.
  for (const [k, v] of Object.entries(b)) if (ArrayBuffer.isView(v) && !(v.buffer === b.buffer && v.byteOffset === 0)) out[k] = v as unknown as ArrayLike<number>;
  return out;
}

describe('column-wise re-sharding', () => {
  it('gives exactly what copySlotFrom gives, field by field', () => {
    const src = new PacketBatch(64, 32);
    let x = 12345;
    for (const arr of Object.values(fields(src)) as unknown as Uint8Array[]) {
      for (let i = 0; i < arr.length; i++) {
        x = (Math.imul(x, 1103515245) + 12345) >>> 0;
        arr[i] = arr instanceof Float64Array ? x : x & 0xffffffff;
      }
    }
    for (let i = 0; i < 64; i++) src.headLen[i] = i % 40; // some longer than the target's 16 head bytes
    const index = Uint32Array.from([5, 63, 0, 17, 17, 40]);
    const a = new PacketBatch(16, 16);
    const b = new PacketBatch(16, 16);
    for (let j = 0; j < 4; j++) a.copySlotFrom(src, index[1 + j]!, 3 + j);
    copySlots(src, b, index, 1, 4, 3);
    const fa = fields(a);
    const fb = fields(b);
    expect(Object.keys(fa).length).toBeGreaterThan(35);
    for (const k of Object.keys(fa)) expect([k, Array.from(fb[k]!)]).toEqual([k, Array.from(fa[k]!)]);
  });
});

describe('in-place views with own model slots (indexed workers)', () => {
  const modelSlots = ['mark', 'priority', 'classId', 'flowHash', 'ctId', 'core', 'ctState', 'ctReply', 'verdict'];

  it('share every field but the model slots, which takeModelSlots copies in for the listed packets only', () => {
    const shared = new PacketBatch(32, 16);
    let x = 7;
    for (const arr of Object.values(fields(shared)) as unknown as Uint8Array[]) {
      for (let i = 0; i < arr.length; i++) { x = (Math.imul(x, 1103515245) + 12345) >>> 0; arr[i] = x & 0xff; }
    }
    const view = PacketBatch.fromBuffer(shared.buffer, true);
    const fs = fields(shared);
    const fv = fields(view);
    expect(Object.keys(fv).sort()).toEqual(Object.keys(fs).sort());
    for (const k of Object.keys(fs)) {
      const isModel = modelSlots.includes(k);
      // Shared fields are views over the same memory; model slots are this thread's own, zeroed.
      expect((fv[k] as unknown as ArrayBufferView).buffer === shared.buffer, k).toBe(!isModel);
      if (isModel) expect(Array.from(fv[k]!).every((v) => v === 0), k).toBe(true);
      else expect(Array.from(fv[k]!), k).toEqual(Array.from(fs[k]!));
    }
    const index = Uint32Array.from([3, 30, 9]);
    view.takeModelSlots(index, 2);
    for (const k of modelSlots) {
      for (let i = 0; i < 32; i++) expect(fv[k]![i], `${k}[${i}]`).toBe(i === 3 || i === 30 ? fs[k]![i] : 0);
    }
    // The models' writes stay in the view.
    const before = [shared.verdict[3], shared.ctState[30]];
    view.verdict[3] = (before[0]! + 1) & 0xff;
    view.ctState[30] = (before[1]! + 1) & 0xff;
    expect([shared.verdict[3], shared.ctState[30]]).toEqual(before);
    expect(() => shared.takeModelSlots(index, 1)).toThrow(/ownModelSlots/);
  });
});

import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { PacketBatch } from '../../src/trace/batch.js';
import { decodeFrame } from '../../src/trace/decode.js';
import { tupleFields } from '../../src/trace/format.js';
import { readTraceBytes } from '../../src/trace/reader.js';
import { repoRoot } from '../support/shared.js';
import { epb, idb, shb } from './build.js';

const fixtures = resolve(repoRoot, 'fixtures/trace');
const seeds = readdirSync(fixtures).filter((f) => /\.pcap(ng)?$/.test(f)).sort().map((f) => new Uint8Array(readFileSync(join(fixtures, f))));
seeds.push(Uint8Array.from([...shb(), ...idb(1), ...idb(229, { tsresol: 9 }), ...epb(1, 0, 5, [0x60, 0, 0, 0, 0, 0, 59, 64, ...new Array<number>(32).fill(1)])]));

const batch = new PacketBatch(16);
const scratch: string[] = [];

/** Reads the whole input; returns 'ok' or 'input-error'; anything else thrown fails the property. */
function readAll(bytes: Uint8Array): 'ok' | 'input-error' {
  try {
    readTraceBytes(bytes, batch, (b) => {
      for (let i = 0; i < b.count; i++) tupleFields(b, i, scratch);
    }, 'fuzz.pcap');
    return 'ok';
  } catch (e) {
    if (e instanceof InputError && /^fuzz\.pcap(: byte \d+)?: /.test(e.message)) return 'input-error';
    throw e;
  }
}

/** A mutation of a real capture: byte overwrites, a cut, an inserted run. */
const mutated = fc.record({
  seed: fc.integer({ min: 0, max: seeds.length - 1 }),
  writes: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 12 }),
  cut: fc.option(fc.nat(), { nil: undefined }),
  insert: fc.option(fc.tuple(fc.nat(), fc.uint8Array({ maxLength: 40 })), { nil: undefined }),
}).map(({ seed, writes, cut, insert }) => {
  let bytes: Uint8Array = Uint8Array.from(seeds[seed]!);
  for (const [at, v] of writes) bytes[at % bytes.length] = v;
  if (insert) {
    const at = insert[0] % (bytes.length + 1);
    bytes = Uint8Array.from([...bytes.subarray(0, at), ...insert[1], ...bytes.subarray(at)]);
  }
  if (cut !== undefined) bytes = bytes.subarray(0, cut % (bytes.length + 1));
  return bytes;
});

describe('bad input never crashes or hangs', () => {
  it('mutated real captures: decodes or throws InputError naming the byte', () => {
    fc.assert(fc.property(mutated, (bytes) => {
      expect(['ok', 'input-error']).toContain(readAll(bytes));
    }), { numRuns: 400, seed: 20261122 });
  });

  it('random bytes after a valid pcap or pcapng magic', () => {
    const heads = [Uint8Array.from([0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0]), Uint8Array.from([0x0a, 0x0d, 0x0d, 0x0a]), new Uint8Array(0)];
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 }), fc.uint8Array({ maxLength: 400 }), (h, tail) => {
      expect(['ok', 'input-error']).toContain(readAll(Uint8Array.from([...heads[h]!, ...tail])));
    }), { numRuns: 400, seed: 7 });
  });

  it('the decoder alone: any bytes, any link type, never throws and stays inside the frame', () => {
    const types = [0, 1, 9, 12, 14, 50, 101, 104, 107, 108, 113, 226, 228, 229, 239, 242, 276, 127, 9999];
    fc.assert(fc.property(fc.constantFrom(...types), fc.uint8Array({ maxLength: 200 }), (linkType, frame) => {
      // Bytes after the frame are poison: reading them would change nothing we can see, so
      // compare with the same frame followed by different bytes.
      const a = Uint8Array.from([...frame, ...new Array<number>(64).fill(0x00)]);
      const b = Uint8Array.from([...frame, ...new Array<number>(64).fill(0x45)]);
      batch.linkType[0] = linkType;
      batch.resetSlot(0);
      decodeFrame(a, 0, frame.length, linkType, batch, 0);
      const first = tupleFields(batch, 0, []).join('\t');
      batch.resetSlot(0);
      decodeFrame(b, 0, frame.length, linkType, batch, 0);
      expect(tupleFields(batch, 0, []).join('\t')).toBe(first);
    }), { numRuns: 2000, seed: 11 });
  });
});

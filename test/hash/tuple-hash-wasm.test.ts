/**
 * src/hash/tuple-hash-wasm.ts holds tuple-hash.wat assembled: this test assembles the .wat with
 * wabt (the WebAssembly Binary Toolkit) and holds the two equal, so the source and the bytes
 * that run cannot drift apart. After changing the .wat, regenerate the module with
 * `PKTBENCH_UPDATE_WASM=1 npx vitest run test/hash/tuple-hash-wasm.test.ts`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import wabtInit from 'wabt';
import { describe, expect, it } from 'vitest';
import { TUPLE_HASH_WASM } from '../../src/hash/tuple-hash-wasm.js';

const watPath = resolve(import.meta.dirname, '../../src/hash/tuple-hash.wat');
const modulePath = resolve(import.meta.dirname, '../../src/hash/tuple-hash-wasm.ts');

/** The generated module's text for these bytes. */
function moduleText(bytes: Uint8Array): string {
  return [
    '// Generated from tuple-hash.wat by test/hash/tuple-hash-wasm.test.ts; do not edit. After changing',
    '// the .wat: PKTBENCH_UPDATE_WASM=1 npx vitest run test/hash/tuple-hash-wasm.test.ts',
    '/** The assembled WebAssembly module of tuple-hash.wat, base64. */',
    `export const TUPLE_HASH_WASM = '${Buffer.from(bytes).toString('base64')}';`,
    '',
  ].join('\n');
}

describe('tuple-hash.wat', () => {
  it('assembles (wabt, validated) to exactly the bytes src/hash/tuple-hash-wasm.ts embeds', async () => {
    const wabt = await wabtInit();
    const parsed = wabt.parseWat('tuple-hash.wat', readFileSync(watPath, 'utf8'));
    parsed.validate();
    const bytes = parsed.toBinary({}).buffer;
    parsed.destroy();
    const text = moduleText(bytes);
    if (process.env['PKTBENCH_UPDATE_WASM'] === '1') {
      writeFileSync(modulePath, text);
      return; // the module imported above is the old one until the next run
    }
    expect(readFileSync(modulePath, 'utf8')).toBe(text);
    expect(Buffer.from(TUPLE_HASH_WASM, 'base64').equals(Buffer.from(bytes))).toBe(true);
  });
});

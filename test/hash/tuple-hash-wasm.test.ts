/**
 * src/hash/tuple-hash-wasm.ts holds tuple-hash.wat assembled: this test assembles the .wat and
 * holds the two equal (test/support/wasm-source.ts). After changing the .wat, regenerate the
 * module with `PKTBENCH_UPDATE_WASM=1 npx vitest run test/hash/tuple-hash-wasm.test.ts`.
 */
import { describe, expect, it } from 'vitest';
import { TUPLE_HASH_WASM } from '../../src/hash/tuple-hash-wasm.js';
import { assembledModuleCheck } from '../support/wasm-source.js';

describe('tuple-hash.wat', () => {
  it('assembles (wabt, validated) to exactly the bytes src/hash/tuple-hash-wasm.ts embeds', async () => {
    const bytes = await assembledModuleCheck('src/hash/tuple-hash.wat', 'src/hash/tuple-hash-wasm.ts', 'TUPLE_HASH_WASM', 'test/hash/tuple-hash-wasm.test.ts');
    if (process.env['PKTBENCH_UPDATE_WASM'] !== '1') expect(Buffer.from(TUPLE_HASH_WASM, 'base64').equals(Buffer.from(bytes))).toBe(true);
  });
});

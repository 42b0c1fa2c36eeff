/**
 * src/conntrack/chain-walk-wasm.ts holds chain-walk.wat assembled: this test assembles the .wat and
 * holds the two equal (test/support/wasm-source.ts). After changing the .wat, regenerate the
 * module with `PKTBENCH_UPDATE_WASM=1 npx vitest run test/conntrack/chain-walk-wasm.test.ts`.
 * What the walk finds is held equal to ConntrackTable.find by test/conntrack/chain-walk.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { CHAIN_WALK_WASM } from '../../src/conntrack/chain-walk-wasm.js';
import { assembledModuleCheck } from '../support/wasm-source.js';

describe('chain-walk.wat', () => {
  it('assembles (wabt, validated) to exactly the bytes src/conntrack/chain-walk-wasm.ts embeds', async () => {
    const bytes = await assembledModuleCheck('src/conntrack/chain-walk.wat', 'src/conntrack/chain-walk-wasm.ts', 'CHAIN_WALK_WASM', 'test/conntrack/chain-walk-wasm.test.ts');
    if (process.env['PKTBENCH_UPDATE_WASM'] !== '1') expect(Buffer.from(CHAIN_WALK_WASM, 'base64').equals(Buffer.from(bytes))).toBe(true);
  });
});

/**
 * src/trace/pcap-kernel-wasm.ts holds pcap-kernel.wat assembled: this test assembles the .wat and
 * holds the two equal (test/support/wasm-source.ts). After changing the .wat, regenerate the
 * module with `PKTBENCH_UPDATE_WASM=1 npx vitest run test/trace/pcap-kernel-wasm.test.ts`.
 * What the kernel decodes is held equal to the general decoder by test/trace/fast-path.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { PCAP_KERNEL_WASM } from '../../src/trace/pcap-kernel-wasm.js';
import { assembledModuleCheck } from '../support/wasm-source.js';

describe('pcap-kernel.wat', () => {
  it('assembles (wabt, validated) to exactly the bytes src/trace/pcap-kernel-wasm.ts embeds', async () => {
    const bytes = await assembledModuleCheck('src/trace/pcap-kernel.wat', 'src/trace/pcap-kernel-wasm.ts', 'PCAP_KERNEL_WASM', 'test/trace/pcap-kernel-wasm.test.ts');
    if (process.env['PKTBENCH_UPDATE_WASM'] !== '1') expect(Buffer.from(PCAP_KERNEL_WASM, 'base64').equals(Buffer.from(bytes))).toBe(true);
  });
});

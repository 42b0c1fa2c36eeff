/**
 * The project's WebAssembly modules are written as text (.wat) and embedded assembled (base64 in
 * a generated .ts beside the source). assembledModuleCheck assembles the .wat with wabt (the
 * WebAssembly Binary Toolkit), validates it and holds the generated file equal to it, so that the
 * source and the bytes that run cannot drift apart. After changing a .wat, regenerate with
 * `PKTBENCH_UPDATE_WASM=1 npx vitest run TEST_FILE`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import wabtInit from 'wabt';
import { expect } from 'vitest';
import { repoRoot } from './shared.js';

/** The generated module's text for these bytes. */
function moduleText(watName: string, testFile: string, constName: string, bytes: Uint8Array): string {
  return [
    `// Generated from ${watName} by ${testFile}; do not edit. After changing`,
    `// the .wat: PKTBENCH_UPDATE_WASM=1 npx vitest run ${testFile}`,
    `/** The assembled WebAssembly module of ${watName}, base64. */`,
    `export const ${constName} = '${Buffer.from(bytes).toString('base64')}';`,
    '',
  ].join('\n');
}

/**
 * Assembles `watPath` (relative to the repository) and expects `modulePath` to be exactly its
 * generated module exporting `constName`; regenerates it instead when PKTBENCH_UPDATE_WASM=1.
 * Returns the assembled bytes.
 */
export async function assembledModuleCheck(watPath: string, modulePath: string, constName: string, testFile: string): Promise<Uint8Array> {
  const wabt = await wabtInit();
  const parsed = wabt.parseWat(basename(watPath), readFileSync(resolve(repoRoot, watPath), 'utf8'));
  parsed.validate();
  const bytes = parsed.toBinary({}).buffer;
  parsed.destroy();
  const text = moduleText(basename(watPath), testFile, constName, bytes);
  if (process.env['PKTBENCH_UPDATE_WASM'] === '1') {
    writeFileSync(resolve(repoRoot, modulePath), text);
    return bytes; // the module the test imported is the old one until the next run
  }
  expect(readFileSync(resolve(repoRoot, modulePath), 'utf8')).toBe(text);
  return bytes;
}

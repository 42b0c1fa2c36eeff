import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { labUnavailableReason } from '../../src/lab/netns.js';
import { repoRoot } from '../support/shared.js';

/** The agent runs compiled (node cannot load .ts inside `ip netns exec`): `npm test` builds first. */
export const compiledAgent = resolve(repoRoot, 'dist/src/lab/agent.js');

function capMissing(): string | undefined {
  try {
    createRequire(import.meta.url)('cap');
    return undefined;
  } catch (err) {
    return `cap (libpcap) cannot load: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`;
  }
}

/** Why the kernel lab tests cannot run here (they skip with this), or undefined. */
export const labSkipReason: string | undefined =
  labUnavailableReason() ?? capMissing() ?? (existsSync(compiledAgent) ? undefined : `${compiledAgent} is missing: run \`npm run build\` first`);

if (labSkipReason) process.stderr.write(`skipped kernel lab tests: ${labSkipReason}\n`);

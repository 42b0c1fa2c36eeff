/**
 * `npm run bench`: runs every compiled micro-suite dist/bench/<area>-*.js one after another (each
 * writes results/<name>.json in the results schema), then, given scenario files as arguments
 * (`npm run bench -- fixtures/scenarios/conntrack-buckets.yaml`), runs them with `pktbench run`.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const cli = resolve(here, '../src/cli/main.js');
const suites = readdirSync(here)
  .filter((f) => /^[a-z0-9]+-[\w-]+\.js$/.test(f) && f !== 'run-all.js')
  .sort();
let failed = 0;
for (const suite of suites) {
  process.stdout.write(`== ${suite}\n`);
  const r = spawnSync(process.execPath, [join(here, suite)], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
for (const scenario of process.argv.slice(2)) {
  process.stdout.write(`== scenario ${scenario}\n`);
  const r = spawnSync(process.execPath, [cli, 'run', scenario], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.stdout.write(`${suites.length} suite(s), ${process.argv.length - 2} scenario(s), ${failed} failed\n`);
process.exitCode = failed ? 1 : 0;

/**
 * `npm run bench`: runs every compiled micro-suite dist/bench/<area>-*.js one after another (each
 * writes results/<name>.json in the results schema), then, given scenario files as arguments
 * (`npm run bench -- fixtures/scenarios/conntrack-buckets.yaml`), runs them with `pktbench run`.
 * The suites that read a trace file get one generated here: 1M packets, 10k flows, no payload (the
 * README's decode file); point them at a multi-GB capture by hand for the memory figure.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const cli = resolve(here, '../src/cli/main.js');
const suites = readdirSync(here)
  .filter((f) => /^[a-z0-9]+-[\w-]+\.js$/.test(f) && f !== 'run-all.js' && !f.endsWith('-support.js'))
  .sort();
const TRACE_SUITES: ReadonlySet<string> = new Set(['trace-decode.js', 'trace-memory.js']);
let traceDir: string | null = null;
function generatedTrace(): string {
  traceDir ??= mkdtempSync(join(tmpdir(), 'pktbench-bench-'));
  const file = join(traceDir, '1m.pcap');
  const r = spawnSync(process.execPath, [cli, 'gen', '-o', file, '--packets', '1000000', '--flows', '10000', '--payload-bytes', '0'], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('pktbench gen failed');
  return file;
}
let failed = 0;
let trace: string | null = null;
try {
  for (const suite of suites) {
    process.stdout.write(`== ${suite}\n`);
    const args = TRACE_SUITES.has(suite) ? [(trace ??= generatedTrace())] : [];
    const r = spawnSync(process.execPath, [join(here, suite), ...args], { stdio: 'inherit' });
    if (r.status !== 0) failed++;
  }
} finally {
  if (traceDir) rmSync(traceDir, { recursive: true, force: true });
}
for (const scenario of process.argv.slice(2)) {
  process.stdout.write(`== scenario ${scenario}\n`);
  const r = spawnSync(process.execPath, [cli, 'run', scenario], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.stdout.write(`${suites.length} suite(s), ${process.argv.length - 2} scenario(s), ${failed} failed\n`);
process.exitCode = failed ? 1 : 0;

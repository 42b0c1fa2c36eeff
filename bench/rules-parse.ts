/**
 * Parse benchmark: a Selfnet-scale generated ruleset (default 200000 users x 8 rules = 1.6M
 * rules) parsed from its file in a child process, so wall time, CPU time and peak RSS are the
 * parser's alone. Targets (issue 4): <= 8 s and <= 1.5 GB peak RSS.
 *
 *   node dist/bench/rules-parse.js [users] [rulesPerUser] [samples]
 */
import { spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateRuleset, generatedRuleCount } from '../src/rules/generate.js';
import { parseIptablesSave } from '../src/rules/parse.js';
import { writeBenchResult, type BenchMetric } from './support.js';

async function writeRuleset(path: string, users: number, rulesPerUser: number): Promise<void> {
  const out = createWriteStream(path);
  let buf: string[] = [];
  const chunks: string[] = [];
  generateRuleset({ users, rulesPerUser }, (l) => {
    buf.push(l);
    if (buf.length === 50000) {
      chunks.push(`${buf.join('\n')}\n`);
      buf = [];
    }
  });
  chunks.push(`${buf.join('\n')}\n`);
  for (const c of chunks) if (!out.write(c)) await new Promise<void>((r) => out.once('drain', () => r()));
  await new Promise<void>((r) => out.end(() => r()));
}

function child(path: string): void {
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const rs = parseIptablesSave(readFileSync(path, 'utf8'), { file: path });
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(JSON.stringify({ rules: rs.rules.length, wallMs, cpuMs: (cpu.user + cpu.system) / 1000, maxRssMB: process.resourceUsage().maxRSS / 1024 }));
}

async function main(): Promise<void> {
  if (process.argv[2] === '--child') return child(process.argv[3]!);
  const users = Number(process.argv[2] ?? 200000);
  const rulesPerUser = Number(process.argv[3] ?? 8);
  const samples = Number(process.argv[4] ?? 1);
  const path = join(tmpdir(), `pktbench-gen-${users}x${rulesPerUser}.rules`);
  if (!existsSync(path)) await writeRuleset(path, users, rulesPerUser);
  const bytes = statSync(path).size;
  const wall: number[] = [];
  const cpu: number[] = [];
  const rss: number[] = [];
  for (let s = 0; s < samples; s++) {
    const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', path], { encoding: 'utf8', maxBuffer: 1 << 20 });
    if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`);
    const m = JSON.parse(r.stdout) as { rules: number; wallMs: number; cpuMs: number; maxRssMB: number };
    if (m.rules !== generatedRuleCount({ users, rulesPerUser })) throw new Error(`parsed ${m.rules} rules`);
    wall.push(m.wallMs);
    cpu.push(m.cpuMs);
    rss.push(m.maxRssMB);
    process.stdout.write(`sample ${s + 1}: ${m.rules} rules, ${(bytes / 1e6).toFixed(1)} MB: wall ${(m.wallMs / 1000).toFixed(2)} s, cpu ${(m.cpuMs / 1000).toFixed(2)} s, peak RSS ${m.maxRssMB.toFixed(0)} MB\n`);
  }
  const params = { users, rulesPerUser, rules: generatedRuleCount({ users, rulesPerUser }), bytes };
  const metrics: BenchMetric[] = [
    { name: 'rules.parse.wall', unit: 'ms', direction: 'lower', samples: wall, params },
    { name: 'rules.parse.cpu', unit: 'ms', direction: 'lower', samples: cpu, params },
    { name: 'rules.parse.peak_rss', unit: 'MB', direction: 'lower', samples: rss, params },
  ];
  process.stdout.write(`wrote ${writeBenchResult('rules-parse', metrics, { targets: { wallMs: 8000, peakRssMB: 1536 } })}\n`);
}

await main();

/**
 * Parse benchmark: a Selfnet-scale generated ruleset (default 200000 users x 8 rules = 1.6M
 * rules) parsed from its file in a child process, so wall time, CPU time and peak RSS are the
 * parser's alone. Targets (issue 4): <= 8 s and <= 1.5 GB peak RSS.
 *
 *   node dist/bench/rules-parse.js [users] [rulesPerUser] [samples] [--compare]
 *
 * --compare also parses the same file with the frozen first parser (test/rules/reference-parse.ts)
 * in alternating child processes, and reports both medians and their ratio.
 */
import { spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateRuleset, generatedRuleCount } from '../src/rules/generate.js';
import { parseIptablesSave } from '../src/rules/parse.js';
import { median, writeBenchResult, type BenchMetric } from './support.js';

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

async function child(path: string, parser: string): Promise<void> {
  const parse = parser === 'reference' ? (await import('../test/rules/reference-parse.js')).parseIptablesSave : parseIptablesSave;
  const text = readFileSync(path, 'utf8');
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const rs = parse(text, { file: path });
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(JSON.stringify({ rules: rs.rules.length, wallMs, cpuMs: (cpu.user + cpu.system) / 1000, maxRssMB: process.resourceUsage().maxRSS / 1024 }));
}

async function main(): Promise<void> {
  if (process.argv[2] === '--child') return child(process.argv[3]!, process.argv[4]!);
  const compare = process.argv.includes('--compare');
  const args = process.argv.slice(2).filter((a) => a !== '--compare');
  const users = Number(args[0] ?? 200000);
  const rulesPerUser = Number(args[1] ?? 8);
  const samples = Number(args[2] ?? 1);
  const path = join(tmpdir(), `pktbench-gen-${users}x${rulesPerUser}.rules`);
  if (!existsSync(path)) await writeRuleset(path, users, rulesPerUser);
  const bytes = statSync(path).size;
  const parsers = compare ? ['reference', 'current'] : ['current'];
  const wall = new Map(parsers.map((p) => [p, [] as number[]]));
  const cpu = new Map(parsers.map((p) => [p, [] as number[]]));
  const rss = new Map(parsers.map((p) => [p, [] as number[]]));
  for (let s = 0; s < samples; s++) {
    for (const parser of parsers) {
      const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', path, parser], { encoding: 'utf8', maxBuffer: 1 << 20 });
      if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`);
      const m = JSON.parse(r.stdout) as { rules: number; wallMs: number; cpuMs: number; maxRssMB: number };
      if (m.rules !== generatedRuleCount({ users, rulesPerUser })) throw new Error(`parsed ${m.rules} rules`);
      wall.get(parser)!.push(m.wallMs);
      cpu.get(parser)!.push(m.cpuMs);
      rss.get(parser)!.push(m.maxRssMB);
      process.stdout.write(`sample ${s + 1}${compare ? ` (${parser})` : ''}: ${m.rules} rules, ${(bytes / 1e6).toFixed(1)} MB: wall ${(m.wallMs / 1000).toFixed(2)} s, cpu ${(m.cpuMs / 1000).toFixed(2)} s, peak RSS ${m.maxRssMB.toFixed(0)} MB\n`);
    }
  }
  const params = { users, rulesPerUser, rules: generatedRuleCount({ users, rulesPerUser }), bytes };
  const metrics: BenchMetric[] = [];
  for (const parser of parsers) {
    // The current parser keeps the metric names and params of the first results files.
    const p = parser === 'current' ? params : { ...params, parser };
    metrics.push(
      { name: 'rules.parse.wall', unit: 'ms', direction: 'lower', samples: wall.get(parser)!, params: p },
      { name: 'rules.parse.cpu', unit: 'ms', direction: 'lower', samples: cpu.get(parser)!, params: p },
      { name: 'rules.parse.peak_rss', unit: 'MB', direction: 'lower', samples: rss.get(parser)!, params: p },
    );
  }
  const extra: Record<string, unknown> = { targets: { wallMs: 8000, peakRssMB: 1536 } };
  if (compare) {
    const ratio = (m: Map<string, number[]>): number => median(m.get('current')!) / median(m.get('reference')!);
    extra.currentOverReference = { wall: ratio(wall), cpu: ratio(cpu), peakRss: ratio(rss) };
    for (const parser of parsers) {
      process.stdout.write(`${parser.padEnd(9)} median: wall ${(median(wall.get(parser)!) / 1000).toFixed(2)} s, cpu ${(median(cpu.get(parser)!) / 1000).toFixed(2)} s, peak RSS ${median(rss.get(parser)!).toFixed(0)} MB\n`);
    }
    process.stdout.write(`current / reference: wall ${ratio(wall).toFixed(2)}, cpu ${ratio(cpu).toFixed(2)}, peak RSS ${ratio(rss).toFixed(2)}\n`);
  }
  process.stdout.write(`wrote ${writeBenchResult('rules-parse', metrics, extra)}\n`);
}

await main();

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeResults } from '../../src/results/write.js';
import { repoRoot } from '../support/shared.js';
import { sampleResults } from './sample.js';

// The built CLI (npm test builds dist/ before vitest): exit codes and messages as a user sees them.
const main = resolve(repoRoot, 'dist/src/cli/main.js');

function pktbench(args: string[], cwd: string): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [main, ...args], { cwd, encoding: 'utf8', env: { ...process.env, CI: 'true' } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

describe.skipIf(!existsSync(main))('pktbench compare, merge, export, report, run (built CLI)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pktbench-cli-'));
  writeResults(join(dir, 'base.json'), sampleResults({ 'buckets=65536': [100, 101, 102, 103, 104, 105] }));
  writeResults(join(dir, 'slower.json'), sampleResults({ 'buckets=65536': [110, 111, 112, 113, 114, 115] }));
  writeResults(join(dir, 'other.json'), sampleResults({ 'buckets=65536': [1] }, { name: 'other' }));
  writeFileSync(join(dir, 'foreign.json'), JSON.stringify({ benchmarks: [{ name: 'x', value: 1 }] }));
  writeFileSync(join(dir, 'corrupt.json'), '{"$schema": "https://pktbench.dev/schema/results-v1.json", "points": [');

  it('compare: exit 0 without regression, 1 with one, markdown for the step summary', () => {
    const worse = pktbench(['compare', 'base.json', 'slower.json', '--format', 'md'], dir);
    expect(worse.code).toBe(1);
    expect(worse.stdout).toContain('| buckets=65536 | ns-per-packet (lower is better) | 102.5 ns ± 2% | 112.5 ns ± 2% | +9.8% worse ❌ (p=0.002 n=6+6) |');
    const json = pktbench(['compare', 'base.json', 'slower.json', '--format', 'json', '--threshold', '10%'], dir);
    expect(json.code).toBe(0);
    expect((JSON.parse(json.stdout) as { regressions: number }).regressions).toBe(0);
  });
  it('bad input: a clear message and exit 3, never a stack trace', () => {
    for (const [args, message] of [
      [['compare', 'base.json', 'other.json'], 'pktbench: cannot compare different scenarios: base.json is "ct", other.json is "other"\n'],
      [['report', 'foreign.json', '-o', 'r.html'], 'pktbench: foreign.json: not a pktbench results file ($schema is null, expected https://pktbench.dev/schema/results-v1.json)\n'],
      [['merge', 'base.json', 'other.json', '-o', 'm.json'], 'pktbench: cannot merge different scenarios: base.json is "ct", other.json is "other"\n'],
    ] as const) {
      const r = pktbench([...args], dir);
      expect(r.stderr).toBe(message);
      expect(r.code).toBe(3);
    }
    const corrupt = pktbench(['merge', 'corrupt.json', '-o', 'm.json'], dir);
    expect(corrupt.stderr).toMatch(/^pktbench: corrupt\.json(: byte \d+)?: not JSON \(.*\)\n$/);
    expect(corrupt.code).toBe(3);
  });
  it('usage errors exit 2', () => {
    expect(pktbench(['compare', 'base.json', 'slower.json', '--threshold', 'lots'], dir).code).toBe(2);
    expect(pktbench(['run', '--shard', '3/2', '--dry-run'], dir)).toMatchObject({ code: 2, stderr: 'pktbench: --shard 3/2: expected i/N with 1 ≤ i ≤ N, e.g. 2/4\n' });
  });
  it('merge, export and report write their files', () => {
    const m = pktbench(['merge', 'base.json', 'base.json', '-o', 'merged.json'], dir);
    expect(m).toMatchObject({ code: 0, stdout: 'merged.json: 1 of 1 points from 2 file(s)\n' });
    const bmf = pktbench(['export', 'merged.json', '--export', 'bmf'], dir);
    expect(JSON.parse(bmf.stdout)).toEqual({ 'ct buckets=65536': { 'ns-per-packet': { value: 102.5, lower_value: 100, upper_value: 105 } } });
    const rep = pktbench(['report', 'base.json', 'slower.json', '-o', 'report.html'], dir);
    expect(rep).toMatchObject({ code: 0, stdout: 'report.html: report of 2 run(s)\n' });
    expect(readFileSync(join(dir, 'report.html'), 'utf8')).toContain('"regressions":1');
  });
  it('run: the embedded default scenario validates; scenario mistakes name file and line', () => {
    expect(pktbench(['run', '--dry-run'], dir)).toMatchObject({ code: 0, stdout: 'default: 2 point(s)\n#  point\n0  workers=1\n1  workers=2\n' });
    writeFileSync(join(dir, 'typo.yaml'), 'name: t\ntrace:\n  generate: { pattern: uniform, flows: 1k, packets: 10k, pps: 1k }\nconntrack:\n  bukets: 64k\n');
    expect(pktbench(['run', 'typo.yaml'], dir)).toMatchObject({ code: 3, stderr: 'pktbench: typo.yaml:5: conntrack.bukets: unknown key\n' });
  });
});

import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { NetfilterData } from '../../src/pipeline/netfilter-stage.js';
import type { StageResult } from '../../src/pipeline/result.js';
import type { ShaperData } from '../../src/pipeline/shaper-stage.js';
import { repoRoot } from '../support/shared.js';
import { generatedTrace } from '../pipeline/trace.js';

const cli = resolve(repoRoot, 'dist/src/cli/main.js');
const dir = mkdtempSync(join(tmpdir(), 'pktbench-replay-models-'));
const tracePath = join(dir, 'gen.pcap');
writeFileSync(tracePath, generatedTrace({ seed: 11, flows: 400, packets: 8000, pps: 20_000, concurrent: 40 }));
const rules = resolve(repoRoot, 'fixtures/pipeline/forward.rules');
const tc = resolve(repoRoot, 'fixtures/pipeline/shaper.tc');

function runCli(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: repoRoot, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface Report {
  packets: number;
  stages: StageResult[];
  shaperLock?: { costs: { name: string; serialized: boolean }[]; simulation: { lock: { busyNs: number } | null } };
}

describe('pktbench replay --ruleset --tc (built CLI)', () => {
  it('2 workers print the one-thread netfilter counters and class arrivals, and the shaper lock figure', () => {
    const base = ['replay', '--trace', tracePath, '--ruleset', rules, '--tc', tc, '--buckets', '1024', '--json', '--batch', '900'];
    const one = runCli([...base, '--workers', '0']);
    const two = runCli([...base, '--workers', '2', '--policy', 'rss-symmetric']);
    expect(one.code).toBe(0);
    expect(two.code).toBe(0);
    const a = JSON.parse(one.stdout) as Report;
    const b = JSON.parse(two.stdout) as Report;
    expect(a.packets).toBe(8000);
    expect(b.packets).toBe(8000);
    expect(a.stages.map((s) => s.stage)).toEqual(['netfilter', 'shaper']);
    const nf = (r: Report): unknown => {
      const { ct_gc_runs: _g, ct_nodes_visited: _n, ...counters } = r.stages[0]!.counters;
      return { counters, rulesets: (r.stages[0]!.data as NetfilterData).rulesets };
    };
    expect(nf(b)).toEqual(nf(a));
    const arrivals = (r: Report): unknown => (r.stages[1]!.data as ShaperData).classes.map((c) => [c.classid, c.enqueued, c.sentPackets, c.sentBytes, c.dropped]);
    expect(arrivals(b)).toEqual(arrivals(a));
    // Packets of the mark-0x10 rules (lines 13, 14) land in 1:10 through cls_fw; UDP CLASSIFY 1:20.
    const d = (a.stages[0]!.data as NetfilterData).rulesets[0]!;
    const classes = (a.stages[1]!.data as ShaperData).classes;
    expect(classes.find((c) => c.classid === '1:20')!.enqueued).toBe(d.rules.find((r) => r.line === 15)!.packets);
    expect(a.shaperLock).toBeUndefined();
    expect(b.shaperLock!.costs.map((c) => [c.name, c.serialized])).toEqual([['netfilter', false], ['shaper', true]]);
    expect(b.shaperLock!.simulation.lock!.busyNs).toBeGreaterThan(0);
  });

  it('a bad ruleset: file:line, exit 3, no stack trace; an unreadable tc script: exit 3', () => {
    const bad = join(dir, 'bad.rules');
    writeFileSync(bad, '*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -p tcp --dport 22 -j NOSUCHTARGET\nCOMMIT\n');
    const r = runCli(['replay', '--trace', tracePath, '--workers', '2', '--ruleset', bad]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(new RegExp(`pktbench: ${bad.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:3: `));
    expect(r.stderr).not.toMatch(/\bat .*\.js:\d+/);
    const t = runCli(['replay', '--trace', tracePath, '--tc', join(dir, 'missing.tc')]);
    expect(t.code).toBe(3);
    expect(t.stderr).toContain('missing.tc: cannot read the tc script (ENOENT)');
  });
});

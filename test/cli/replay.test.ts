import { spawn, spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../support/shared.js';

const cli = resolve(repoRoot, 'dist/src/cli/main.js');

function runCli(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('pktbench replay', () => {
  it('prints the same merged model outputs on 2 workers as in the main thread (--json)', () => {
    const base = ['replay', '--synthetic', 'zipf:6000:300', '--stage', 'hash-work:rounds=2', '--stage', 'flow-accounting', '--top', '5', '--batch', '1000', '--json'];
    const one = runCli([...base, '--workers', '0']);
    const two = runCli([...base, '--workers', '2', '--policy', 'rss']);
    expect(one.code).toBe(0);
    expect(two.code).toBe(0);
    const a = JSON.parse(one.stdout) as { stages: unknown; packets: number; partial: boolean };
    const b = JSON.parse(two.stdout) as { stages: unknown; packets: number; perWorker: { packets: number }[]; mode: string };
    expect(a.packets).toBe(6000);
    expect(b.perWorker.reduce((s, w) => s + w.packets, 0)).toBe(6000);
    expect(b.mode).toBe('pinned');
    expect(b.stages).toEqual(a.stages);
  });

  it('--warmup replays untimed first on the same threads; the reported pass is a whole, equal replay', () => {
    const base = ['replay', '--synthetic', 'zipf:6000:300', '--stage', 'hash-work:rounds=2', '--stage', 'flow-accounting', '--batch', '1000', '--json', '--workers', '2'];
    const cold = runCli(base);
    const warm = runCli([...base, '--warmup', '2']);
    expect(warm.code).toBe(0);
    expect(warm.stderr).toContain('replay: warm-up 1/2 done\nreplay: warm-up 2/2 done\n');
    const a = JSON.parse(cold.stdout) as { stages: unknown; packets: number };
    const b = JSON.parse(warm.stdout) as { stages: unknown; packets: number };
    expect(b.packets).toBe(6000);
    expect(b.stages).toEqual(a.stages);
  });

  it('a failing worker: exit 1, one line naming worker and batch, no stack trace', () => {
    const r = runCli(['replay', '--synthetic', 'uniform:5000:100', '--workers', '2', '--stage-module', 'fixtures/cores/failing-stage.mjs', '--stage', 'fail-at-frame:frame=2500']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^replay: started.*\npktbench: worker [01] failed on batch \d+ \(frames \d+\.\.\d+\): boom at frame 2500\n$/);
    expect(r.stderr).not.toMatch(/\bat .*\.js:\d+/);
  });

  it('usage errors exit 2', () => {
    expect(runCli(['replay', '--synthetic', 'zipf:100', '--policy', 'hash']).code).toBe(2);
    expect(runCli(['replay', '--workers', '1']).stderr).toContain('replay needs --trace FILE or --synthetic');
    expect(runCli(['replay', '--synthetic', 'nope:10']).code).toBe(2);
    expect(runCli(['replay', '--synthetic', 'zipf:10', '--stage', 'missing']).stderr).toContain('unknown stage "missing"');
    expect(runCli(['replay', '--synthetic', 'zipf:10', '--simulate']).code).toBe(2);
  });

  it('--simulate: a single flow saturates one core of four', () => {
    const r = runCli(['replay', '--synthetic', 'single-flow:1000', '--simulate', '--workers', '4', '--cost', 'ct=20000', '--json']);
    expect(r.code).toBe(0);
    const sim = JSON.parse(r.stdout) as { cores: { packets: number }[]; imbalance: number; maxSustainablePps: number; saturatedCores: number[] };
    expect(sim.cores.map((c) => c.packets).sort((x, y) => y - x)).toEqual([1000, 0, 0, 0]);
    expect(sim.imbalance).toBe(4);
    expect(sim.maxSustainablePps).toBe(50_000);
    expect(sim.saturatedCores).toHaveLength(1);
  });

  it('Ctrl-C stops the pool and prints partial results (exit 130)', async () => {
    const child = spawn(process.execPath, [cli, 'replay', '--synthetic', 'zipf:64m:1000', '--workers', '2', '--stage', 'hash-work:rounds=50', '--json'], { cwd: repoRoot });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const started = new Promise<void>((ok) => child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (stderr.includes('replay: started')) ok();
    }));
    await started;
    await new Promise((ok) => setTimeout(ok, 1500));
    child.kill('SIGINT');
    const code = await new Promise<number | null>((ok) => child.on('exit', ok));
    expect(code).toBe(130);
    const r = JSON.parse(stdout) as { partial: boolean; packets: number; stages: { counters: { packets: number } }[] };
    expect(r.partial).toBe(true);
    expect(r.packets).toBeLessThan(64 * 1024 * 1024);
    expect(r.stages[0]!.counters.packets).toBe(r.packets);
  });
});

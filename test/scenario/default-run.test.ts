/**
 * `pktbench run` with no argument (what `npm start` runs): the embedded default scenario over
 * fixtures/traces/default.pcap through the real models, and bad inputs of a model-backed run.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { runCommand } from '../../src/cli/run.js';
import { InputError } from '../../src/errors.js';
import { readResults } from '../../src/results/write.js';
import { modelRunner } from '../../src/scenario/model-runner.js';
import { fixedEnvironment } from '../results/sample.js';

function quiet(): Writable {
  return new Writable({ write(_c, _e, cb) { cb(); } });
}

describe('pktbench run through the models', () => {
  it('runs the embedded default scenario: summary table and results JSON with the measurements', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pktbench-default-'));
    let out = '';
    await runCommand({}, { runner: modelRunner(), stdout: (t) => (out += t), stderr: quiet(), environment: () => fixedEnvironment, resultsDir: dir, env: {} });
    const results = readResults(join(dir, 'default.json'));
    expect(results.points.map((p) => p.id)).toEqual(['workers=1', 'workers=2']);
    for (const p of results.points) {
      const m = new Map(p.metrics.map((x) => [x.name, x]));
      expect([...m.keys()]).toEqual(expect.arrayContaining(['ns-per-packet', 'packets-per-second', 'chain-length', 'core-load']));
      expect(m.get('ns-per-packet')!.samples).toHaveLength(5);
      // 1000 flows (at most 200 open together) in 64k buckets: a lookup walks about one entry.
      expect(m.get('chain-length')!.summary.median).toBeGreaterThan(0.9);
      expect(m.get('chain-length')!.summary.median).toBeLessThan(1.1);
      // Simulated cores: 4 of them; the default trace's 20000 packets, 10 loops, over them by RSS.
      expect(m.get('core-load')!.perCore).toHaveLength(4);
      expect(m.get('cores.packets')!.perCore!.reduce((a, b) => a + b, 0)).toBe(10 * 20000);
    }
    expect(out).toMatch(/^point +ns-per-packet +packets-per-second +chain-length/m);
    expect(out).toContain(`results: ${join(dir, 'default.json')} (2 point(s) measured)`);
  }, 120_000);

  it('a ruleset with a mistake stops the run with its file:line (exit 3), a missing trace with its path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pktbench-bad-'));
    writeFileSync(join(dir, 'bad.rules'), '*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -p tcp --dportt 22 -j DROP\nCOMMIT\n');
    writeFileSync(join(dir, 's.yaml'), 'name: s\ntrace:\n  generate: {pattern: uniform, flows: 10, packets: 100, pps: 100}\nruleset:\n  file: bad.rules\nrepeat: 1\nwarmup: 0\n');
    const run = (file: string): Promise<void> => runCommand({ scenario: join(dir, file), progress: false }, { runner: modelRunner(), stdout: () => {}, stderr: quiet(), environment: () => fixedEnvironment, resultsDir: dir, env: {} });
    const err = await run('s.yaml').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).exitCode).toBe(3);
    expect((err as Error).message).toMatch(/bad\.rules:3/);
    writeFileSync(join(dir, 't.yaml'), 'name: t\ntrace:\n  file: gone.pcap\nrepeat: 1\n');
    const missing = await run('t.yaml').catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(InputError);
    expect((missing as Error).message).toContain('gone.pcap');
  }, 60_000);
});

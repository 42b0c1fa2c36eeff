import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { runCommand } from '../../src/cli/run.js';
import { RunFailure } from '../../src/errors.js';
import { mergeResults } from '../../src/results/merge.js';
import { readResults } from '../../src/results/write.js';
import type { PointMetric, ScenarioPointRunner } from '../../src/scenario/runner.js';
import type { SweepPoint } from '../../src/scenario/sweep.js';
import { fixedEnvironment } from '../results/sample.js';

const scenarioText = `name: sweep-test
trace:
  generate: { pattern: uniform, flows: 200k, packets: 1M, pps: 700k }
measurements: [chain-length]
repeat: 3
sweep:
  buckets: [64k, 256k, 1M]
  workers: [1, 2]
`;

/** A stand-in for the models: mean chain length = flows / buckets (uniform hashing), per-core shares. */
class FakeRunner implements ScenarioPointRunner {
  readonly ran: string[] = [];
  constructor(private readonly failAt?: string) {}
  async runPoint(point: SweepPoint, ctx: { progress(f: number): void }): Promise<readonly PointMetric[]> {
    if (point.id === this.failAt) throw new Error('worker died');
    this.ran.push(point.id);
    ctx.progress(0.5);
    const mean = (point.config.trace.generate?.flows ?? 0) / point.config.conntrack.buckets;
    return [{ name: 'chain-length', unit: 'entries', direction: 'lower', samples: [mean, mean, mean], perCore: Array.from({ length: point.config.workers }, () => 1 / point.config.workers) }];
  }
}

function sink(): { stream: Writable & { isTTY?: boolean }; text: () => string } {
  let buf = '';
  const stream = new Writable({ write(chunk: Buffer, _enc, cb) { buf += chunk.toString(); cb(); } });
  return { stream, text: () => buf };
}

function setup(): { dir: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), 'pktbench-run-'));
  const file = join(dir, 'sweep.yaml');
  writeFileSync(file, scenarioText);
  return { dir, file };
}

describe('pktbench run with an injected runner', () => {
  it('runs every point, writes the results file and prints plain progress and a summary table', async () => {
    const { dir, file } = setup();
    const runner = new FakeRunner();
    const err = sink();
    let out = '';
    await runCommand({ scenario: file }, { runner, stdout: (t) => (out += t), stderr: err.stream, environment: () => fixedEnvironment, resultsDir: dir, env: {} });
    expect(runner.ran).toHaveLength(6);
    const results = readResults(join(dir, 'sweep-test.json'));
    expect(results.points.map((p) => p.id)).toEqual(runner.ran);
    expect(results.points[0]!.metrics[0]!.summary.median).toBeCloseTo(200000 / 65536, 12);
    expect(results.scenario).toMatchObject({ name: 'sweep-test', totalPoints: 6, shard: null, axes: [{ name: 'buckets', values: [65536, 262144, 1048576] }, { name: 'workers', values: [1, 2] }] });
    expect(results.environment).toEqual(fixedEnvironment);
    expect(err.text()).toMatch(/^6 point\(s\)\n\[1\/6\] buckets=65536,workers=1 …\n {8}buckets=65536,workers=1 done in \d+\.\d s: chain-length 3\.052 entries\n/);
    expect(out.split('\n').slice(0, 3)).toEqual([
      'point                      chain-length',
      'buckets=65536,workers=1    3.052 entries ± 0%',
      'buckets=65536,workers=2    3.052 entries ± 0%',
    ]);
    expect(out).toContain(`results: ${join(dir, 'sweep-test.json')} (6 point(s) measured)`);
  });

  it('keeps finished points when a point fails and --resume runs only the rest', async () => {
    const { dir, file } = setup();
    const deps = { stdout: () => {}, stderr: sink().stream, environment: () => fixedEnvironment, resultsDir: dir, env: {} };
    const failing = new FakeRunner('buckets=262144,workers=1');
    await expect(runCommand({ scenario: file }, { ...deps, runner: failing })).rejects.toThrow(
      new RunFailure(`point buckets=262144,workers=1: worker died (2 point(s) saved in ${join(dir, 'sweep-test.json')}; continue with --resume)`),
    );
    expect(readResults(join(dir, 'sweep-test.json')).points).toHaveLength(2);
    const second = new FakeRunner();
    await runCommand({ scenario: file, resume: true }, { ...deps, runner: second });
    expect(second.ran).toEqual(['buckets=262144,workers=1', 'buckets=262144,workers=2', 'buckets=1048576,workers=1', 'buckets=1048576,workers=2']);
    expect(readResults(join(dir, 'sweep-test.json')).points.map((p) => p.index)).toEqual([0, 1, 2, 3, 4, 5]);
    // A changed scenario file must not resume into old numbers.
    writeFileSync(file, scenarioText.replace('repeat: 3', 'repeat: 4'));
    await expect(runCommand({ scenario: file, resume: true }, { ...deps, runner: second })).rejects.toThrow(/--resume: this file holds results of another scenario or of an earlier version/);
  });

  it('shards run disjoint slices whose merge equals the whole sweep', async () => {
    const { dir, file } = setup();
    const deps = { stdout: () => {}, stderr: sink().stream, environment: () => fixedEnvironment, resultsDir: dir, env: {} };
    const whole = new FakeRunner();
    await runCommand({ scenario: file, output: join(dir, 'whole.json') }, { ...deps, runner: whole });
    const shards = [];
    for (const i of [1, 2, 3]) {
      const r = new FakeRunner();
      await runCommand({ scenario: file, shard: `${i}/3` }, { ...deps, runner: r });
      expect(r.ran).toHaveLength(2);
      const name = join(dir, `sweep-test.shard-${i}-of-3.json`);
      shards.push({ name, results: readResults(name) });
    }
    const { merged, missing } = mergeResults(shards);
    expect(missing).toEqual([]);
    const strip = (r: ReturnType<typeof readResults>) => r.points.map((p) => ({ id: p.id, metrics: p.metrics }));
    expect(strip(merged)).toEqual(strip(readResults(join(dir, 'whole.json'))));
  });

  it('--resume refuses a file of another shard; a runner reporting a known metric in another unit fails', async () => {
    const { dir, file } = setup();
    const deps = { stdout: () => {}, stderr: sink().stream, environment: () => fixedEnvironment, resultsDir: dir, env: {} };
    await runCommand({ scenario: file, shard: '1/3', output: join(dir, 'x.json') }, { ...deps, runner: new FakeRunner() });
    await expect(runCommand({ scenario: file, shard: '2/3', output: join(dir, 'x.json'), resume: true }, { ...deps, runner: new FakeRunner() })).rejects.toThrow(
      `${join(dir, 'x.json')}: --resume: this file holds shard 1/3, not 2/3`,
    );
    const wrongUnit: ScenarioPointRunner = { runPoint: () => Promise.resolve([{ name: 'chain-length', unit: 'ns', direction: 'lower', samples: [1] }]) };
    await expect(runCommand({ scenario: file, output: join(dir, 'y.json') }, { ...deps, runner: wrongUnit })).rejects.toThrow(
      'point buckets=65536,workers=1: the runner reported chain-length in ns (lower is better); the scenario schema defines entries (lower is better) (nothing saved)',
    );
  });

  it('--dry-run lists the points of a shard without running', async () => {
    const { file } = setup();
    let out = '';
    await runCommand({ scenario: file, dryRun: true, shard: '2/4' }, { runner: new FakeRunner('x'), stdout: (t) => (out += t), stderr: sink().stream });
    expect(out).toBe('sweep-test: 6 point(s), shard 2/4 runs 2\n#  point\n1  buckets=65536,workers=2\n5  buckets=1048576,workers=2\n');
  });

  it('a TTY gets a progress bar instead of lines (unless CI is set)', async () => {
    const { dir, file } = setup();
    const tty = sink();
    tty.stream.isTTY = true;
    await runCommand({ scenario: file }, { runner: new FakeRunner(), stdout: () => {}, stderr: tty.stream, environment: () => fixedEnvironment, resultsDir: dir, env: {} });
    expect(tty.text()).toMatch(/100% \| point 6\/6 buckets=1048576,workers=2/);
    expect(tty.text()).not.toContain('done in');
    const ci = sink();
    ci.stream.isTTY = true;
    await runCommand({ scenario: file }, { runner: new FakeRunner(), stdout: () => {}, stderr: ci.stream, environment: () => fixedEnvironment, resultsDir: dir, env: { CI: 'true' } });
    expect(ci.text()).toContain('done in');
    expect(JSON.parse(readFileSync(join(dir, 'sweep-test.json'), 'utf8'))).toHaveProperty('$schema');
  });
});

import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { diffObservations, formatDifferences } from '../../src/lab/diff.js';
import { createModelSide } from '../../src/lab/model.js';
import { hasCommand } from '../../src/lab/exec.js';
import { runKernel } from '../../src/lab/replay.js';
import { checkExpectations, loadScenario, scenarioConfig, writeScenarioTrace } from '../../src/lab/scenario.js';
import { repoRoot } from '../support/shared.js';
import { compiledAgent, labSkipReason } from './support.js';

const dir = resolve(repoRoot, 'fixtures/lab');
const scenarios = readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort();
const work = mkdtempSync(join(tmpdir(), 'pkb-scenarios-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
/** Lowering the machine-wide nf_conntrack_max (restored afterwards) is opt-in. */
const allowGlobal = process.env.PKTBENCH_LAB_GLOBAL === '1';

describe.skipIf(labSkipReason !== undefined)(`kernel lab scenarios ${labSkipReason ?? ''}`, () => {
  it('has the bundled scenarios', () => {
    expect(scenarios).toEqual(['conntrack-max.yaml', 'ipv6.yaml', 'nat.yaml', 'shaper.yaml', 'stateful.yaml', 'tcp-lifecycle.yaml']);
  });

  for (const file of scenarios) {
    const loaded = loadScenario(join(dir, file));
    const needsGlobal = Object.keys(loaded.scenario.conntrack ?? {}).some((k) => ['max', 'buckets', 'expect_max'].includes(k));
    // Every scenario on nf_tables (the default); the stateful and NAT ones also on ip_tables (legacy), the
    // code the rules model mirrors. Each run takes ~2 s on the shared machine.
    for (const variant of file === 'stateful.yaml' || file === 'nat.yaml' ? (['nft', 'legacy'] as const) : (['nft'] as const)) {
      const missing = variant === 'legacy' && !hasCommand('iptables-legacy-restore') ? ' (skipped: iptables-legacy-restore is not installed)' : '';
      it.skipIf(missing !== '')(`${file} (${variant}): the kernel does what the scenario computed by hand, and the models agree with the kernel${missing}`, async () => {
        const trace = join(work, `${file}.pcap`);
        writeScenarioTrace(loaded, trace);
        const config = { ...scenarioConfig(loaded, trace), iptables: variant, allowGlobalSysctl: allowGlobal };
        if (needsGlobal && !allowGlobal) {
          await expect(runKernel(config)).rejects.toThrow(/nf_conntrack_max is global.*--allow-global-sysctl/);
          return;
        }
        const run = await runKernel(config);
        const diffs = checkExpectations(run.observation, loaded.scenario.expect ?? {});
        expect(formatDifferences(diffs)).toBe('kernel and model agree\n');
        expect(run.iptablesVariant).toBe(variant);
        // Kernel versus model, counter by counter, with the settings the lab applied.
        const model = await createModelSide({ routes: config.routes }).run({
          tracePath: trace, ruleset: config.ruleset, ruleset6: config.ruleset6, ipset: config.ipset, tc: config.tc,
          conntrack: config.conntrack ?? {}, insideAddresses: run.insideAddresses, skipped: run.observation.outcome.skipped,
          settings: run.settings, replayDurationMs: run.durationMs,
        });
        const versus = diffObservations(run.observation, model, { timeoutToleranceS: Math.max(1, Math.ceil(run.durationMs / 1000)) });
        expect(formatDifferences(versus)).toBe('kernel and model agree\n');
      });
    }
  }
  it('uses the compiled agent', () => {
    expect(compiledAgent.endsWith('dist/src/lab/agent.js')).toBe(true);
  });
});

import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatDifferences } from '../../src/lab/diff.js';
import { LabRoutes, runModel } from '../../src/lab/model.js';
import { checkExpectations, loadScenario, scenarioConfig, writeScenarioTrace } from '../../src/lab/scenario.js';
import { repoRoot } from '../support/shared.js';

const dir = resolve(repoRoot, 'fixtures/lab');
const work = mkdtempSync(join(tmpdir(), 'pkb-lab-model-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
/** The machine's global conntrack sizing the lab leaves alone (this kernel's defaults). */
const host = { max: 262144, buckets: 262144 };

// No root needed: the models alone, on every scenario, against the numbers computed by hand from
// the kernel's rules (and checked against the kernel by the lab tests where the lab can run).
describe('the lab\'s model side on the bundled scenarios (no kernel needed)', () => {
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort()) {
    it(`${file}: the models do what the scenario computed by hand`, () => {
      const loaded = loadScenario(join(dir, file));
      const trace = join(work, `${file}.pcap`);
      writeScenarioTrace(loaded, trace);
      const config = scenarioConfig(loaded, trace);
      const obs = runModel({
        tracePath: trace, ruleset: config.ruleset, ruleset6: config.ruleset6, ipset: config.ipset, tc: config.tc,
        conntrack: config.conntrack ?? {}, insideAddresses: loaded.scenario.inside ?? [], skipped: [], settings: [], replayDurationMs: 0,
      }, readFileSync(trace), { routes: config.routes, host });
      expect(formatDifferences(checkExpectations(obs, loaded.scenario.expect ?? {}))).toBe('kernel and model agree\n');
      // Every replayed frame has a fate.
      expect(obs.outcome.forwarded.length + obs.outcome.dropped.length).toBe(loaded.frames.length);
    });
  }

  it('nat: entries, timeouts and reply tuples as conntrack -L lists them', () => {
    const loaded = loadScenario(join(dir, 'nat.yaml'));
    const trace = join(work, 'nat-entries.pcap');
    writeScenarioTrace(loaded, trace);
    const config = scenarioConfig(loaded, trace);
    const obs = runModel({ tracePath: trace, ruleset: config.ruleset, conntrack: {}, insideAddresses: loaded.scenario.inside ?? [], skipped: [{ frameNo: 8, reason: 'test' }], settings: [], replayDurationMs: 0 }, readFileSync(trace), { host });
    const lines = obs.conntrack.map((e) => `${e.proto} ${e.timeout} ${e.state} ${e.original.src}:${e.original.sport} > ${e.original.dst}:${e.original.dport} | ${e.reply.src}:${e.reply.sport} > ${e.reply.dst}:${e.reply.dport} [${e.flags.join(',')}] mark=${e.mark}`).sort();
    // (UDP has no state: two spaces.) Frames are 1 ms apart and the last replayed one (frame 7) is at 6 ms: udp 30 s from 3 ms -> 29 s left (floor), SYN_RECV 60 s from 6 ms -> 60.
    expect(lines).toEqual([
      'tcp 431999 ESTABLISHED 10.1.0.2:40000 > 198.51.100.10:80 | 198.51.100.10:80 > 100.64.1.1:40000 [ASSURED] mark=1',
      'tcp 60 SYN_RECV 203.0.113.7:33000 > 198.51.100.99:8080 | 10.1.0.50:80 > 203.0.113.7:33000 [] mark=0',
      'udp 29  10.1.0.3:5000 > 198.51.100.20:53 | 198.51.100.20:53 > 192.0.2.1:5000 [] mark=2',
    ]);
    // Frame 8 was skipped: counted nowhere, listed as skipped.
    expect(obs.outcome.forwarded).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(obs.outcome.skipped).toEqual([{ frameNo: 8, reason: 'test' }]);
  });

  it('routes: longest prefix wins, host routes for inside addresses, default outside', () => {
    const r = new LabRoutes(['10.1.0.2', '2001:db8:10::2'], [{ prefix: '10.1.0.0/16', side: 'inside' }, { prefix: '10.1.5.0/24', side: 'outside' }]);
    const v4 = (a: string) => Uint32Array.of(a.split('.').reduce((x, o) => ((x << 8) | Number(o)) >>> 0, 0), 0, 0, 0);
    expect(r.isInside(4, v4('10.1.0.2'), 0)).toBe(true);
    expect(r.isInside(4, v4('10.1.9.9'), 0)).toBe(true);
    expect(r.isInside(4, v4('10.1.5.1'), 0)).toBe(false);
    expect(r.isInside(4, v4('198.51.100.1'), 0)).toBe(false);
    expect(r.isInside(6, Uint32Array.of(0x20010db8, 0x00100000, 0, 2), 0)).toBe(true);
    expect(r.isInside(6, Uint32Array.of(0x20010db8, 0x00100000, 0, 3), 0)).toBe(false);
    expect(() => new LabRoutes(['nonsense'])).toThrow(/not an IPv4 or IPv6 address/);
  });
});

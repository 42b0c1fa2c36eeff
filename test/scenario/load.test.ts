import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { loadScenario, parseScenario } from '../../src/scenario/load.js';
import { parseShard, shardPoints } from '../../src/scenario/sweep.js';
import { parseDuration, parsePacketRate, parseQuantity, parseShare, parseSize } from '../../src/scenario/units.js';
import { repoRoot } from '../support/shared.js';

const scenarios = resolve(repoRoot, 'fixtures/scenarios');

function errorOf(text: string, options = { checkFiles: false }): string {
  try {
    parseScenario(text, 'bad.yaml', options);
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return (err as InputError).message;
  }
  throw new Error('expected an InputError');
}

const minimal = `name: t
trace:
  generate: { pattern: uniform, flows: 10, packets: 100, pps: 1k }
`;

describe('units', () => {
  it('reads sizes with binary and quantities with decimal suffixes', () => {
    expect(parseSize('64k')).toBe(65536);
    expect(parseSize('1M')).toBe(1048576);
    expect(parseSize(256)).toBe(256);
    expect(parseQuantity('200k')).toBe(200000);
    expect(parseQuantity('1.6M')).toBe(1600000);
    expect(parseQuantity('24Ki')).toBe(24576);
    expect(parsePacketRate('700kpps')).toBe(700000);
    expect(parsePacketRate('1.2Mpps')).toBe(1200000);
    expect(parseDuration('5d')).toBe(432000);
    expect(parseDuration('500ms')).toBe(0.5);
    expect(parseDuration(30)).toBe(30);
    expect(parseShare('10%')).toBe(0.1);
  });
  it('names the wrong unit', () => {
    expect(parseSize('64q')).toMatch(/"64q" is not a size/);
    expect(parseDuration('5 parsecs')).toMatch(/not a duration/);
    expect(parseQuantity('1.5')).toMatch(/not a whole number/);
    expect(parseShare(1.5)).toMatch(/not between 0 and 1/);
    expect(parsePacketRate('7kbps')).toMatch(/not a packet rate/);
  });
});

describe('scenario schema errors name file and line', () => {
  it('unknown key at the key', () => {
    expect(errorOf(`${minimal}conntrack:\n  buckets: 64k\n  bukets: 1\n`)).toBe('bad.yaml:6: conntrack.bukets: unknown key');
  });
  it('wrong unit at the value', () => {
    expect(errorOf(`${minimal}conntrack:\n  timeouts:\n    tcp_established: 5 fortnights\n`)).toBe(
      'bad.yaml:6: conntrack.timeouts.tcp_established: "5 fortnights" is not a duration (a number with ms, s, m, h or d)',
    );
  });
  it('missing required key', () => {
    expect(errorOf('name: t\ntrace:\n  generate: { pattern: uniform, packets: 1, pps: 1 }\n')).toBe('bad.yaml:3: trace.generate.flows: missing (required)');
  });
  it('bad enum lists the choices', () => {
    expect(errorOf(`${minimal}cores:\n  policy: random\n`)).toBe('bad.yaml:5: cores.policy: "random" is not one of rss, rss-symmetric, round-robin, src-ip, source-ip, single-queue, single');
  });
  it('reports every problem, each with its line', () => {
    const msg = errorOf(`${minimal}workers: 0\nbatch: big\nfoo: 1\n`);
    expect(msg.split('\n')).toEqual([
      'bad.yaml:4: workers: must be at least 1',
      'bad.yaml:5: batch: "big" is not a size (a whole number, optionally with k, M, G, Ki, Mi or Gi)',
      'bad.yaml:6: foo: unknown key',
      '(3 problems)',
    ]);
  });
  it('trace needs exactly one of file and generate', () => {
    expect(errorOf('name: t\ntrace:\n  loops: 2\n')).toBe('bad.yaml:3: trace: give exactly one of trace.file and trace.generate');
  });
  it('bad YAML and a non-mapping', () => {
    expect(errorOf('name: t\n  trace: [\n')).toMatch(/^bad\.yaml:\d+: not valid YAML: /);
    expect(errorOf('- 1\n- 2\n')).toBe('bad.yaml:1: a scenario is a YAML mapping (name:, trace:, …)');
    expect(errorOf('name: t\nname: u\n')).toMatch(/^bad\.yaml:2: not valid YAML: .*unique/i);
  });
  it('missing files are named with the line that refers to them', () => {
    expect(errorOf('name: t\ntrace:\n  file: nowhere.pcap\n', { checkFiles: true })).toBe(
      `bad.yaml:3: trace.file: no such file: ${resolve('nowhere.pcap')}`,
    );
    expect(errorOf('name: t\ntrace:\n  generate: { pattern: uniform, flows: 1, packets: 1, pps: 1 }\nruleset:\n  file: a.rules\nsweep:\n  ruleset: [a.rules, b.rules]\n', { checkFiles: true }).split('\n')).toEqual([
      `bad.yaml:5: ruleset.file: no such file: ${resolve('a.rules')}`,
      `bad.yaml:7: sweep.ruleset[0]: no such file: ${resolve('a.rules')}`,
      `bad.yaml:7: sweep.ruleset[1]: no such file: ${resolve('b.rules')}`,
      '(3 problems)',
    ]);
    expect(() => loadScenario('/nonexistent/x.yaml')).toThrow('/nonexistent/x.yaml: no such scenario file');
  });
  it('sweep values are validated like the setting they replace', () => {
    expect(errorOf(`${minimal}sweep:\n  buckets: [64k, lots]\n`)).toBe(
      'bad.yaml:5: sweep.buckets[1]: conntrack.buckets: "lots" is not a size (a whole number, optionally with k, M, G, Ki, Mi or Gi)',
    );
    expect(errorOf(`${minimal}sweep:\n  conntrack.bukets: [1, 2]\n`)).toBe('bad.yaml:5: sweep.conntrack.bukets: conntrack.bukets is not a setting of the scenario');
    expect(errorOf(`${minimal}sweep:\n  htsize: [256]\n`)).toBe('bad.yaml:5: sweep.htsize: tc.fwBuckets is not set in this scenario (sweep an axis of a section the scenario has)');
    expect(errorOf(`${minimal}sweep:\n  workers: [1, 1]\n`)).toBe('bad.yaml:5: sweep.workers: a value appears twice');
    expect(errorOf(`${minimal}sweep:\n  workers: []\n`)).toBe('bad.yaml:5: sweep.workers: a sweep axis needs at least one value');
  });
});

describe('sweep and shards', () => {
  const s = parseScenario(`${minimal}sweep:\n  buckets: [1k, 2k, 4k]\n  workers: [1, 2]\n`, 'x.yaml', { checkFiles: false });
  it('expands the cartesian product, last axis fastest, values applied to the config', () => {
    expect(s.points.map((p) => p.id)).toEqual([
      'buckets=1024,workers=1', 'buckets=1024,workers=2', 'buckets=2048,workers=1',
      'buckets=2048,workers=2', 'buckets=4096,workers=1', 'buckets=4096,workers=2',
    ]);
    expect(s.points[3]!.config.conntrack.buckets).toBe(2048);
    expect(s.points[3]!.config.workers).toBe(2);
    expect(s.config.conntrack.buckets).toBe(65536);
    expect(s.hash).toMatch(/^sha256:[0-9a-f]{64}$/);
  });
  it('shards partition the points', () => {
    const shards = [1, 2, 3, 4].map((i) => shardPoints(s.points, { index: i, count: 4 }).map((p) => p.index));
    expect(shards).toEqual([[0, 4], [1, 5], [2], [3]]);
    expect(shards.flat().sort()).toEqual([0, 1, 2, 3, 4, 5]);
    expect(parseShard('2/4')).toEqual({ index: 2, count: 4 });
    for (const bad of ['0/4', '5/4', '2', 'a/b', '1/0']) expect(() => parseShard(bad)).toThrow(/--shard/);
  });
});

describe('bundled scenarios', () => {
  const files = readdirSync(scenarios).filter((f) => f.endsWith('.yaml'));
  it('has the default, the five Selfnet findings and selfnet-peak', () => {
    expect(files.sort()).toEqual([
      'conntrack-buckets.yaml', 'default.yaml', 'forward-established.yaml', 'htb-fw-classes.yaml',
      'selfnet-peak.yaml', 'shaper-lock.yaml', 'single-flow.yaml',
    ]);
  });
  // Generated traces (fixtures/traces/default.pcap) come from the generator at merge; files that
  // ship here (the rulesets) are checked.
  it.each(files)('%s loads and expands', (f) => {
    const s = loadScenario(join(scenarios, f), { checkFiles: !f.startsWith('default') });
    expect(s.config.name).toBe(f.replace(/\.yaml$/, ''));
    expect(s.points.length).toBe(s.axes.reduce((n, a) => n * a.values.length, 1));
  });
  it('encodes the findings', () => {
    const ct = loadScenario(join(scenarios, 'conntrack-buckets.yaml'));
    expect(ct.points.map((p) => p.config.conntrack.buckets)).toEqual([65536, 1048576]);
    expect(ct.config.trace.generate?.flows).toBe(200000);
    const htb = loadScenario(join(scenarios, 'htb-fw-classes.yaml'));
    expect(htb.points.map((p) => p.config.tc?.fwBuckets)).toEqual([256, 32768]);
    expect(htb.config.tc?.generate?.classes).toBe(24000);
    const fwd = loadScenario(join(scenarios, 'forward-established.yaml'));
    expect(fwd.points.map((p) => p.config.ruleset?.file)).toEqual([
      'rulesets/forward-established-first.rules', 'rulesets/forward-established-last.rules',
    ]);
    expect(loadScenario(join(scenarios, 'shaper-lock.yaml')).points.map((p) => p.config.cores.count)).toEqual([1, 2, 4, 8]);
    expect(loadScenario(join(scenarios, 'single-flow.yaml')).points.map((p) => p.id)).toEqual([
      'pattern=single-flow,policy=rss', 'pattern=single-flow,policy=source-ip',
      'pattern=single-service,policy=rss', 'pattern=single-service,policy=source-ip',
    ]);
    const peak = loadScenario(join(scenarios, 'selfnet-peak.yaml'));
    expect([peak.config.ruleset?.generate?.rules, peak.config.tc?.generate?.classes, peak.config.trace.generate?.pps]).toEqual([1600000, 24000, 700000]);
    const def = loadScenario(join(scenarios, 'default.yaml'), { checkFiles: false });
    expect(def.config.trace.file).toBe('../traces/default.pcap');
  });
  it('a scenario written to disk resolves files relative to itself', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pktbench-scn-'));
    writeFileSync(join(dir, 't.pcap'), '');
    writeFileSync(join(dir, 's.yaml'), 'name: s\ntrace:\n  file: t.pcap\n');
    expect(loadScenario(join(dir, 's.yaml')).points).toHaveLength(1);
  });
});

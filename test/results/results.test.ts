import Ajv from 'ajv';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputError, UsageError } from '../../src/errors.js';
import { compareResults } from '../../src/results/compare.js';
import { toBencherMetricFormat, toGithubActionBenchmark } from '../../src/results/export.js';
import { comparisonMarkdown, comparisonText, formatNumber } from '../../src/results/format.js';
import { mergeResults } from '../../src/results/merge.js';
import { parseResults, RESULTS_SCHEMA_ID, ResultsSchema } from '../../src/results/schema.js';
import { readResults, writeResults } from '../../src/results/write.js';
import { repoRoot } from '../support/shared.js';
import { sampleResults } from './sample.js';

const jsonSchema = JSON.parse(readFileSync(resolve(repoRoot, 'schema/results-v1.json'), 'utf8')) as Record<string, unknown>;
const ajv = new Ajv({ allErrors: true });
const validate = ajv.compile(jsonSchema);

const base = sampleResults({ 'buckets=65536': [100, 101, 102, 103, 104, 105], 'buckets=1048576': [50, 51, 52, 53, 54, 55] });

describe('results schema', () => {
  it('the JSON Schema file is the one the results point to', () => {
    expect(jsonSchema.$id).toBe(RESULTS_SCHEMA_ID);
    expect(jsonSchema.$schema).toBe('http://json-schema.org/draft-07/schema#');
  });
  it('a written file passes both the JSON Schema (ajv) and zod, and reads back equal', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pktbench-res-'));
    const withExtras = structuredClone(base);
    withExtras.points[0]!.metrics[0]!.histogram = { labels: ['0', '1', '2+'], counts: [5, 3, 1] };
    withExtras.points[0]!.metrics[0]!.perCore = [0.5, 0.25, 0.25];
    writeResults(join(dir, 'r.json'), withExtras);
    const json: unknown = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8'));
    expect(validate(json), JSON.stringify(validate.errors)).toBe(true);
    expect(readResults(join(dir, 'r.json'))).toEqual(withExtras);
  });
  // Each mutation breaks the format; the JSON Schema and zod must both reject it.
  const mutations: [string, (r: Record<string, unknown> & ReturnType<typeof structuredClone<typeof base>>) => void][] = [
    ['unknown top-level key', (r) => ((r as Record<string, unknown>).extraKey = 1)],
    ['wrong schemaVersion', (r) => ((r as Record<string, unknown>).schemaVersion = 2)],
    ['bad direction', (r) => ((r.points[0]!.metrics[0] as Record<string, unknown>).direction = 'up')],
    ['no samples', (r) => (r.points[0]!.metrics[0]!.samples = [])],
    ['summary without median', (r) => delete (r.points[0]!.metrics[0]!.summary as Partial<typeof r.points[0]['metrics'][0]['summary']>).median],
    ['param value is an object', (r) => ((r.points[0]!.params as Record<string, unknown>).x = { a: 1 })],
    ['missing environment field', (r) => delete (r.environment as Partial<typeof r.environment>).cpuModel],
    ['shard index 0', (r) => (r.scenario.shard = { index: 0, count: 2 })],
    ['unknown kind', (r) => ((r as Record<string, unknown>).kind = 'other')],
  ];
  it.each(mutations)('JSON Schema and zod agree: %s is rejected', (_name, mutate) => {
    const r = structuredClone(base) as Parameters<typeof mutate>[0];
    mutate(r);
    expect(validate(r)).toBe(false);
    expect(ResultsSchema.safeParse(r).success).toBe(false);
  });
  it('refuses foreign, corrupt and other-version files with the file named', () => {
    expect(() => parseResults('{"a":', 'x.json')).toThrow(/^x\.json(: byte \d+)?: not JSON/);
    expect(() => parseResults('[1,2]', 'x.json')).toThrow('x.json: not a pktbench results file (expected a JSON object)');
    expect(() => parseResults('{"benchmarks":[]}', 'x.json')).toThrow('x.json: not a pktbench results file ($schema is null, expected https://pktbench.dev/schema/results-v1.json)');
    expect(() => parseResults(JSON.stringify({ ...base, $schema: 'https://pktbench.dev/schema/results-v2.json' }), 'x.json')).toThrow('x.json: results schema version 2; this pktbench reads version 1');
    const broken = structuredClone(base) as unknown as { points: { metrics: { unit?: string }[] }[] };
    delete broken.points[1]!.metrics[0]!.unit;
    expect(() => parseResults(JSON.stringify(broken), 'x.json')).toThrow(/^x\.json: not a valid results file: points\[1\]\.metrics\[0\]\.unit: /);
    expect(() => readResults('/nonexistent.json')).toThrow(InputError);
  });
});

describe('compare', () => {
  it('detects a significant change and classifies it by direction', () => {
    const head = sampleResults({ 'buckets=65536': [110, 111, 112, 113, 114, 115], 'buckets=1048576': [50.5, 51, 52, 53, 54, 54.5] });
    const c = compareResults(base, 'base.json', head, 'head.json', { threshold: 0.05, alpha: 0.05 });
    const [slow, same] = c.rows;
    // Complete separation of 6 vs 6: exact p = 2/C(12,6) = 2/924.
    expect(slow).toMatchObject({ point: 'buckets=65536', ratio: 112.5 / 102.5, significant: true, verdict: 'worse', regression: true });
    expect(slow!.p).toBeCloseTo(2 / 924, 15);
    expect(same).toMatchObject({ point: 'buckets=1048576', ratio: 1, significant: false, verdict: 'same', regression: false });
    expect(c.regressions).toBe(1);
    expect(c.geomeans).toEqual([{ metric: 'ns-per-packet', unit: 'ns', direction: 'lower', ratio: Math.sqrt(112.5 / 102.5), points: 2 }]);
    const md = comparisonMarkdown(c, 'base.json', 'head.json');
    expect(md).toContain('| buckets=65536 | ns-per-packet (lower is better) | 102.5 ns ± 2% | 112.5 ns ± 2% | +9.8% worse ❌ (p=0.002 n=6+6) |');
    expect(md).toContain('| buckets=1048576 | ns-per-packet (lower is better) | 52.5 ns ± 5% | 52.5 ns ± 4% | ~ (p=1.000 n=6+6) |');
    expect(md).toContain('| ns-per-packet (lower is better) | +4.8% | 2 |');
    expect(md).toContain('**❌ 1 significant regression beyond 5%.**');
    expect(comparisonText(c, 'base', 'head')).toMatch(/~ \(p=1\.000 n=6\+6\)\n.*geomean.*\+4\.8%\n1 significant regression beyond 5%\n$/s);
  });
  it('a significant change below the threshold or in the better direction is no regression', () => {
    const faster = sampleResults({ 'buckets=65536': [90, 91, 92, 93, 94, 95], 'buckets=1048576': [50, 51, 52, 53, 54, 55] });
    expect(compareResults(base, 'b', faster, 'h').rows[0]).toMatchObject({ verdict: 'better', regression: false });
    const slightly = sampleResults({ 'buckets=65536': [106, 106.5, 107, 107.5, 108, 108.5], 'buckets=1048576': [50, 51, 52, 53, 54, 55] });
    const c = compareResults(base, 'b', slightly, 'h', { threshold: 0.05, alpha: 0.05 });
    expect(c.rows[0]).toMatchObject({ verdict: 'worse', regression: false });
    expect(compareResults(base, 'b', slightly, 'h', { threshold: 0.03, alpha: 0.05 }).regressions).toBe(1);
  });
  it('refuses different scenarios and changed scenario files', () => {
    expect(() => compareResults(base, 'b', sampleResults({ 'buckets=1': [1] }, { name: 'other' }), 'h')).toThrow('cannot compare different scenarios: b is "ct", h is "other"');
    expect(() => compareResults(base, 'b', sampleResults({ 'buckets=1': [1] }, { hash: 'sha256:bbbb' }), 'h')).toThrow(/scenario "ct" changed between b .* and h/);
  });
  it('lists points measured on one side only', () => {
    const head = sampleResults({ 'buckets=65536': [100, 101, 102, 103, 104, 105], 'buckets=4096': [1, 2, 3] });
    const c = compareResults(base, 'b', head, 'h');
    expect(c.onlyInBase).toEqual(['buckets=1048576 ns-per-packet']);
    expect(c.onlyInHead).toEqual(['buckets=4096 ns-per-packet']);
  });
  it('formats numbers with SI prefixes', () => {
    expect([formatNumber(1234567), formatNumber(0.00123), formatNumber(999.99), formatNumber(102.5), formatNumber(0), formatNumber(0.99434), formatNumber(0.0361)]).toEqual(['1.235M', '1.23m', '1k', '102.5', '0', '0.9943', '0.0361']);
  });
});

describe('exports', () => {
  // n = 6: the 95 % order-statistic interval is [min, max] with coverage 1 − 2/64 ≈ 97 %.
  it('github-action-benchmark: one direction per file', () => {
    const gab = toGithubActionBenchmark(base);
    expect(gab).toHaveLength(2);
    expect(gab[0]).toEqual({
      name: 'ct buckets=65536 ns-per-packet',
      unit: 'ns',
      value: 102.5,
      range: '± 2.5',
      extra: 'median of 6 samples; 97% CI 100..105; commit 0123456789abcdef0123456789abcdef01234567',
    });
    expect(toGithubActionBenchmark(base, 'higher')).toEqual([]);
    const mixed = structuredClone(base);
    mixed.points[0]!.metrics.push({ ...mixed.points[0]!.metrics[0]!, name: 'pps', unit: 'pps', direction: 'higher' });
    expect(() => toGithubActionBenchmark(mixed)).toThrow(UsageError);
    expect(toGithubActionBenchmark(mixed, 'higher').map((e) => e.name)).toEqual(['ct buckets=65536 pps']);
  });
  it('Bencher Metric Format', () => {
    expect(toBencherMetricFormat(base)).toEqual({
      'ct buckets=65536': { 'ns-per-packet': { value: 102.5, lower_value: 100, upper_value: 105 } },
      'ct buckets=1048576': { 'ns-per-packet': { value: 52.5, lower_value: 50, upper_value: 55 } },
    });
  });
});

describe('merge', () => {
  const shard = (ids: string[], index: number) => {
    const whole = sampleResults({ 'buckets=1': [1, 2], 'buckets=2': [3, 4], 'buckets=3': [5, 6] });
    whole.points = whole.points.filter((p) => ids.includes(p.id));
    whole.scenario.shard = { index, count: 2 };
    return whole;
  };
  it('joins shards in sweep order and reports missing points', () => {
    const { merged, missing } = mergeResults([{ name: 'b.json', results: shard(['buckets=2'], 2) }, { name: 'a.json', results: shard(['buckets=1', 'buckets=3'], 1) }]);
    expect(merged.points.map((p) => p.id)).toEqual(['buckets=1', 'buckets=2', 'buckets=3']);
    expect(merged.scenario.shard).toBeNull();
    expect(missing).toEqual([]);
    expect(validate(merged)).toBe(true);
    expect(mergeResults([{ name: 'a.json', results: shard(['buckets=1'], 1) }]).missing).toEqual([1, 2]);
  });
  it('refuses mixed scenarios and conflicting duplicates', () => {
    expect(() => mergeResults([{ name: 'a', results: shard(['buckets=1'], 1) }, { name: 'b', results: sampleResults({ 'buckets=1': [1] }, { name: 'x' }) }])).toThrow(
      'cannot merge different scenarios: a is "ct", b is "x"',
    );
    const other = shard(['buckets=1'], 2);
    other.points[0]!.metrics[0]!.samples = [9, 9];
    expect(() => mergeResults([{ name: 'a', results: shard(['buckets=1'], 1) }, { name: 'b', results: other }])).toThrow(/point buckets=1 is in both a and b with different measurements/);
  });
});

describe('atomic write', () => {
  it('leaves no temp file and replaces the old content', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pktbench-atomic-'));
    const path = join(dir, 'r.json');
    writeFileSync(path, 'old');
    writeResults(path, base);
    expect(readResults(path)).toEqual(base);
    expect(readFileSync(path, 'utf8').endsWith('\n')).toBe(true);
  });
});

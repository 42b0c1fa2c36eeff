import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderReport, reportData } from '../../src/results/report/html.js';
import type { ResultsFile } from '../../src/results/schema.js';
import { emptyResults, toResultMetric } from '../../src/results/write.js';
import { repoRoot } from '../support/shared.js';
import { fixedEnvironment } from './sample.js';

const chromiumPath = process.env.PKTBENCH_CHROMIUM ?? '/usr/bin/chromium';
const hasChromium = existsSync(chromiumPath);
if (!hasChromium) process.stderr.write(`skipped: the report browser test needs Chromium at ${chromiumPath} (apt-get install chromium, or set PKTBENCH_CHROMIUM)\n`);

/** A buckets × workers sweep with chain-length histograms and per-core load, slower by `factor`. */
function run(factor: number): ResultsFile {
  const r = emptyResults(
    'scenario',
    { name: 'ct', description: 'test', hash: 'sha256:cafe', file: 'ct.yaml', axes: [{ name: 'buckets', values: [65536, 262144, 1048576] }, { name: 'workers', values: [1, 2, 4] }], totalPoints: 9, shard: null },
    fixedEnvironment,
  );
  let index = 0;
  for (const buckets of [65536, 262144, 1048576]) {
    for (const workers of [1, 2, 4]) {
      const chain = 200000 / buckets;
      r.points.push({
        index: index++,
        id: `buckets=${buckets},workers=${workers}`,
        params: { buckets, workers },
        startedAt: fixedEnvironment.startedAt,
        durationMs: 5,
        metrics: [
          toResultMetric({ name: 'ns-per-packet', unit: 'ns', direction: 'lower', samples: [1, 2, 3, 4, 5].map((i) => factor * (80 + 20 * chain + i)) }),
          toResultMetric({ name: 'packets-per-second', unit: 'pps', direction: 'higher', samples: [1, 2, 3].map((i) => (workers * 1e6) / (factor * (1 + chain / 10)) + i) }),
          toResultMetric({
            name: 'chain-length',
            unit: 'entries',
            direction: 'lower',
            samples: [chain],
            histogram: { labels: ['0', '1', '2', '3', '4', '5+'], counts: [0, 1, 2, 3, 4, 5].map((k) => Math.round(1000 * Math.exp(-chain) * chain ** k / [1, 1, 2, 6, 24, 120][k]!)) },
            perCore: Array.from({ length: 4 }, (_, c) => (c < workers ? 1 / workers : 0)),
          }),
        ],
      });
    }
  }
  return r;
}

describe('report HTML', () => {
  it('is self-contained: Chart.js and the data inline, no external URL loaded', () => {
    const html = renderReport([{ name: 'base.json', results: run(1) }]);
    expect(html).toContain('Chart.js v4');
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=/);
    expect(html.match(/<\/script>/g)).toHaveLength(3);
  });
  it('compares the first two runs, or says why not', () => {
    // ns-per-packet: 5 vs 5 fully separated samples, p = 2/252 → 9 regressions; packets-per-second has
    // 3 samples (smallest possible p = 0.1) and chain-length 1: never significant.
    expect(reportData([{ name: 'a', results: run(1) }, { name: 'b', results: run(1.2) }]).comparison?.result.regressions).toBe(9);
    const other = run(1);
    other.scenario.hash = 'sha256:beef';
    expect(reportData([{ name: 'a', results: run(1) }, { name: 'b', results: other }]).comparisonNote).toMatch(/scenario "ct" changed between a/);
  });
});

describe.skipIf(!hasChromium)('report in headless Chromium', () => {
  it('loads without console errors and every chart has drawn data', async () => {
    const { chromium } = await import('playwright-core');
    const artifacts = resolve(repoRoot, 'test-artifacts');
    mkdirSync(artifacts, { recursive: true });
    const file = resolve(artifacts, 'report.html');
    writeFileSync(file, renderReport([{ name: 'base.json', results: run(1) }, { name: 'head.json', results: run(1.2) }]));
    const browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const problems: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
      page.on('request', (r) => {
        if (!r.url().startsWith('file:')) problems.push(`network: ${r.url()}`);
      });
      await page.goto(`file://${file}`);
      const charts = await page.evaluate(() => {
        // The test project has no DOM typings: the few browser shapes used here.
        interface Canvas { width: number; height: number; getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } | null }
        type Win = { pktbenchCharts: { title: string; kind: string; chart: { canvas: Canvas; data: { datasets: { data: (number | null)[] }[] } } }[] };
        return (globalThis as unknown as Win).pktbenchCharts.map(({ title, kind, chart }) => {
          const c = chart.canvas;
          const pixels = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
          let painted = 0;
          for (let i = 3; i < pixels.length; i += 4) if (pixels[i]! > 0) painted++;
          return {
            title,
            kind,
            points: chart.data.datasets.reduce((n, d) => n + d.data.filter((v) => typeof v === 'number').length, 0),
            painted,
            size: [c.width, c.height],
          };
        });
      });
      expect(problems).toEqual([]);
      const kinds = new Set(charts.map((c) => c.kind));
      expect([...kinds].sort()).toEqual(['comparison', 'histogram', 'per-core', 'scaling', 'sweep']);
      // 2 runs × 3 metrics × 2 axes (buckets: sweep, workers: scaling) + 2 × (per-core + histogram) + 1 comparison.
      expect(charts).toHaveLength(12 + 4 + 1);
      for (const c of charts) {
        expect(c.points, c.title).toBeGreaterThan(0);
        expect(c.painted, `${c.title} is blank`).toBeGreaterThan(500);
      }
      const comparison = charts.find((c) => c.kind === 'comparison')!;
      expect(comparison.points).toBe(27);
      await page.screenshot({ path: resolve(artifacts, 'report.png'), fullPage: true });
      expect(statSync(resolve(artifacts, 'report.png')).size).toBeGreaterThan(10_000);

      // A run without sweep axes (a benchmark suite) gets one samples chart per metric.
      const single = emptyResults('bench', { name: 'suite', description: '', hash: 'sha256:1', file: null, axes: [], totalPoints: 1, shard: null }, fixedEnvironment);
      single.points.push({ index: 0, id: 'base', params: {}, startedAt: fixedEnvironment.startedAt, durationMs: 0, metrics: [toResultMetric({ name: 'decode', unit: 'µs', direction: 'lower', samples: [3, 4, 5] })] });
      writeFileSync(resolve(artifacts, 'report-bench.html'), renderReport([{ name: 'suite.json', results: single }]));
      await page.goto(`file://${resolve(artifacts, 'report-bench.html')}`);
      const benchCharts = await page.evaluate(() => {
        type Win = { pktbenchCharts: { kind: string; chart: { data: { datasets: { data: number[] }[] } } }[] };
        return (globalThis as unknown as Win).pktbenchCharts.map((c) => [c.kind, c.chart.data.datasets[0]!.data]);
      });
      expect(benchCharts).toEqual([['samples', [3, 4, 5]]]);
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});

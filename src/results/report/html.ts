/**
 * `pktbench report`: one self-contained HTML file. Chart.js's UMD build and the data are inlined,
 * so the page needs no network when it is viewed (a CI artifact opened offline).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { compareResults, type Comparison } from '../compare.js';
import type { ResultsFile } from '../schema.js';
import { CLIENT_SCRIPT } from './client.js';

export interface ReportRun {
  name: string;
  results: ResultsFile;
}

export interface ReportData {
  runs: ReportRun[];
  comparison: { base: string; head: string; result: Comparison } | null;
  /** Why two runs were given but cannot be compared. */
  comparisonNote: string | null;
}

let chartJsSource: string | null = null;

/** Chart.js's minified UMD build, read once from node_modules. */
export function chartJs(): string {
  if (chartJsSource === null) {
    const require = createRequire(import.meta.url);
    chartJsSource = readFileSync(join(dirname(require.resolve('chart.js')), 'chart.umd.min.js'), 'utf8');
  }
  return chartJsSource;
}

/** Text safe inside <script>: no `</script`, no `<!--`. */
function scriptSafe(text: string): string {
  return text.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

export function reportData(runs: readonly ReportRun[]): ReportData {
  let comparison: ReportData['comparison'] = null;
  let comparisonNote: string | null = null;
  if (runs.length >= 2) {
    const [base, head] = [runs[0]!, runs[1]!];
    try {
      comparison = { base: base.name, head: head.name, result: compareResults(base.results, base.name, head.results, head.name) };
    } catch (err) {
      comparisonNote = err instanceof Error ? err.message : String(err);
    }
  }
  return { runs: [...runs], comparison, comparisonNote };
}

const STYLE = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1200px; padding: 1em 2em; color: #222; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; } h3 { font-size: 1.05em; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 1.5em; }
.chart { position: relative; height: 300px; }
table { border-collapse: collapse; margin: 0.5em 0; } td, th { border: 1px solid #ddd; padding: 2px 8px; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.better { color: #1a7f37; } .worse { color: #cf222e; } .same { color: #666; }
.env { color: #555; font-size: 0.9em; }
`;

export function renderReport(runs: readonly ReportRun[]): string {
  const data = reportData(runs);
  const title = `pktbench report: ${[...new Set(runs.map((r) => r.results.scenario.name))].join(', ')}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
<div id="app"></div>
<script type="application/json" id="pktbench-data">${scriptSafe(JSON.stringify(data))}</script>
<script>${scriptSafe(chartJs())}</script>
<script>${scriptSafe(CLIENT_SCRIPT)}</script>
</body>
</html>
`;
}

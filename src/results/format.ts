/** Text renderings of comparisons and runs: markdown (for $GITHUB_STEP_SUMMARY), plain text, tables. */
import type { Comparison, CompareRow } from './compare.js';
import type { Summary } from './stats.js';

/** 4 significant digits with an SI prefix: 1234567 → "1.235M", 0.00123 → "1.230m". */
export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  const a = Math.abs(v);
  // Fractions a reader sees as such (0.9943 entries, 0.0361 share) stay plain; only tiny values take m/µ/n.
  if (a < 0.99995 && a >= 0.01) return String(Number(v.toPrecision(4)));
  const prefixes: [number, string][] = [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k'], [1, ''], [1e-3, 'm'], [1e-6, 'µ'], [1e-9, 'n']];
  for (const [scale, p] of prefixes) {
    if (a >= scale * 0.99995) return `${Number((v / scale).toPrecision(4))}${p}`;
  }
  return v.toExponential(3);
}

/** "123.4 ± 2%": median and the half-width of its CI relative to it. */
export function formatSummary(s: Summary, unit: string): string {
  const half = (s.ciHigh - s.ciLow) / 2;
  const rel = s.median !== 0 ? Math.round((100 * half) / Math.abs(s.median)) : 0;
  return `${formatNumber(s.median)} ${unit} ± ${rel}%`;
}

export function formatPercent(ratio: number): string {
  const pct = (ratio - 1) * 100;
  const text = `${Math.abs(pct) < 0.05 ? '0.0' : pct.toFixed(1)}%`;
  return pct > 0 ? `+${text}` : text.replace('-', '−');
}

function formatP(p: number): string {
  return p < 0.001 ? 'p<0.001' : `p=${p.toFixed(3)}`;
}

/** benchstat's third column: `~` when not significant, else the change (and whether it is better). */
export function changeCell(r: CompareRow): string {
  const stats = `(${formatP(r.p)} n=${r.base.n}+${r.head.n})`;
  if (!r.significant) return `~ ${stats}`;
  return `${formatPercent(r.ratio)} ${r.verdict}${r.regression ? ' ❌' : ''} ${stats}`;
}

function directionWord(d: 'higher' | 'lower'): string {
  return d === 'higher' ? 'higher is better' : 'lower is better';
}

function verdictLine(c: Comparison): string {
  const t = `${(c.options.threshold * 100).toFixed(1).replace(/\.0$/, '')}%`;
  return c.regressions > 0
    ? `${c.regressions} significant regression${c.regressions > 1 ? 's' : ''} beyond ${t}`
    : `no significant regression beyond ${t}`;
}

function escapeMd(s: string): string {
  return s.replace(/\|/g, '\\|');
}

export function comparisonMarkdown(c: Comparison, baseName: string, headName: string): string {
  const out: string[] = [];
  out.push(`### pktbench compare: \`${c.scenario}\``);
  out.push('');
  out.push(`Base \`${escapeMd(baseName)}\` (${c.baseEnvironment.gitCommit?.slice(0, 12) ?? 'no commit'}) vs head \`${escapeMd(headName)}\` (${c.headEnvironment.gitCommit?.slice(0, 12) ?? 'no commit'}). Medians ± 95% CI; Mann–Whitney U, α = ${c.options.alpha}; \`~\` = no significant change.`);
  out.push('');
  out.push('| point | metric | base | head | change |');
  out.push('|---|---|--:|--:|---|');
  for (const r of c.rows) {
    out.push(`| ${escapeMd(r.point)} | ${escapeMd(r.metric)} (${directionWord(r.direction)}) | ${formatSummary(r.base, r.unit)} | ${formatSummary(r.head, r.unit)} | ${changeCell(r)} |`);
  }
  out.push('');
  out.push('| metric | geomean head/base | points |');
  out.push('|---|--:|--:|');
  for (const g of c.geomeans) out.push(`| ${escapeMd(g.metric)} (${directionWord(g.direction)}) | ${formatPercent(g.ratio)} | ${g.points} |`);
  out.push('');
  if (c.onlyInBase.length) out.push(`Only in base: ${c.onlyInBase.map((s) => `\`${s}\``).join(', ')}`, '');
  if (c.onlyInHead.length) out.push(`Only in head: ${c.onlyInHead.map((s) => `\`${s}\``).join(', ')}`, '');
  out.push(`**${c.regressions > 0 ? '❌ ' : '✅ '}${verdictLine(c)}.**`);
  return `${out.join('\n')}\n`;
}

/** Left-aligned columns separated by two spaces. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, [...cell].length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell + ' '.repeat(widths[i]! - [...cell].length))).join('  ')).join('\n') + '\n';
}

export function comparisonText(c: Comparison, baseName: string, headName: string): string {
  const rows: string[][] = [['point', 'metric', baseName, headName, 'vs base']];
  for (const r of c.rows) rows.push([r.point, r.metric, formatSummary(r.base, r.unit), formatSummary(r.head, r.unit), changeCell(r)]);
  for (const g of c.geomeans) rows.push(['geomean', g.metric, '', '', formatPercent(g.ratio)]);
  let text = table(rows);
  if (c.onlyInBase.length) text += `only in base: ${c.onlyInBase.join(', ')}\n`;
  if (c.onlyInHead.length) text += `only in head: ${c.onlyInHead.join(', ')}\n`;
  return `${text}${verdictLine(c)}\n`;
}

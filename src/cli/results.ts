import { InvalidArgumentError, Option, type Command } from 'commander';
import { ExitCode, RunFailure } from '../errors.js';
import { compareResults, DEFAULT_COMPARE } from '../results/compare.js';
import { toBencherMetricFormat, toGithubActionBenchmark } from '../results/export.js';
import { comparisonMarkdown, comparisonText } from '../results/format.js';
import { mergeResults } from '../results/merge.js';
import { renderReport } from '../results/report/html.js';
import { readResults, writeFileAtomic, writeResults } from '../results/write.js';

/** A percentage: "5%" and "5" both mean five percent (0.05). */
export function parseThreshold(value: string): number {
  const m = /^(\d+(?:\.\d+)?)%?$/.exec(value.trim());
  if (!m) throw new InvalidArgumentError(`not a percentage: ${value} (e.g. 5%)`);
  return Number(m[1]) / 100;
}

function parseAlpha(value: string): number {
  const n = Number(value);
  if (!(n > 0 && n < 1)) throw new InvalidArgumentError(`not a significance level in (0, 1): ${value}`);
  return n;
}

function emit(text: string, output: string | undefined): void {
  if (output) writeFileAtomic(output, text);
  else process.stdout.write(text);
}

export interface CompareArgs {
  threshold: number;
  alpha: number;
  format: 'md' | 'json' | 'text';
  output?: string;
}

/** Returns the exit code: 1 when a significant regression exceeds the threshold. */
export function compareCommand(basePath: string, headPath: string, args: CompareArgs, write: (t: string) => void): number {
  const base = readResults(basePath);
  const head = readResults(headPath);
  const c = compareResults(base, basePath, head, headPath, { threshold: args.threshold, alpha: args.alpha });
  const text =
    args.format === 'json' ? `${JSON.stringify(c, null, 2)}\n` : args.format === 'md' ? comparisonMarkdown(c, basePath, headPath) : comparisonText(c, basePath, headPath);
  write(text);
  return c.regressions > 0 ? ExitCode.FAILURE : ExitCode.OK;
}

/** Registers this file's subcommands. */
export function register(program: Command): void {
  program
    .command('compare')
    .description('compare two results files: per point and metric the change of the median, Mann–Whitney U significance, geomean; exit 1 on a significant regression beyond the threshold')
    .argument('<base>', 'results JSON of the base (e.g. main)')
    .argument('<head>', 'results JSON of the head (e.g. the pull request)')
    .addOption(new Option('--threshold <percent>', 'significant changes smaller than this are not regressions').argParser(parseThreshold).default(DEFAULT_COMPARE.threshold, '5%'))
    .addOption(new Option('--alpha <p>', 'significance level of the U test').argParser(parseAlpha).default(DEFAULT_COMPARE.alpha))
    .addOption(new Option('--format <format>', 'output format').choices(['md', 'json', 'text']).default('text'))
    .option('-o, --output <file>', 'write the comparison to this file instead of stdout')
    .action((base: string, head: string, opts: CompareArgs) => {
      process.exitCode = compareCommand(base, head, opts, (t) => emit(t, opts.output));
    });

  program
    .command('merge')
    .description('join the results of the shards of one sweep into one file (refuses different scenarios)')
    .argument('<results...>', 'shard results JSON files')
    .requiredOption('-o, --output <file>', 'merged results file')
    .option('--allow-missing', 'write the merged file even when points of the sweep are missing')
    .action((files: string[], opts: { output: string; allowMissing?: boolean }) => {
      const { merged, missing } = mergeResults(files.map((f) => ({ name: f, results: readResults(f) })));
      if (missing.length > 0 && !opts.allowMissing) {
        throw new RunFailure(`${missing.length} of ${merged.scenario.totalPoints} points are missing (indexes ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ', …' : ''}); a shard failed or was not given (--allow-missing writes anyway)`);
      }
      writeResults(opts.output, merged);
      process.stdout.write(`${opts.output}: ${merged.points.length} of ${merged.scenario.totalPoints} points from ${files.length} file(s)\n`);
    });

  program
    .command('export')
    .description("write results in github-action-benchmark's custom format or Bencher Metric Format")
    .argument('<results>', 'results JSON')
    .addOption(new Option('--export <format>', 'gab = github-action-benchmark, bmf = Bencher Metric Format').choices(['gab', 'bmf']).makeOptionMandatory())
    .addOption(new Option('--direction <which>', 'gab: higher → customBiggerIsBetter, lower → customSmallerIsBetter').choices(['higher', 'lower']))
    .option('-o, --output <file>', 'write there instead of stdout')
    .action((file: string, opts: { export: 'gab' | 'bmf'; direction?: 'higher' | 'lower'; output?: string }) => {
      const results = readResults(file);
      const body = opts.export === 'gab' ? toGithubActionBenchmark(results, opts.direction) : toBencherMetricFormat(results);
      emit(`${JSON.stringify(body, null, 2)}\n`, opts.output);
    });

  program
    .command('report')
    .description('one self-contained HTML file with charts of the results (sweep and scaling curves, per-core load, histograms, a comparison of two runs)')
    .argument('<results...>', 'results JSON files (two of the same scenario add a comparison view)')
    .requiredOption('-o, --output <file>', 'HTML file to write')
    .action((files: string[], opts: { output: string }) => {
      const runs = files.map((f) => ({ name: f, results: readResults(f) }));
      writeFileAtomic(opts.output, renderReport(runs));
      process.stdout.write(`${opts.output}: report of ${files.length} run(s)\n`);
    });

}

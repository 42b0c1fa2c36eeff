import type { Command } from 'commander';
import { register as registerCt } from './ct.js';
import { register as registerGen } from './gen.js';
import { register as registerLab } from './lab.js';
import { register as registerReplay } from './replay.js';
import { register as registerResults } from './results.js';
import { register as registerRules } from './rules.js';
import { register as registerRun } from './run.js';
import { register as registerShape } from './shape.js';
import { register as registerTrace } from './trace.js';

/** Each command file adds its subcommands: trace (tuples, info), gen, ct, rules (and gen-rules),
 * shape, replay, run, results (compare, merge, report), lab (and capture, send). */
export function registerCommands(program: Command): void {
  registerRun(program);
  registerTrace(program);
  registerGen(program);
  registerCt(program);
  registerRules(program);
  registerShape(program);
  registerReplay(program);
  registerResults(program);
  registerLab(program);
}

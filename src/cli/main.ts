#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { createRequire } from 'node:module';
import { ExitCode, PktbenchError } from '../errors.js';
import { registerCommands } from './commands.js';

const require = createRequire(import.meta.url);
const { version } = require('../../../package.json') as { version: string };

export function buildProgram(): Command {
  const program = new Command('pktbench')
    .description('Replay packet traces through models of conntrack, iptables and HTB on worker threads')
    .version(version)
    .showHelpAfterError()
    .exitOverride();
  registerCommands(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version arrive here with exit code 0.
      return err.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
    }
    if (err instanceof PktbenchError) {
      process.stderr.write(`pktbench: ${err.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(`pktbench: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return ExitCode.FAILURE;
  }
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  () => {
    process.exitCode = ExitCode.FAILURE;
  },
);

import type { Command } from 'commander';

/** One line per command file; each file adds its subcommand to the program. */
export function registerCommands(_program: Command): void {
  // Commands are registered here as they are built.
}

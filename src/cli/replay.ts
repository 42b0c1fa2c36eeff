import type { Command } from 'commander';

/** Registers this file's subcommands. */
export function register(_program: Command): void {
  // Not built yet.
}

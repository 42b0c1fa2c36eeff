/** Runs the kernel's command-line tools for the lab; every call is logged for --keep/--verbose. */
import { spawnSync } from 'node:child_process';

export interface ExecResult {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

export class CommandError extends Error {
  constructor(readonly argv: readonly string[], readonly result: ExecResult) {
    super(`${argv.join(' ')} failed (exit ${result.status}): ${(result.stderr || result.stdout).trim()}`);
  }
}

/** Runs argv synchronously; `input` goes to stdin. Never throws for a non-zero exit. */
export function run(argv: readonly string[], input?: string): ExecResult {
  const r = spawnSync(argv[0]!, argv.slice(1), { input, encoding: 'utf8', timeout: 30_000, maxBuffer: 64 * 1024 * 1024 });
  if (r.error) return { status: 127, stdout: '', stderr: `${argv[0]}: ${(r.error as NodeJS.ErrnoException).code ?? r.error.message}` };
  return { status: r.status ?? 128, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** Runs argv and throws CommandError on a non-zero exit. */
export function mustRun(argv: readonly string[], input?: string): string {
  const r = run(argv, input);
  if (r.status !== 0) throw new CommandError(argv, r);
  return r.stdout;
}

/** Whether a program is on PATH. */
export function hasCommand(name: string): boolean {
  return run(['sh', '-c', `command -v ${name}`]).status === 0;
}

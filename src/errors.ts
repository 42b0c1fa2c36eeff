/**
 * Errors that carry the exit code the CLI reports. Models throw these for bad input (they never
 * print); the CLI turns them into one clear line and the documented exit code.
 */
export const ExitCode = {
  OK: 0,
  /** The run itself failed (a worker died, the kernel disagreed with the model, a regression). */
  FAILURE: 1,
  /** The command line was wrong. */
  USAGE: 2,
  /** An input file was wrong (bad trace, ruleset, tc script, scenario or results file). */
  BAD_INPUT: 3,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export class PktbenchError extends Error {
  constructor(message: string, readonly exitCode: ExitCodeValue) {
    super(message);
    this.name = new.target.name;
  }
}

/** A command-line mistake: unknown value, out-of-range number, flags that do not go together. */
export class UsageError extends PktbenchError {
  constructor(message: string) {
    super(message, ExitCode.USAGE);
  }
}

/** A bad input file. `where` is `file:line` for text, `file: byte N` for binary input. */
export class InputError extends PktbenchError {
  constructor(readonly where: string, readonly detail: string) {
    super(where ? `${where}: ${detail}` : detail, ExitCode.BAD_INPUT);
  }
}

/** The run could not complete or found a difference that it must report as failure. */
export class RunFailure extends PktbenchError {
  constructor(message: string) {
    super(message, ExitCode.FAILURE);
  }
}

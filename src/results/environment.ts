import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

export interface Environment {
  pktbenchVersion: string;
  gitCommit: string | null;
  gitDirty: boolean | null;
  node: string;
  v8: string;
  cpuModel: string;
  cores: number;
  memoryBytes: number;
  os: string;
  startedAt: string;
}

/** The checkout pktbench runs from (not the caller's working directory, which may be another repository). */
const packageRoot = fileURLToPath(new URL('../../../', import.meta.url));

function git(args: string[]): string | null {
  try {
    return execFileSync('git', args, { cwd: packageRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

/** Where and with what a result was measured; recorded in every results file. */
export function captureEnvironment(startedAt: Date = new Date()): Environment {
  const require = createRequire(import.meta.url);
  const { version } = require('../../../package.json') as { version: string };
  const commit = git(['rev-parse', 'HEAD']);
  const status = commit === null ? null : git(['status', '--porcelain', '--untracked-files=no']);
  return {
    pktbenchVersion: version,
    gitCommit: commit,
    gitDirty: status === null ? null : status.length > 0,
    node: process.versions.node,
    v8: process.versions.v8,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    cores: os.availableParallelism(),
    memoryBytes: os.totalmem(),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    startedAt: startedAt.toISOString(),
  };
}

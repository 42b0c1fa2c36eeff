import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { packageRoot, packageVersion } from './package-root.js';

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

/** Runs git in pktbench's own checkout (not the caller's working directory, which may be another repository). */
function git(args: string[]): string | null {
  // An installed copy (node_modules/pktbench) has no .git: do not report the enclosing project's commit.
  if (!existsSync(join(packageRoot(), '.git'))) return null;
  try {
    return execFileSync('git', args, { cwd: packageRoot(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

/** Where and with what a result was measured; recorded in every results file. */
export function captureEnvironment(startedAt: Date = new Date()): Environment {
  const commit = git(['rev-parse', 'HEAD']);
  const status = commit === null ? null : git(['status', '--porcelain', '--untracked-files=no']);
  return {
    pktbenchVersion: packageVersion(),
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

/**
 * Per-thread CPU pinning on Linux: the calling thread's id comes from /proc/thread-self (a link
 * to "PID/task/TID"), and `taskset -pc CPU TID` sets that one thread's affinity
 * (sched_setaffinity on a TID touches only that thread). The result is read back from
 * /proc/thread-self/status (Cpus_allowed_list) so the report says what the kernel applied.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import type { AffinityReport } from './messages.js';

export function affinitySupported(): boolean {
  return process.platform === 'linux';
}

export function pinCurrentThread(cpu: number): AffinityReport {
  if (!affinitySupported()) return { cpu, applied: false, tid: null, detail: `not supported on ${process.platform}` };
  let tid: number;
  try {
    tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
  } catch (err) {
    return { cpu, applied: false, tid: null, detail: `cannot read /proc/thread-self: ${(err as Error).message}` };
  }
  try {
    execFileSync('taskset', ['-pc', String(cpu), String(tid)], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const e = err as Error & { stderr?: Buffer };
    return { cpu, applied: false, tid, detail: `taskset failed: ${(e.stderr?.toString() || e.message).trim()}` };
  }
  const allowed = /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync('/proc/thread-self/status', 'utf8'))?.[1] ?? '?';
  return { cpu, applied: allowed === String(cpu), tid, detail: `Cpus_allowed_list ${allowed}` };
}

/** The CPUs this process may run on (Linux: from /proc/self/status), else 0..n-1 from os. */
export function allowedCpus(fallbackCount: number): number[] {
  if (affinitySupported()) {
    try {
      const list = /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
      if (list) return parseCpuList(list);
    } catch {
      // fall through
    }
  }
  return Array.from({ length: fallbackCount }, (_, i) => i);
}

/** "0-3,8,10-11" -> [0,1,2,3,8,10,11]. */
export function parseCpuList(list: string): number[] {
  const out: number[] = [];
  for (const part of list.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) throw new RangeError(`bad CPU list entry "${part}"`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    for (let c = a; c <= b; c++) out.push(c);
  }
  return out;
}

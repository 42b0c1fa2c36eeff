import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runShaper } from '../../src/cli/shape.js';
import { formatClasses, formatQdisc } from '../../src/shaper/format.js';
import { Shaper } from '../../src/shaper/shaper.js';
import { parseTcScript } from '../../src/shaper/tc-parse.js';
import { getRate64 } from '../../src/shaper/tc-units.js';
import type { PacketBatch } from '../../src/trace/batch.js';
import type { TraceReader } from '../../src/trace/source.js';
import { repoRoot } from '../support/shared.js';

const SCRIPT = `tc qdisc add dev eth0 root handle 1: htb default 30
tc class add dev eth0 parent 1: classid 1:1 htb rate 10mbit
tc class add dev eth0 parent 1:1 classid 1:10 htb rate 8mbit ceil 8mbit burst 15k cburst 15k
tc class add dev eth0 parent 1:1 classid 1:30 htb rate 1mbit ceil 10mbit
tc filter add dev eth0 parent 1: protocol ip prio 1 handle 10 fw classid 1:10
`;

/** An in-memory trace: packets of `len` bytes with mark 10 at the given times (ns). */
function fakeReader(timesNs: number[], len: number, perRead = 2): TraceReader {
  let next = 0;
  return {
    info: { path: 'fake', format: 'pcap', compressed: false, linkTypes: [1] },
    warnings: [],
    async read(batch: PacketBatch): Promise<number> {
      let n = 0;
      while (n < perRead && next < timesNs.length) {
        batch.resetSlot(n);
        const t = timesNs[next++]!;
        batch.tsSec[n] = 1_700_000_000 + Math.floor(t / 1e9);
        batch.tsNsec[n] = t % 1e9;
        batch.wireLen[n] = len;
        batch.l3[n] = 4;
        batch.mark[n] = 10;
        n++;
      }
      batch.count = n;
      return n;
    },
    async close(): Promise<void> {},
  };
}

describe('pktbench shape: tc -s class show output', () => {
  it('prints hand-computed counters and tokens for three 1000-byte packets 1 ms apart', async () => {
    const shaper = new Shaper(parseTcScript(SCRIPT, 's.tc'), { linkRate: getRate64('1gbit')! });
    const run = await runShaper(shaper, fakeReader([0, 1e6, 2e6], 1000));
    expect(run.packets).toBe(3);
    // 1:10: bucket 15360 B at 1e6 B/s = 15.36 ms; each packet costs 1 ms and 1 ms refills it,
    // so it ends at 14.36 ms = 224375 ticks. 1:1: 1600 B at 1.25e6 B/s = 1.28 ms, each packet
    // costs 0.8 ms → 0.48 ms = 7500 ticks. A leaf sending on its own rate counts as "lended".
    expect(formatQdisc(shaper.htb)).toBe(`qdisc htb 1: root r2q 10 default 0x30 direct_packets_stat 0 direct_qlen 1000
 Sent 3000 bytes 3 pkt (dropped 0, overlimits 0 requeues 0) 
 backlog 0b 0p requeues 0
`);
    expect(formatClasses(shaper.htb)).toBe(`class htb 1:1 root rate 10Mbit ceil 10Mbit burst 1600b cburst 1600b
 Sent 3000 bytes 3 pkt (dropped 0, overlimits 0 requeues 0) 
 rate 12Mbit 1500pps backlog 0b 0p requeues 0
 lended: 0 borrowed: 0 giants: 0
 tokens: 7500 ctokens: 7500

class htb 1:10 parent 1:1 prio 0 rate 8Mbit ceil 8Mbit burst 15Kb cburst 15Kb
 Sent 3000 bytes 3 pkt (dropped 0, overlimits 0 requeues 0) 
 rate 12Mbit 1500pps backlog 0b 0p requeues 0
 lended: 3 borrowed: 0 giants: 0
 tokens: 224375 ctokens: 224375

class htb 1:30 parent 1:1 prio 0 rate 1Mbit ceil 10Mbit burst 1600b cburst 1600b
 Sent 0 bytes 0 pkt (dropped 0, overlimits 0 requeues 0) 
 rate 0bit 0pps backlog 0b 0p requeues 0
 lended: 0 borrowed: 0 giants: 0
 tokens: 200000 ctokens: 20000

`);
    expect(shaper.walkMax).toBe(1);
  });
});

const main = resolve(repoRoot, 'dist/src/cli/main.js');
function cli(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [main, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('pktbench shape command line (built CLI)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pktbench-shape-'));
  const good = join(dir, 'good.tc');
  writeFileSync(good, SCRIPT);

  it('reports a bad tc script as file:line: message, exit 3, no stack trace', () => {
    const bad = join(dir, 'bad.tc');
    writeFileSync(bad, `${SCRIPT}tc class add dev eth0 parent 1:1 classid 1:10 htb rate 1mbit\n`);
    const r = cli('shape', '--tc', bad, '--trace', join(dir, 'x.pcap'));
    expect(r.code).toBe(3);
    expect(r.stderr).toBe(`pktbench: ${bad}:6: RTNETLINK answers: File exists (class 1:10 is already defined on line 3)\n`);
  });

  it('reports an unreadable tc script with exit 3', () => {
    const r = cli('shape', '--tc', join(dir, 'missing.tc'), '--trace', 'x.pcap');
    expect(r.code).toBe(3);
    expect(r.stderr).toBe(`pktbench: ${join(dir, 'missing.tc')}: cannot read the tc script (ENOENT)\n`);
  });

  it('reads --ruleset now that the rules model exists: an unreadable one is exit 3; --ruleset6 alone is exit 2', () => {
    const r = cli('shape', '--tc', good, '--trace', 'x.pcap', '--ruleset', join(dir, 'r.rules'));
    expect(r.code).toBe(3);
    expect(r.stderr).toBe(`pktbench: ${join(dir, 'r.rules')}: cannot read the ruleset (ENOENT)\n`);
    expect(cli('shape', '--tc', good, '--trace', 'x.pcap', '--ruleset6', 'r6.rules').code).toBe(2);
  });

  it('refuses a link rate tc would not parse, and --htsize 0 (exit 2)', () => {
    expect(cli('shape', '--tc', good, '--trace', 'x', '--link-rate', '10mbits').code).toBe(2);
    expect(cli('shape', '--tc', good, '--trace', 'x', '--htsize', '0').code).toBe(2);
  });

  it('requires --trace once the script is good (exit 2)', () => {
    const r = cli('shape', '--tc', good);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('pktbench: --trace FILE is required (the packets to shape)\n');
  });
});

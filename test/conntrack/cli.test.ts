import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { printResult, replayReader } from '../../src/cli/ct.js';
import { formatTable } from '../../src/conntrack/format.js';
import { ConntrackStage } from '../../src/conntrack/stage.js';
import { ConntrackTable, resolveConfig } from '../../src/conntrack/table.js';
import type { PacketBatch } from '../../src/trace/batch.js';
import type { TraceReader } from '../../src/trace/source.js';
import { repoRoot } from '../support/shared.js';
import { ACK, fillSlot, SYN, type PacketSpec } from './helpers.js';

const cli = resolve(repoRoot, 'dist/src/cli/main.js');
const ct = (...args: string[]) => spawnSync(process.execPath, [cli, 'ct', ...args], { encoding: 'utf8' });

describe('pktbench ct usage errors (exit 2)', () => {
  it.each([
    [['--trace', 'x.pcap', '--buckets', '0'], /--buckets.*must be at least 1/],
    [['--trace', 'x.pcap', '--timeout', 'tcp_bogus=3'], /unknown conntrack timeout "tcp_bogus"/],
    [['--trace', 'x.pcap', '--timeout', 'udp_timeout=soon'], /NAME=SECONDS/],
    [['--trace', 'x.pcap', '--hash', 'md5'], /Allowed choices are siphash, jhash/],
    [['--trace', 'x.pcap', '--sweep-buckets', '16k,,x'], /not a whole number: x/],
    [['--buckets', '64k'], /required option '--trace/],
    [['--trace', 'x.pcap', '--max', '1g'], /--max.*at most 67108864/],
    [['--trace', 'x.pcap', '--sweep-buckets', '16k', '--dump'], /cannot be combined/],
  ])('%j', (args, message) => {
    const r = ct(...args);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });
});

/** A reader serving hand-filled packets, two per batch, at given trace seconds. */
function fakeReader(packets: [number, PacketSpec][]): TraceReader {
  let next = 0;
  return {
    info: { path: 'fake', format: 'pcap', compressed: false, linkTypes: [1] },
    warnings: [],
    read(batch: PacketBatch): Promise<number> {
      let n = 0;
      while (n < 2 && next < packets.length) {
        const [sec, spec] = packets[next++]!;
        fillSlot(batch, n, spec);
        batch.tsSec[n] = 1_700_000_000 + Math.floor(sec);
        batch.tsNsec[n] = Math.round((sec % 1) * 1e9);
        n++;
      }
      batch.count = n;
      return Promise.resolve(n);
    },
    close: () => Promise.resolve(),
  };
}

describe('replaying a reader', () => {
  it('drives the table with trace time from the first packet and dumps it at the end', async () => {
    const table = new ConntrackTable(resolveConfig({ buckets: 1024 }));
    const c = { src: '10.0.0.1', dst: '10.0.0.2', sport: 33000, dport: 22 };
    const s = { src: '10.0.0.2', dst: '10.0.0.1', sport: 22, dport: 33000 };
    const result = await replayReader(fakeReader([
      [0.5, { ...c, tcp: SYN }],
      [0.6, { ...s, tcp: SYN | ACK }],
      [0.7, { ...c, tcp: ACK }],
      [100.7, { src: '10.0.0.1', dst: '10.0.0.9', proto: 17, sport: 5000, dport: 53 }],
    ]), new ConntrackStage(table));
    expect([result.packets, result.endMs]).toEqual([4, 100_700]);
    const printed: string[] = [];
    printResult(table, result, resolveConfig({ buckets: 1024 }), { trace: 'fake', dump: true, stats: true }, (l) => printed.push(l));
    expect(printed.slice(2)).toEqual([
      'cpu=0   \tfound=0 invalid=0 insert=0 insert_failed=0 drop=0 early_drop=0 error=0 search_restart=0 clash_resolve=0 chaintoolong=0 ',
      'count=2 max=8192 buckets=1024 hash=siphash',
      'lookups=4 nodes_per_lookup_mean=0.500 p99=1 max=1', // misses for SYN and UDP (empty buckets), the SYN/ACK and ACK hit the chain head
      'created=2 confirmed=2 expired=0 gc_runs=1 gc_early_dropped=0 later_fragments=0 untracked=0 not_ip=0',
      'chain_length_histogram 0:1020 1:4',
    ]);
    expect(formatTable(table, result.endMs)).toEqual([
      'tcp      6 431900 ESTABLISHED src=10.0.0.1 dst=10.0.0.2 sport=33000 dport=22 src=10.0.0.2 dst=10.0.0.1 sport=22 dport=33000 [ASSURED] mark=0 use=1',
      'udp      17 30 src=10.0.0.1 dst=10.0.0.9 sport=5000 dport=53 [UNREPLIED] src=10.0.0.9 dst=10.0.0.1 sport=53 dport=5000 mark=0 use=1',
    ]);
  });
});

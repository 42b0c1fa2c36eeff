import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import type { PacketBatch } from '../../src/trace/batch.js';
import type { TraceReader } from '../../src/trace/source.js';

// The trace reader is another engineer's work; stand in for it with three packets so that the
// whole command (script → shaper → text/JSON) runs here.
vi.mock('../../src/trace/reader.js', () => ({
  openTrace: async (path: string): Promise<TraceReader> => {
    let done = false;
    return {
      info: { path, format: 'pcap', compressed: false, linkTypes: [1] },
      warnings: ['fake: 1 truncated record skipped'],
      async read(b: PacketBatch): Promise<number> {
        if (done) return 0;
        done = true;
        for (let i = 0; i < 3; i++) {
          b.resetSlot(i);
          b.tsSec[i] = 1_700_000_000;
          b.tsNsec[i] = i * 1_000_000;
          b.wireLen[i] = 1000;
          b.l3[i] = 4;
          b.mark[i] = i === 2 ? 99 : 10;
        }
        b.count = 3;
        return 3;
      },
      async close(): Promise<void> {},
    };
  },
}));

const { shapeCommand } = await import('../../src/cli/shape.js');

const SCRIPT = `tc qdisc add dev eth0 root handle 1: htb default 30
tc class add dev eth0 parent 1: classid 1:1 htb rate 10mbit
tc class add dev eth0 parent 1:1 classid 1:10 htb rate 8mbit
tc class add dev eth0 parent 1:1 classid 1:30 htb rate 1mbit ceil 10mbit
tc filter add dev eth0 parent 1: protocol ip prio 1 handle 10 fw classid 1:10
`;

describe('pktbench shape over a trace', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pktbench-shape-trace-'));
  const tc = join(dir, 's.tc');
  writeFileSync(tc, SCRIPT);
  const opts = { tc, trace: 't.pcap', linkRate: 125_000_000, htsize: 256, txqueuelen: 1000, path: 'forward' as const };

  it('prints the qdisc, the classes, the classification cost and the reader’s warnings', async () => {
    let out = '';
    await shapeCommand(opts, (s) => (out += s));
    expect(out.startsWith('qdisc htb 1: root r2q 10 default 0x30 direct_packets_stat 0 direct_qlen 1000\n Sent 3000 bytes 3 pkt')).toBe(true);
    expect(out).toContain('class htb 1:10 parent 1:1 prio 0 rate 8Mbit ceil 8Mbit burst 1600b cburst 1600b\n Sent 2000 bytes 2 pkt');
    expect(out).toContain('class htb 1:30 parent 1:1 prio 0 rate 1Mbit ceil 10Mbit burst 1600b cburst 1600b\n Sent 1000 bytes 1 pkt');
    // Every packet walks the one-entry chain of its bucket, or finds mark 99's bucket empty.
    expect(out).toContain('classification: 3 packets, entries walked per packet mean 0.67 p99 1 max 1 (cls_fw HTSIZE 256)\n');
    expect(out).toMatch(/\nshaper time: \d+ ns per packet, [\d.]+ ms in all \(one qdisc lock: this work is serialized across cores\)\n/);
    expect(out.endsWith('warning: fake: 1 truncated record skipped\n')).toBe(true);
  });

  it('gives the same figures as JSON', async () => {
    let out = '';
    await shapeCommand({ ...opts, json: true, htsize: 65536 }, (s) => (out += s));
    const j = JSON.parse(out) as {
      dev: string;
      qdisc: { sentPackets: number };
      classes: { classid: string; sentBytes: number; lended: number }[];
      classification: { packets: number; htsize: number; walkedMax: number };
      cost: { packets: number; serialized: boolean; work: { dequeueCalls: number } };
    };
    expect(j.dev).toBe('eth0');
    expect(j.qdisc.sentPackets).toBe(3);
    expect(j.classes.map((c) => [c.classid, c.sentBytes, c.lended])).toEqual([['1:1', 3000, 0], ['1:10', 2000, 2], ['1:30', 1000, 1]]);
    expect(j.classification).toMatchObject({ packets: 3, htsize: 65536, walkedMax: 1 });
    expect(j.cost).toMatchObject({ packets: 3, serialized: true, work: { dequeueCalls: 3 } });
  });
});

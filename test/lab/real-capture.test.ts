import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runKernel } from '../../src/lab/replay.js';
import { hasShared, sharedDir, sharedSkipReason } from '../support/shared.js';
import { labSkipReason } from './support.js';

const capture = 'bgp-lu-multiple-labels.pcap';

describe.skipIf(labSkipReason !== undefined || !hasShared)(`the lab on a real capture ${labSkipReason ?? (hasShared ? '' : sharedSkipReason)}`, () => {
  it('forwards every IPv4 frame of a BGP session and counts what tshark says they weigh', async () => {
    // Ground truth from tshark: frames with an IP layer, and their IP lengths (frame length minus
    // the 14-byte Ethernet header; these frames carry no padding or VLAN tag).
    const rows = readFileSync(resolve(sharedDir, 'fixtures/pcap/truth', `${capture}.tsv`), 'utf8').trim().split('\n').slice(1).map((l) => l.split('\t'));
    const ip = rows.filter((r) => r[5] === '4');
    const notIp = rows.filter((r) => r[5] === '-').map((r) => Number(r[0]));
    const ipBytes = ip.reduce((s, r) => s + Number(r[2]) - 14, 0);
    const run = await runKernel({
      tracePath: resolve(sharedDir, 'fixtures/pcap/tcpdump', capture),
      ruleset: { name: 'ct.rules', text: '*filter\n:FORWARD DROP [0:0]\n-A FORWARD -m conntrack --ctstate NEW -j ACCEPT\n-A FORWARD -m conntrack --ctstate ESTABLISHED -j ACCEPT\nCOMMIT\n' },
    });
    const o = run.observation;
    expect(o.outcome.forwarded).toHaveLength(ip.length);
    expect(o.outcome.dropped).toEqual([]);
    expect(o.outcome.skipped.map((s) => s.frameNo)).toEqual(notIp);
    expect(new Set(o.outcome.skipped.map((s) => s.reason))).toEqual(new Set(['not IP (ethertype 0x0806)']));
    const forward = o.rules.filter((r) => r.chain === 'FORWARD' && r.index > 0);
    expect(forward.reduce((s, r) => s + r.packets, 0)).toBe(ip.length);
    expect(forward.reduce((s, r) => s + r.bytes, 0)).toBe(ipBytes);
    // Every TCP connection of the capture is in the table (one entry per 5-tuple pair).
    const pairs = new Set(ip.map((r) => [`${r[6]}:${r[9]}`, `${r[7]}:${r[10]}`].sort().join(' ')));
    expect(o.conntrack).toHaveLength(pairs.size);
  });
});

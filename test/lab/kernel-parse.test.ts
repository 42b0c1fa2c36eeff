import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConntrackList, parseConntrackStats, parseIptablesSave, parseTcClassStats } from '../../src/lab/kernel.js';
import { repoRoot } from '../support/shared.js';

// Captured from a real lab run (kernel 6.18, iptables 1.8.9, conntrack-tools 1.4.7, iproute2 6.1).
const fixture = (name: string): string => readFileSync(resolve(repoRoot, 'fixtures/lab/readback', name), 'utf8');

describe('parseIptablesSave', () => {
  it('reads per-rule and per-policy counters of iptables-nft-save -c', () => {
    const rules = parseIptablesSave(fixture('iptables-nft-save-c.txt'), 4);
    const find = (table: string, chain: string, index: number) => rules.find((r) => r.table === table && r.chain === chain && r.index === index);
    expect(find('filter', 'FORWARD', 0)).toEqual({ family: 4, table: 'filter', chain: 'FORWARD', index: 0, text: 'policy DROP', packets: 0, bytes: 0 });
    expect(find('filter', 'FORWARD', 2)).toEqual({ family: 4, table: 'filter', chain: 'FORWARD', index: 2, text: '-A FORWARD -i f0 -j ACCEPT', packets: 4, bytes: 164 });
    expect(find('mangle', 'PREROUTING', 2)?.text).toBe('-A PREROUTING -p tcp -m tcp --dport 80 -j MARK --set-xmark 0x10/0xffffffff');
    expect(find('mangle', 'PREROUTING', 2)?.packets).toBe(2);
    expect(find('nat', 'PREROUTING', 0)).toMatchObject({ text: 'policy ACCEPT', packets: 3, bytes: 124 });
    expect(find('nat', 'POSTROUTING', 1)).toMatchObject({ packets: 3, bytes: 124, text: '-A POSTROUTING -o f1 -j MASQUERADE' });
    // 3 tables: 5 + 3 + 4 policies, 4 + 2 + 1 rules.
    expect(rules).toHaveLength(19);
  });

  it('gives the legacy variant the same structure', () => {
    const nft = parseIptablesSave(fixture('iptables-nft-save-c.txt'), 4);
    const legacy = parseIptablesSave(fixture('iptables-legacy-save-c.txt'), 4);
    const key = (r: { table: string; chain: string; index: number }) => `${r.table}/${r.chain}/${r.index}`;
    expect(new Map(legacy.map((r) => [key(r), r]))).toEqual(new Map(nft.map((r) => [key(r), r])));
  });

  it('reads ip6tables-save and rejects garbage with the line number', () => {
    expect(parseIptablesSave(fixture('ip6tables-nft-save-c.txt'), 6).filter((r) => r.index > 0)).toEqual([
      { family: 6, table: 'filter', chain: 'FORWARD', index: 1, text: '-A FORWARD -p tcp -m tcp --dport 443 -j ACCEPT', packets: 1, bytes: 60 },
    ]);
    expect(() => parseIptablesSave('*filter\n:FORWARD ACCEPT [0:0]\nbogus\n', 4)).toThrow(/line 3/);
  });
});

describe('parseConntrackList', () => {
  it('reads tuples, state, flags and mark', () => {
    const entries = parseConntrackList(fixture('conntrack-L-ipv4.txt'));
    expect(entries).toHaveLength(3);
    expect(entries[0]).toEqual({
      family: 4, proto: 'tcp', protoNumber: 6, timeout: 119, state: 'SYN_SENT',
      original: { src: '10.1.0.2', dst: '198.51.100.10', sport: 40000, dport: 80 },
      reply: { src: '198.51.100.10', dst: '100.64.1.1', sport: 80, dport: 40000 },
      flags: ['UNREPLIED'], mark: 16, zone: 0,
    });
    expect(entries[1]).toMatchObject({ proto: 'udp', state: '', timeout: 29, mark: 0, flags: ['UNREPLIED'] });
    expect(entries[2]).toMatchObject({ proto: 'icmp', original: { src: '10.1.0.2', dst: '198.51.100.10', type: 8, code: 0, id: 7 }, reply: { type: 0, code: 0, id: 7 } });
  });

  it('reads the extended format, ASSURED and IPv6', () => {
    const line = 'ipv6     10 tcp      6 431999 ESTABLISHED src=2001:db8::2 dst=2001:db8:1::10 sport=40000 dport=443 src=2001:db8:1::10 dst=2001:db8::2 sport=443 dport=40000 [ASSURED] mark=7 zone=3 use=1';
    expect(parseConntrackList(line)).toEqual([{
      family: 6, proto: 'tcp', protoNumber: 6, timeout: 431999, state: 'ESTABLISHED',
      original: { src: '2001:db8::2', dst: '2001:db8:1::10', sport: 40000, dport: 443 },
      reply: { src: '2001:db8:1::10', dst: '2001:db8::2', sport: 443, dport: 40000 },
      flags: ['ASSURED'], mark: 7, zone: 3,
    }]);
    expect(parseConntrackList(fixture('conntrack-L-ipv6.txt'))).toEqual([]);
    expect(() => parseConntrackList('tcp 6 x')).toThrow(/line 1/);
  });
});

describe('parseConntrackStats', () => {
  it('sums the per-CPU lines', () => {
    const s = parseConntrackStats(fixture('conntrack-S.txt'));
    expect(s.invalid).toBe(1);
    expect(s.early_drop).toBe(0);
    expect(s.drop).toBe(0);
    expect(parseConntrackStats('cpu=0 found=1 drop=2\ncpu=1 found=3 drop=4\n')).toEqual({ found: 4, drop: 6 });
  });
});

describe('parseTcClassStats', () => {
  it('reads HTB classes with their counters and lended/borrowed', () => {
    const classes = parseTcClassStats(fixture('tc-s-class-show.txt'));
    expect(classes).toEqual([
      { kind: 'htb', classId: '1:10', parent: '1:1', bytes: 62, packets: 1, dropped: 0, overlimits: 0, lended: 1, borrowed: 0 },
      { kind: 'htb', classId: '1:1', parent: 'root', bytes: 594, packets: 7, dropped: 0, overlimits: 0, lended: 0, borrowed: 0 },
      { kind: 'htb', classId: '1:20', parent: '1:1', bytes: 532, packets: 6, dropped: 0, overlimits: 0, lended: 6, borrowed: 0 },
    ]);
  });

  it('reads a leaf qdisc and a non-HTB class', () => {
    const text = 'class htb 1:10 parent 1:1 leaf 10: prio 0 rate 1Mbit ceil 1Mbit burst 1600b cburst 1600b\n Sent 100 bytes 2 pkt (dropped 1, overlimits 3 requeues 0)\nclass tbf 2:1 parent 2:\n Sent 5 bytes 1 pkt (dropped 0, overlimits 0 requeues 0)\n';
    expect(parseTcClassStats(text)).toEqual([
      { kind: 'htb', classId: '1:10', parent: '1:1', leafQdisc: '10:', bytes: 100, packets: 2, dropped: 1, overlimits: 3 },
      { kind: 'tbf', classId: '2:1', parent: '2:', bytes: 5, packets: 1, dropped: 0, overlimits: 0 },
    ]);
  });
});

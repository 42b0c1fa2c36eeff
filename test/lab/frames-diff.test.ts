import { describe, expect, it } from 'vitest';
import { diffObservations, formatDifferences } from '../../src/lab/diff.js';
import { buildFrame, formatAddress, parseAddress, readHeaders } from '../../src/lab/frames.js';
import { parsePcap, PcapWriter } from '../../src/lab/pcapfile.js';
import { planReplay } from '../../src/lab/replay.js';
import type { LabObservation } from '../../src/lab/types.js';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function onesComplement(bytes: Uint8Array, start: number, end: number, init = 0): number {
  let acc = init;
  for (let i = start; i < end; i += 2) acc += (bytes[i]! << 8) | (i + 1 < end ? bytes[i + 1]! : 0);
  while (acc > 0xffff) acc = (acc & 0xffff) + (acc >>> 16);
  return acc;
}

describe('frame builder', () => {
  it('builds the SYN whose TCP checksum tcpdump verified (0xdead)', () => {
    const f = buildFrame({ src: '10.1.0.2', dst: '198.51.100.10', proto: 'tcp', sport: 40000, dport: 80, flags: 'S', seq: 100 }, 1);
    expect(f.length).toBe(54);
    expect((f[50]! << 8) | f[51]!).toBe(0xdead);
    // IPv4 header sums to 0xffff with its checksum in place.
    expect(onesComplement(f, 14, 34)).toBe(0xffff);
  });

  it('builds IPv6 UDP with a valid pseudo-header checksum', () => {
    const f = buildFrame({ src: '2001:db8::2', dst: '2001:db8:1::10', proto: 'udp', sport: 1, dport: 2, payload: 8 }, 9);
    const pseudo = onesComplement(f, 22, 54) + 16 + 17;
    expect(onesComplement(f, 54, f.length, pseudo)).toBe(0xffff);
  });

  it('parses and prints addresses like ip does', () => {
    expect(formatAddress(parseAddress('2001:db8:0:0:1:0:0:1')!)).toBe('2001:db8::1:0:0:1');
    expect(formatAddress(parseAddress('fd70:6b62:1::2')!)).toBe('fd70:6b62:1::2');
    expect(parseAddress('1.2.3.256')).toBeUndefined();
    expect(parseAddress('1::2::3')).toBeUndefined();
  });

  it('reads headers through a VLAN tag and explains non-IP frames', () => {
    const f = buildFrame({ src: '192.0.2.1', dst: '198.51.100.1', proto: 'udp', sport: 5, dport: 6, payload: 4 }, 3);
    const tagged = new Uint8Array(f.length + 4);
    tagged.set(f.subarray(0, 12), 0);
    tagged.set([0x81, 0x00, 0x00, 0x05], 12);
    tagged.set(f.subarray(12), 16);
    const h = readHeaders(tagged, 14);
    expect(typeof h === 'string' ? h : [h.ipOffset, h.src, h.dst, h.sport, h.dport]).toEqual([18, '192.0.2.1', '198.51.100.1', 5, 6]);
    const arp = new Uint8Array(42);
    arp[12] = 0x08;
    arp[13] = 0x06;
    expect(readHeaders(arp, 14)).toBe('not IP (ethertype 0x0806)');
  });
});

describe('replay plan', () => {
  it('puts initiators inside, skips martians and says why', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pkb-plan-'));
    const w = new PcapWriter(join(dir, 't.pcap'), 1);
    const frames = [
      buildFrame({ src: '10.0.0.1', dst: '198.51.100.1', proto: 'udp', sport: 1, dport: 2 }, 1),
      buildFrame({ src: '198.51.100.1', dst: '10.0.0.1', proto: 'udp', sport: 2, dport: 1 }, 2),
      buildFrame({ src: '10.0.0.1', dst: '224.0.0.5', proto: 'udp', sport: 1, dport: 2 }, 3),
      buildFrame({ src: '198.51.100.1', dst: '100.64.1.2', proto: 'udp', sport: 2, dport: 1 }, 4),
      buildFrame({ src: '198.51.100.1', dst: '100.64.1.1', proto: 'udp', sport: 2, dport: 1 }, 5),
    ];
    for (const f of frames) w.write(f, f.length, f.length, 0, 0);
    w.close();
    const plan = planReplay(parsePcap(readFileSync(join(dir, 't.pcap')), 't.pcap'));
    expect(plan.planned.map((p) => [p.frameNo, p.side])).toEqual([[1, 'inside'], [2, 'outside'], [5, 'outside']]);
    expect(plan.skipped).toEqual([
      { frameNo: 3, reason: 'destination 224.0.0.5 is multicast' },
      { frameNo: 4, reason: "uses one of the lab's own transit addresses" },
    ]);
    expect([...plan.inside]).toEqual(['10.0.0.1']);
  });

  it('reports a truncated pcap record with its byte offset', () => {
    const header = new Uint8Array(24 + 16 + 4);
    const v = new DataView(header.buffer);
    v.setUint32(0, 0xa1b2c3d4, true);
    v.setUint32(20, 1, true);
    v.setUint32(24 + 8, 60, true);
    v.setUint32(24 + 12, 60, true);
    expect(() => parsePcap(header, 'x.pcap')).toThrow('x.pcap: byte 24: truncated record: 60 bytes announced, 4 present');
  });
});

const base: LabObservation = {
  rules: [
    { family: 4, table: 'filter', chain: 'FORWARD', index: 0, text: 'policy DROP', packets: 1, bytes: 40 },
    { family: 4, table: 'filter', chain: 'FORWARD', index: 1, text: '-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT', packets: 2, bytes: 80 },
  ],
  conntrack: [{
    family: 4, proto: 'tcp', protoNumber: 6, timeout: 431999, state: 'ESTABLISHED',
    original: { src: '10.1.0.2', dst: '198.51.100.10', sport: 40000, dport: 80 },
    reply: { src: '198.51.100.10', dst: '10.1.0.2', sport: 80, dport: 40000 },
    flags: ['ASSURED'], mark: 0, zone: 0,
  }],
  conntrackStats: { drop: 0, early_drop: 0, invalid: 1 },
  classes: [{ kind: 'htb', classId: '1:10', parent: '1:1', bytes: 170, packets: 3, dropped: 0, overlimits: 0 }],
  outcome: { forwarded: [1, 2, 3], dropped: [4], skipped: [{ frameNo: 5, reason: 'not IP (ethertype 0x0806)' }] },
};

describe('diffObservations', () => {
  it('finds no difference between equal observations', () => {
    expect(diffObservations(base, structuredClone(base), { timeoutToleranceS: 1 })).toEqual([]);
    expect(formatDifferences([])).toBe('kernel and model agree\n');
  });

  it('reports each difference with both values', () => {
    const model: LabObservation = {
      rules: [{ ...base.rules[0]!, packets: 2, bytes: 80 }, base.rules[1]!, { family: 4, table: 'filter', chain: 'FORWARD', index: 2, text: '-A FORWARD -j ACCEPT', packets: 0, bytes: 0 }],
      conntrack: [{ ...base.conntrack[0]!, state: 'SYN_RECV', mark: 5, flags: [], timeout: 431990 }],
      conntrackStats: { drop: 1, invalid: 1 },
      classes: [{ ...base.classes[0]!, bytes: 160 }],
      outcome: { forwarded: [1, 2], dropped: [3, 4], skipped: [] },
    };
    const diffs = diffObservations(base, model, { timeoutToleranceS: 2 });
    expect(formatDifferences(diffs)).toBe([
      '10 differences (kernel vs model):',
      '  rule: v4 filter FORWARD policy (policy DROP): packets:bytes: kernel [1:40], model [2:80]',
      '  rule: v4 filter FORWARD #2 (-A FORWARD -j ACCEPT): present: kernel (absent), model [0:0]',
      '  conntrack: tcp src=10.1.0.2 dst=198.51.100.10 sport=40000 dport=80: state: kernel ESTABLISHED, model SYN_RECV',
      '  conntrack: tcp src=10.1.0.2 dst=198.51.100.10 sport=40000 dport=80: mark: kernel 0, model 5',
      '  conntrack: tcp src=10.1.0.2 dst=198.51.100.10 sport=40000 dport=80: flags: kernel ASSURED, model (none)',
      '  conntrack: tcp src=10.1.0.2 dst=198.51.100.10 sport=40000 dport=80: timeout (±2s): kernel 431999, model 431990',
      '  conntrack-stats: conntrack -S (sum over CPUs): drop: kernel 0, model 1',
      '  class: class htb 1:10: bytes: kernel 170, model 160',
      '  forwarding: frame 3: fate: kernel forwarded, model dropped',
      '  skipped: frame 5: skipped: kernel not IP (ethertype 0x0806), model (absent)',
      '',
    ].join('\n'));
  });

  it('tolerates timeouts within the replay duration and reports missing entries', () => {
    const model = { ...base, conntrack: [{ ...base.conntrack[0]!, timeout: 431997 }] };
    expect(diffObservations(base, model, { timeoutToleranceS: 2 })).toEqual([]);
    const none = { ...base, conntrack: [] };
    expect(diffObservations(base, none, { timeoutToleranceS: 2 })).toEqual([{
      area: 'conntrack', key: 'tcp src=10.1.0.2 dst=198.51.100.10 sport=40000 dport=80', field: 'present',
      kernel: 'ESTABLISHED reply src=198.51.100.10 dst=10.1.0.2 sport=80 dport=40000 mark=0 [ASSURED]', model: '(absent)',
    }]);
  });
});

describe('scenario files', () => {
  it('name the file and line of a bad field', async () => {
    const { loadScenario } = await import('../../src/lab/scenario.js');
    const dir = mkdtempSync(join(tmpdir(), 'pkb-scn-'));
    const path = join(dir, 'bad.yaml');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(path, 'description: x\nruleset: |\n  *filter\n  COMMIT\npackets:\n  - { src: 10.0.0.1, dst: 10.0.0.2, proto: tcp }\n  - { src: 10.0.0.1, dst: 10.0.0.2, proto: sctp }\n');
    expect(() => loadScenario(path)).toThrow(new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:7: packets\\.1\\.proto: `));
    writeFileSync(path, 'description: x\npackets: [\n');
    expect(() => loadScenario(path)).toThrow(/bad\.yaml:\d+: /);
  });

  it('expand repeat into consecutive source ports', async () => {
    const { loadScenario } = await import('../../src/lab/scenario.js');
    const { repoRoot } = await import('../support/shared.js');
    const s = loadScenario(join(repoRoot, 'fixtures/lab/conntrack-max.yaml'));
    expect(s.frames.map((f) => f.sport)).toEqual([7000, 7001, 7002, 7003, 7004, 7005, 7006, 7007]);
  });
});

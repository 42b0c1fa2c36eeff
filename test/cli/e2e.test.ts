/**
 * End-to-end runs of the built CLI on generated traces, with counts derived from the trace itself
 * (read back independently of the models) and from the generator's parameters.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PacketBatch } from '../../src/trace/batch.js';
import { readTraceBytes } from '../../src/trace/reader.js';
import { repoRoot } from '../support/shared.js';
import { generatedTrace } from '../pipeline/trace.js';

const cli = resolve(repoRoot, 'dist/src/cli/main.js');
const dir = mkdtempSync(join(tmpdir(), 'pktbench-e2e-'));
const FLOWS = 50;
const PACKETS = 1000;
// TCP only: every flow a complete lifecycle (handshake, data, FIN close or a client RST).
const bytes = generatedTrace({ seed: 7, flows: FLOWS, packets: PACKETS, mix: { tcp: 1, udp: 0, icmp: 0 }, concurrent: 10, pps: 10_000 });
const tracePath = join(dir, 'tcp.pcap');
writeFileSync(tracePath, bytes);

const RST = 0x04;
const SYN = 0x02;
const ACK = 0x10;
/** Facts read straight from the trace. */
const facts = { packets: 0, ipBytes: 0, syn: 0, synAck: 0, rst: 0, rstFlows: new Set<string>(), https: 0, sshRequests: 0 };
readTraceBytes(bytes, new PacketBatch(), (b) => {
  for (let i = 0; i < b.count; i++) {
    const f = b.tcpFlags[i]!;
    facts.packets++;
    facts.ipBytes += b.ipLen[i]!;
    if ((f & (SYN | ACK)) === SYN) facts.syn++;
    if ((f & (SYN | ACK)) === (SYN | ACK)) facts.synAck++;
    const rst = (f & RST) !== 0;
    if (rst) {
      facts.rst++;
      const a = b.src[i * 4]!;
      const z = b.dst[i * 4]!;
      facts.rstFlows.add(a < z ? `${a}:${b.sport[i]}-${z}:${b.dport[i]}` : `${z}:${b.dport[i]}-${a}:${b.sport[i]}`);
    }
    if (!rst && (b.sport[i] === 443 || b.dport[i] === 443)) facts.https++;
    if (!rst && b.dport[i] === 22) facts.sshRequests++;
  }
});

function run(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: repoRoot, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('end-to-end CLI on a generated trace', () => {
  it('the trace has what the generator promises: one SYN and one SYN/ACK per flow, a few RST closes', () => {
    expect(facts.packets).toBe(PACKETS);
    expect(facts.syn).toBe(FLOWS);
    expect(facts.synAck).toBe(FLOWS);
    expect(facts.rstFlows.size).toBe(facts.rst);
    expect(facts.rst).toBeGreaterThan(0);
    expect(facts.https).toBeGreaterThan(0);
    expect(facts.sshRequests).toBeGreaterThan(0);
  });

  it('ct: N complete TCP flows leave N entries (TIME_WAIT after FIN, CLOSE after RST), or N expiries with zero timeouts', () => {
    const dump = run('ct', '--trace', tracePath, '--dump', '--stats');
    expect(dump.code).toBe(0);
    const lines = dump.stdout.split('\n');
    const states = lines.filter((l) => l.startsWith('tcp ')).map((l) => l.split(/\s+/)[3]);
    expect(states.filter((s) => s === 'TIME_WAIT')).toHaveLength(FLOWS - facts.rstFlows.size);
    expect(states.filter((s) => s === 'CLOSE')).toHaveLength(facts.rstFlows.size);
    expect(lines).toContain(`count=${FLOWS} max=262144 buckets=262144 hash=siphash`);
    expect(lines.find((l) => l.startsWith('cpu=0'))).toMatch(/found=0 invalid=0 insert=0 insert_failed=0 drop=0 early_drop=0 error=0 /);
    const gone = run('ct', '--trace', tracePath, '--timeout', 'tcp_timeout_time_wait=0', '--timeout', 'tcp_timeout_close=0', '--json');
    const j = JSON.parse(gone.stdout) as { count: number; model: { created: number; confirmed: number; expired: number } };
    expect(j.count).toBe(0);
    expect(j.model).toMatchObject({ created: FLOWS, confirmed: FLOWS, expired: FLOWS });
  });

  it('rules: SYN and SYN/ACK counters are one per flow, RST drops, the policy takes the rest (packets and IP bytes)', () => {
    const rules = join(dir, 'syn.rules');
    writeFileSync(rules, ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]',
      '-A FORWARD -p tcp -m tcp --tcp-flags SYN,ACK SYN -j ACCEPT',
      '-A FORWARD -p tcp -m tcp --tcp-flags SYN,ACK SYN,ACK -j ACCEPT',
      '-A FORWARD -p tcp -m tcp --tcp-flags RST RST -j DROP', 'COMMIT', ''].join('\n'));
    const r = run('rules', '--ruleset', rules, '--trace', tracePath);
    expect(r.code).toBe(0);
    // The generator's SYN and SYN/ACK carry an MSS option: 20 + 20 + 4 = 44 IP bytes; a RST 40.
    const lines = r.stdout.split('\n');
    expect(lines).toContain(`[${FLOWS}:${FLOWS * 44}] -A FORWARD -p tcp -m tcp --tcp-flags SYN,ACK SYN -j ACCEPT`);
    expect(lines).toContain(`[${FLOWS}:${FLOWS * 44}] -A FORWARD -p tcp -m tcp --tcp-flags SYN,ACK SYN,ACK -j ACCEPT`);
    expect(lines).toContain(`[${facts.rst}:${facts.rst * 40}] -A FORWARD -p tcp -m tcp --tcp-flags RST RST -j DROP`);
    const rest = PACKETS - 2 * FLOWS - facts.rst;
    expect(lines).toContain(`:FORWARD ACCEPT [${rest}:${facts.ipBytes - 2 * FLOWS * 44 - facts.rst * 40}]`);
    expect(lines).toContain(`# packets ${PACKETS}: accepted ${PACKETS - facts.rst}, dropped ${facts.rst}, rejected 0`);
  });

  it('shape --ruleset: marks pick the fw class, CLASSIFY the priority class, dropped packets never reach the shaper', () => {
    const tc = join(dir, 'eth0.tc');
    writeFileSync(tc, ['tc qdisc add dev eth0 root handle 1: htb default 30',
      'tc class add dev eth0 parent 1: classid 1:1 htb rate 10gbit',
      'tc class add dev eth0 parent 1:1 classid 1:10 htb rate 5gbit ceil 10gbit',
      'tc class add dev eth0 parent 1:1 classid 1:20 htb rate 2gbit ceil 10gbit',
      'tc class add dev eth0 parent 1:1 classid 1:30 htb rate 1gbit ceil 10gbit',
      'tc filter add dev eth0 parent 1: protocol ip prio 1 handle 0x10 fw classid 1:10', ''].join('\n'));
    const r = run('shape', '--tc', tc, '--trace', tracePath, '--ruleset', resolve(repoRoot, 'fixtures/pipeline/mark443.rules'), '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as { classes: { classid: string; sentPackets: number; dropped: number }[]; skippedDropped: number; classification: { packets: number }; rules: { counters: Record<string, number> } };
    const sent = Object.fromEntries(j.classes.map((c) => [c.classid, c.sentPackets]));
    const delivered = PACKETS - facts.rst;
    expect(j.skippedDropped).toBe(facts.rst);
    expect(j.classification.packets).toBe(delivered);
    expect(j.rules.counters.verdictDrop).toBe(facts.rst);
    expect(sent).toEqual({ '1:1': delivered, '1:10': facts.https, '1:20': facts.sshRequests, '1:30': delivered - facts.https - facts.sshRequests });
    // Without the ruleset every packet goes to the default class.
    const plain = JSON.parse(run('shape', '--tc', tc, '--trace', tracePath, '--json').stdout) as typeof j;
    expect(Object.fromEntries(plain.classes.map((c) => [c.classid, c.sentPackets]))).toEqual({ '1:1': PACKETS, '1:10': 0, '1:20': 0, '1:30': PACKETS });
    // A bad ruleset names file:line and exits 3.
    const bad = join(dir, 'bad.rules');
    writeFileSync(bad, '*mangle\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j MARK --set-bogus 1\nCOMMIT\n');
    const e = run('shape', '--tc', tc, '--trace', tracePath, '--ruleset', bad);
    expect(e.code).toBe(3);
    expect(e.stderr).toContain(`${bad}:3: `);
  });
});

/**
 * `pktbench rules --trace` runs the conntrack model between the raw table and the rest, so
 * ctstate matches see what the kernel sees. Ground truth: the bundled default trace replayed
 * through a real Linux conntrack router gave 1,000 NEW and 19,000 ESTABLISHED packets and no
 * INVALID (test/gen/kernel-check.sh, fixtures/traces/README.md).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../support/shared.js';

const cli = resolve(repoRoot, 'dist/src/cli/main.js');
const trace = resolve(repoRoot, 'fixtures/traces/default.pcap');
const dir = mkdtempSync(join(tmpdir(), 'pktbench-rules-ct-'));

function rules(body: string, ...extra: string[]): { out: string; code: number | null } {
  // The same rules for both families (the trace is 80 % IPv4, 20 % IPv6); counters are summed.
  const path = join(dir, `r${Math.random().toString(36).slice(2)}.rules`);
  writeFileSync(path, `*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n${body}COMMIT\n`);
  const r = spawnSync(process.execPath, [cli, 'rules', '--ruleset', path, '--ruleset6', path, '--trace', trace, ...extra], { encoding: 'utf8' });
  return { out: r.stdout, code: r.status };
}

/** Packets counted by a rule (or, with a `:CHAIN POLICY` prefix, a policy), summed over both families. */
const packetsOf = (out: string, rule: string): number => {
  const lines = out.split('\n').filter((l) => (rule.startsWith(':') ? l.startsWith(rule) : l.startsWith('[') && l.endsWith(rule)));
  if (lines.length !== 2) throw new Error(`expected one counter line per family for ${rule}:\n${out}`);
  return lines.reduce((sum, l) => sum + Number(/\[(\d+):\d+\]/.exec(l)![1]), 0);
};

describe('rules --trace with connection tracking', () => {
  it('gives each packet the ctstate a real conntrack router gave it', () => {
    const { out, code } = rules(
      '-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n' +
      '-A FORWARD -m conntrack --ctstate NEW -j ACCEPT\n' +
      '-A FORWARD -m conntrack --ctstate INVALID -j DROP\n');
    expect(code).toBe(0);
    expect(packetsOf(out, '-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT')).toBe(19_000);
    expect(packetsOf(out, '-A FORWARD -m conntrack --ctstate NEW -j ACCEPT')).toBe(1_000);
    expect(packetsOf(out, '-A FORWARD -m conntrack --ctstate INVALID -j DROP')).toBe(0);
    expect(packetsOf(out, ':FORWARD DROP')).toBe(0);
  });

  it('a dropped NEW packet leaves no connection: its replies are not ESTABLISHED', () => {
    // Only TCP may open connections; UDP and ICMP requests are dropped, so their replies stay NEW
    // (and are dropped too) instead of matching ESTABLISHED.
    const { out } = rules(
      '-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n' +
      '-A FORWARD -p tcp -m conntrack --ctstate NEW -j ACCEPT\n');
    const established = packetsOf(out, '-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT');
    const tcpNew = packetsOf(out, '-A FORWARD -p tcp -m conntrack --ctstate NEW -j ACCEPT');
    const policy = packetsOf(out, ':FORWARD DROP');
    expect(established + tcpNew + policy).toBe(20_000);
    expect(established).toBeLessThan(19_000);
    expect(policy).toBeGreaterThan(0);
  });

  it('what-if established-first keeps every verdict and saves evaluations on the real states', () => {
    const { out, code } = rules(
      '-A FORWARD -p udp -m udp --dport 9 -j DROP\n' +
      '-A FORWARD -p tcp -m tcp --dport 23 -j DROP\n' +
      '-A FORWARD -p tcp -m tcp --dport 7 -j DROP\n' +
      '-A FORWARD -m conntrack --ctstate NEW -j ACCEPT\n' +
      '-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n',
      '--what-if', 'established-first', '--json');
    expect(code).toBe(0);
    const j = JSON.parse(out) as { reports: { whatIf: { differences: number; saved: number; packets: number } }[] };
    const sum = (k: 'differences' | 'saved' | 'packets'): number => j.reports.reduce((a, r) => a + r.whatIf[k], 0);
    const w = { packets: sum('packets'), differences: sum('differences'), saved: sum('saved') };
    expect(w.packets).toBe(20_000);
    expect(w.differences).toBe(0);
    // 19,000 ESTABLISHED packets each skip the three port rules and the NEW rule (4 evaluations)
    // and 1,000 NEW packets walk one more rule (the ESTABLISHED accept now in front).
    expect(w.saved).toBe(19_000 * 4 - 1_000);
  });

  it('what-if established-first reports the packets whose verdict it would change', () => {
    // The trace serves SMTP (port 25). Its SYNs are dropped, so conntrack picks the connections
    // up mid-stream from the server's packets (tcp_loose), with the server as originator; the
    // client's later packets are then ESTABLISHED replies. Dropped by the port rule in the
    // original, accepted by ESTABLISHED-first: the transformation is not safe for this ruleset.
    const { out } = rules(
      '-A FORWARD -p tcp -m tcp --dport 25 -j DROP\n' +
      '-A FORWARD -m conntrack --ctstate NEW -j ACCEPT\n' +
      '-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n',
      '--what-if', 'established-first', '--json');
    const j = JSON.parse(out) as { reports: { whatIf: { differences: number; examples: { what: string; before: number; after: number }[] } }[] };
    const differences = j.reports.reduce((a, r) => a + r.whatIf.differences, 0);
    expect(differences).toBeGreaterThan(0);
    for (const r of j.reports) for (const e of r.whatIf.examples) expect([e.what, e.before, e.after]).toEqual(['verdict', 2, 1]);
  });
});

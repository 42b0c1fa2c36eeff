import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { formatRuleset } from '../../src/rules/counters.js';
import { parseIpsetSave } from '../../src/rules/ipset.js';
import { parseIptablesSave } from '../../src/rules/parse.js';
import { MatchKind } from '../../src/rules/ruleset.js';
import { repoRoot } from '../support/shared.js';
import { filterForward, matches, parse } from './helpers.js';

const fixture = (name: string): string => readFileSync(resolve(repoRoot, 'fixtures/rules', name), 'utf8');
const stripComments = (s: string): string => s.split('\n').filter((l) => !l.startsWith('#')).join('\n');

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof InputError) return e.message;
    throw e;
  }
  throw new Error('expected an InputError');
}

describe('iptables-save round trip', () => {
  it('parse then print gives the input back (without -c: rule lines without counters)', () => {
    const sets = parseIpsetSave(fixture('campus.ipset'), (l, m) => {
      throw new InputError(`campus.ipset:${l}`, m);
    });
    const text = fixture('campus.rules');
    const rs = parseIptablesSave(text, { file: 'campus.rules', sets });
    expect(rs.rules.length).toBe(25);
    expect(stripComments(formatRuleset(rs, { ruleCounters: false, comments: false }))).toBe(stripComments(text));
  });
  it('-c input: counters are read and printed back', () => {
    const text = ['*filter', ':INPUT ACCEPT [12:3400]', ':FORWARD DROP [5:600]', ':OUTPUT ACCEPT [0:0]', '[7:420] -A FORWARD -p tcp -j ACCEPT', 'COMMIT', ''].join('\n');
    const rs = parse(text);
    expect(formatRuleset(rs, { comments: false })).toBe(text);
  });
  it('missing built-in chains are created with policy ACCEPT (iptables-restore)', () => {
    const rs = parse('*filter\n:FORWARD DROP [0:0]\n-A FORWARD -j ACCEPT\nCOMMIT\n');
    expect(rs.chains.map((c) => c.name).sort()).toEqual(['FORWARD', 'INPUT', 'OUTPUT']);
  });
  it('detects the family from the addresses (ip6tables-save)', () => {
    const rs = parse('*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A FORWARD -s 2001:db8::/32 -p ipv6-icmp -m icmp6 --icmpv6-type 128 -j ACCEPT\nCOMMIT\n');
    expect(rs.family).toBe(6);
  });
});

describe('bad input: file:line, nothing half-loaded', () => {
  const bad = (spec: string): string => errorOf(() => parse(filterForward([spec])));
  it('unknown module names file:line, the module and the rule', () => {
    expect(bad('-m recent --rcheck -j DROP')).toBe('rules:5: unknown match module "recent" in "-A FORWARD -m recent --rcheck -j DROP"');
  });
  it('unknown target and unknown option', () => {
    expect(bad('-j TEE --gateway 1.2.3.4')).toBe('rules:5: unknown target "TEE" in "-A FORWARD -j TEE --gateway 1.2.3.4"');
    expect(bad('-p tcp -m tcp --dprt 22 -j DROP')).toBe('rules:5: unknown option "--dprt" for module "tcp" in "-A FORWARD -p tcp -m tcp --dprt 22 -j DROP"');
  });
  it('an option belongs to the loaded match that declares it, not to the last -m (iptables command_default)', () => {
    // iptables-restore accepts these (the kernel lab loads the first one); --dport is the implicit tcp match's.
    const rs = parse(filterForward(['-m mark --mark 0 -p tcp --dport 80 -j ACCEPT', '-p udp -m udp --sport 53 -m mark --mark 0x2 --dport 5000 -j DROP']));
    expect(rs.rules.map((r) => r.matches?.map((m) => m.kind))).toEqual([[MatchKind.MARK, MatchKind.PORTS], [MatchKind.PORTS, MatchKind.MARK, MatchKind.PORTS]]);
    expect(matches('-m mark --mark 0 -p tcp --dport 80', { proto: 6, dport: 80 })).toBe(true);
    expect(matches('-m mark --mark 0 -p tcp --dport 80', { proto: 6, dport: 81 })).toBe(false);
    expect(matches('-m mark --mark 0 -p tcp --dport 80', { proto: 6, dport: 80, mark: 1 })).toBe(false);
    expect(matches('-p udp -m udp --sport 53 -m mark --mark 0x2 --dport 5000', { proto: 17, sport: 53, dport: 5000, mark: 2 })).toBe(true);
    expect(matches('-p udp -m udp --sport 53 -m mark --mark 0x2 --dport 5000', { proto: 17, sport: 53, dport: 5001, mark: 2 })).toBe(false);
    // An option no loaded match declares is still an error, named after the last module.
    expect(bad('-p tcp -m mark --mark 1 --ctstate NEW -j DROP')).toBe('rules:5: unknown option "--ctstate" for module "mark" in "-A FORWARD -p tcp -m mark --mark 1 --ctstate NEW -j DROP"');
  });
  it('bad CIDR and ports out of range', () => {
    expect(bad('-s 10.0.0.0/33 -j DROP')).toBe('rules:5: -s: bad prefix length /33 (0..32) in "-A FORWARD -s 10.0.0.0/33 -j DROP"');
    expect(bad('-s 10.0.0.256 -j DROP')).toBe('rules:5: -s: bad IPv4 address "10.0.0.256" in "-A FORWARD -s 10.0.0.256 -j DROP"');
    expect(bad('-p tcp -m tcp --dport 65536 -j DROP')).toBe('rules:5: --dport: port 65536 is out of range (0..65535) in "-A FORWARD -p tcp -m tcp --dport 65536 -j DROP"');
    expect(bad('-p tcp -m tcp --dport 90:80 -j DROP')).toContain('range 90:80 is empty');
  });
  it('missing COMMIT', () => {
    expect(errorOf(() => parse('*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j ACCEPT\n'))).toBe('rules:4: table "filter" (line 1) has no COMMIT');
    expect(errorOf(() => parse('*filter\n:INPUT ACCEPT [0:0]\n*nat\nCOMMIT\n'))).toBe('rules:3: table "nat" starts before COMMIT of table "filter" (line 1)');
  });
  it('jump to a missing chain, undeclared chain, loop of jumps', () => {
    expect(bad('-j nowhere')).toBe('rules:5: jump to missing chain "nowhere" in "-A FORWARD -j nowhere"');
    expect(bad('-A ghost -j ACCEPT')).toBe('rules:5: chain ghost does not exist in table filter (declare it with ":ghost - [0:0]")');
    const loop = errorOf(() => parse(filterForward(['-j a', '-A a -j b', '-A b -p tcp -j a'], 'ACCEPT', ':a - [0:0]\n:b - [0:0]')));
    expect(loop).toBe('rules:9: loop of jumps: b -> a leads back to itself');
  });
  it('policy on a user chain, NAT outside nat, ipset errors', () => {
    expect(errorOf(() => parse('*filter\n:mine ACCEPT [0:0]\nCOMMIT\n'))).toBe('rules:2: user chain mine cannot have policy "ACCEPT" (use "-")');
    expect(bad('-j SNAT --to-source 1.2.3.4')).toContain('target SNAT is only valid in the nat table');
    expect(bad('-m set --match-set nope src -j DROP')).toContain('set "nope" is not defined');
    expect(errorOf(() => parse(filterForward([]), 'create s hash:mac\n'))).toBe('sets:1: set type "hash:mac" is not modelled (known: hash:ip, hash:net, hash:ip,port, bitmap:port)');
    expect(errorOf(() => parse(filterForward([]), 'create s hash:ip\nadd s 10.0.0.300\n'))).toBe('sets:2: bad IPv4 address "10.0.0.300"');
  });
  it('--lenient turns unknown modules and targets into warnings and never-matching rules', () => {
    const rs = parse(filterForward(['-m recent --rcheck --seconds 60 -j DROP', '-j TEE --gateway 1.2.3.4', '-j ACCEPT']), undefined, true);
    expect(rs.warnings).toEqual([
      'rules:5: unknown match module "recent" in "-A FORWARD -m recent --rcheck --seconds 60 -j DROP"; the rule never matches (--lenient)',
      'rules:6: unknown target "TEE" in "-A FORWARD -j TEE --gateway 1.2.3.4"; the rule never matches (--lenient)',
    ]);
    expect(formatRuleset(rs, { ruleCounters: false, comments: false })).toContain('-A FORWARD -m recent --rcheck --seconds 60 -j DROP\n');
  });
});

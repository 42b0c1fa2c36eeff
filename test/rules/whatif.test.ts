import { describe, expect, it } from 'vitest';
import { formatRuleset } from '../../src/rules/counters.js';
import { fillSyntheticBatch, generateRuleset, generatedRuleCount } from '../../src/rules/generate.js';
import { parseIptablesSave } from '../../src/rules/parse.js';
import { RuleEngine } from '../../src/rules/traverse.js';
import { WhatIfComparison, dropCounting, establishedFirst, reorderByHits } from '../../src/rules/whatif.js';
import { CtState, PacketBatch } from '../../src/trace/batch.js';
import { batchOf, filterForward, parse } from './helpers.js';

describe('what-if', () => {
  it('established-first moves the rule to the top and saves evaluations with equal verdicts', () => {
    const rs = parse(filterForward(['-s 10.0.0.0/8 -p tcp -m tcp --dport 25 -j DROP', '-p udp -j ACCEPT', '-s 10.1.0.0/16', '-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT', '-p tcp -m tcp --dport 80 -j ACCEPT'], 'DROP'));
    const v = establishedFirst(rs);
    expect(v.changes).toEqual(['filter FORWARD: moved rule 4 (line 8) to the top', 'filter INPUT: empty chain, nothing to gain']);
    expect(formatRuleset(v.ruleset, { ruleCounters: false, comments: false })).toContain(':OUTPUT ACCEPT [0:0]\n-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n-A FORWARD -s 10.0.0.0/8');
    const cmp = new WhatIfComparison(rs, v.ruleset, { path: 'forward' });
    const b = batchOf([
      { src: '10.1.2.3', dport: 80, ct: CtState.NEW },
      { src: '10.1.2.3', dport: 80, ct: CtState.ESTABLISHED },
      { src: '192.0.2.9', dst: '10.1.2.3', sport: 80, dport: 40000, ct: CtState.ESTABLISHED, reply: true },
      { proto: 17, ct: CtState.NEW },
    ]);
    cmp.batch(b, 0);
    // Before: NEW 5, EST 4, reply 4 (rule 3 misses: src is not 10.1/16), udp 2 = 15. After: 5 + 1 + 1 + 3 = 10.
    expect(cmp.summary()).toMatchObject({ packets: 4, evaluationsBefore: 15, evaluationsAfter: 10, saved: 5, differences: 0 });
  });
  it('established-first reports the packets whose verdict changes', () => {
    const rs = parse(filterForward(['-p tcp -m tcp --dport 25 -j DROP', '-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT'], 'DROP'));
    const cmp = new WhatIfComparison(rs, establishedFirst(rs).ruleset, { path: 'forward' });
    cmp.batch(batchOf([{ dport: 25, ct: CtState.ESTABLISHED }, { dport: 80, ct: CtState.ESTABLISHED }]), 0);
    expect(cmp.summary().differences).toBe(1);
    expect(cmp.examples[0]).toEqual({ frameNo: 0, before: 2, after: 1, what: 'verdict' });
  });
  it('an inserted rule when none exists', () => {
    const rs = parse(filterForward(['-p tcp -j ACCEPT']));
    expect(establishedFirst(rs).ruleset.chains[1]!.rules.length).toBe(2);
    expect(formatRuleset(establishedFirst(rs).ruleset, { ruleCounters: false, comments: false })).toContain('-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n-A FORWARD -p tcp -j ACCEPT');
  });
  it('drop-counting and reorder-by-hits keep verdicts and marks', () => {
    const rs = parse(filterForward(['-s 10.0.0.1/32', '-p tcp -m tcp --dport 22 -j ACCEPT', '-p tcp -m tcp --dport 80 -j ACCEPT', '-p tcp -m tcp --dport 443 -j ACCEPT', '-j DROP']));
    const pkts = [{ dport: 443 }, { dport: 443 }, { dport: 80 }, { dport: 22 }, { dport: 9 }, { src: '10.0.0.1', dport: 443 }];
    const measure = new RuleEngine(rs, { path: 'forward' });
    const b = batchOf(pkts);
    for (let i = 0; i < b.count; i++) measure.packet(b, i, 0);
    const reordered = reorderByHits(rs, measure.rulePackets);
    // 443 matched 3 times, 22 and 80 once each (ties keep their order); the counting rule and DROP stay.
    expect(formatRuleset(reordered.ruleset, { ruleCounters: false, comments: false }).split('\n').filter((l) => l.startsWith('-A'))).toEqual([
      '-A FORWARD -s 10.0.0.1/32', '-A FORWARD -p tcp -m tcp --dport 443 -j ACCEPT', '-A FORWARD -p tcp -m tcp --dport 22 -j ACCEPT',
      '-A FORWARD -p tcp -m tcp --dport 80 -j ACCEPT', '-A FORWARD -j DROP']);
    for (const v of [dropCounting(rs), reordered]) {
      const cmp = new WhatIfComparison(rs, v.ruleset, { path: 'forward' });
      cmp.batch(batchOf(pkts), 0);
      expect(cmp.summary().differences).toBe(0);
      expect(cmp.summary().saved).toBeGreaterThan(0);
    }
  });
});

describe('gen-rules', () => {
  it('writes the counted number of rules and parses; the synthetic mix gets forwarded', () => {
    const o = { users: 600, rulesPerUser: 10 };
    const lines: string[] = [];
    generateRuleset(o, (l) => lines.push(l));
    const rs = parseIptablesSave(`${lines.join('\n')}\n`, { file: 'gen' });
    expect(rs.rules.length).toBe(generatedRuleCount(o));
    expect(rs.rules.length).toBe(4 + 4 * 3 + 600 * 10);
    const b = new PacketBatch(2000, 0);
    fillSyntheticBatch(b, o, 10, 7);
    const cmp = new WhatIfComparison(rs, establishedFirst(rs).ruleset, { path: 'forward', outIface: 'eth0', inIface: 'eth1' });
    cmp.batch(b, 0);
    const s = cmp.summary();
    expect(s.differences).toBe(0);
    expect(s.saved).toBeGreaterThan(0.3 * s.evaluationsBefore);
    // SMTP flows are rejected in the user chains, everything else is accepted.
    const v = cmp.before.verdicts;
    expect(v[0]! + v[2]!).toBe(2000);
    expect(v[2]!).toBeGreaterThan(0);
  });
});

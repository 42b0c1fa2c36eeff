/**
 * Differential test: the fast offset-based parser (src/rules/parse.ts) against the frozen simple
 * first version (reference-parse.ts) on random rulesets: the same Ruleset (rules, chains, tables,
 * addresses, counters, warnings) or the same error message, for valid and broken input alike.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { generateRuleset } from '../../src/rules/generate.js';
import { parseIpsetSave, type IpSet } from '../../src/rules/ipset.js';
import { parseIptablesSave, type ParseOptions } from '../../src/rules/parse.js';
import { repoRoot } from '../support/shared.js';
import { parseIptablesSave as referenceParse } from './reference-parse.js';

const SETS: Map<string, IpSet> = parseIpsetSave('create s1 hash:ip family inet\nadd s1 10.0.0.1\ncreate p1 bitmap:port range 0-1024\nadd p1 22\n', (l, m) => {
  throw new InputError(`sets:${l}`, m);
});

type Outcome = { ok: true; value: unknown } | { ok: false; error: string };

function outcome(fn: () => unknown): Outcome {
  try {
    return { ok: true, value: fn() };
  } catch (e) {
    if (e instanceof Error) return { ok: false, error: `${e.constructor.name}: ${e.message}` };
    throw e;
  }
}

function same(text: string, options: Omit<ParseOptions, 'file'> = {}): void {
  const opts = { file: 'r.rules', sets: SETS, ...options };
  const fast = outcome(() => parseIptablesSave(text, opts));
  const ref = outcome(() => referenceParse(text, opts));
  expect(fast).toEqual(ref);
}

/** Pieces of rule specs that parse in every table (IPv4). */
const VALID = [
  '-s 10.0.0.1', '-s 10.0.0.0/8', '! -s 192.168.1.0/24', '-d 10.1.2.3/32', '-s 1.2.3.4/255.255.0.0', '-s 10.1.2.3/032',
  '-d 0.0.0.0/0', '-s "10.0.0.1"', '-p tcp', '-p udp', '-p icmp', '! -p tcp', '-p 6', '-p TCP', '-p all', '-i eth0', '-o eth+',
  '! -i ppp0', '-f', '! -f', '-m tcp --dport 22', '-m tcp --sport 80:90', '-m tcp --dport :1024', '-m tcp --dport http',
  '-m tcp --dport 1024:', '-m tcp --tcp-flags SYN,ACK SYN', '-m tcp --syn', '-m tcp ! --syn', '-p tcp --dport 443', '-m udp --dport 53',
  '-m multiport --dports 80,443,8000:8080', '-m multiport ! --sports 1,2', '-m conntrack --ctstate NEW,ESTABLISHED',
  '-m state --state RELATED', '-m conntrack --ctdir REPLY', '-m conntrack --ctorigdst 10.0.0.0/8', '-m conntrack --ctproto tcp',
  '-m conntrack --ctorigdstport 80', '-m mark --mark 0x10/0xff', '-m mark --mark 16', '-m connmark ! --mark 0x1',
  '-m comment --comment "a b \\" c"', '-m comment --comment plain', '-m iprange --src-range 10.0.0.1-10.0.0.9',
  '-m set --match-set s1 src', '-m set --match-set p1 dst', '-m limit --limit 3/sec --limit-burst 5', '-m limit --limit 10/minute',
  '-m icmp --icmp-type echo-request', '-m icmp --icmp-type 3/1', '-m icmp --icmp-type 8', '-m addrtype --dst-type LOCAL',
  '-m addrtype ! --src-type UNICAST,LOCAL', '-p icmp --icmp-type any',
];
/** Broken or lenient-only pieces: each must fail (or warn) the same way. */
const BROKEN = [
  '-d 10.0.0.0/33', '-s 10.0.0.256', '-s 10.0.0.1/', '-s 10.0.0.1/x', '-s 10.0.0.1/3x', '-s 10.0.0.', '-s 2001:db8::/32', '-s',
  '-p 300', '-p bogus', '-i waytoolonginterfacename', '--dport 65536', '-m tcp --dport 90:80', '-m tcp --dport 65536', '--dport 22',
  '-m tcp --dport 0x10', '-m tcp --tcp-flags BOGUS SYN', '-m multiport --sports 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16',
  '-m conntrack --ctstate bogus', '-m conntrack --ctexpire 5', '-m mark --mark 0xzz', '-m mark --mark 99999999999999999999',
  '-m mark --mark 0x1ffffffffffffffff', '-m comment --comment "unterminated', '-m iprange --dst-range 10.0.0.9-10.0.0.1',
  '-m set --match-set nope src', '-m limit --limit 0/sec', '-m icmp --icmp-type bogus', '-m addrtype --src-type BOGUS',
  '-m recent --rcheck --seconds 60', '--unknown-option 1', '!', '! !', '-m', '-m tcp --dport',
];
const SPACE = [...Array<string>(30).fill(' '), '  ', '\t'];
const PREFIX = ['', '[1:60] ', '[12345678901234567890:99] '];
const BROKEN_PREFIX = ['[x:1] ', '[1:2]', '[:] ', '[1:2 ', '1:2] '];
/** Per table: header, chains in jump order (a rule only jumps to a later chain: no loops). */
const TABLE = {
  filter: { head: '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [3:180]\n:OUTPUT ACCEPT [0:0]\n:a - [0:0]\n:b - [0:0]\n:c - [0:0]', chains: ['FORWARD', 'a', 'b', 'c'], targets: ['-j REJECT --reject-with icmp-port-unreachable', '-j LOG --log-prefix "x y"'] },
  nat: { head: '*nat\n:PREROUTING ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n:a - [0:0]\n:b - [0:0]', chains: ['POSTROUTING', 'a', 'b'], targets: ['-j SNAT --to-source 100.64.0.1', '-j SNAT --to-source 1.2.3.4-1.2.3.9:1000-2000', '-j DNAT --to-destination 10.0.0.1:8080', '-j MASQUERADE --to-ports 1024-2000', '-j REDIRECT --to-ports 8080 --random', '-j MASQUERADE'] },
  raw: { head: '*raw\n:PREROUTING ACCEPT [0:0]\n:a - [0:0]', chains: ['PREROUTING', 'a'], targets: ['-j NOTRACK', '-j CT --notrack'] },
  mangle: { head: '*mangle\n:PREROUTING ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:a - [0:0]\n:b - [0:0]', chains: ['PREROUTING', 'a', 'b'], targets: ['-j MARK --set-xmark 0x1/0xffffffff', '-j MARK --set-mark 0x10', '-j MARK --or-mark 4', '-j MARK --and-mark 0xff --xor-mark 1', '-j CONNMARK --save-mark --nfmask 0xffffffff --ctmask 0xffffffff', '-j CONNMARK --restore-mark', '-j CONNMARK --set-mark 5/0xff', '-j CLASSIFY --set-class 1:10'] },
} as const;
const COMMON_TARGETS = ['', '-j ACCEPT', '-j DROP', '-j RETURN'];
const BROKEN_TARGETS = [
  '-j ACCEPT --bogus', '-j REJECT --reject-with', '-j MARK', '-j CONNMARK', '-j CLASSIFY --set-class 1:xyz', '-j SNAT',
  '-j SNAT --to-source 1.2.3.4', '-j DNAT --to-destination [2001:db8::1]:80', '-j NOTRACK', '-j CT --zone 1', '-j FORWARD',
  '-j nochain', '-j NOCHAIN', '-j TEE --gateway 1.2.3.4', '-g', '-j', '-g "a"', '-j "b"', '-g a', '-g ghost',
];
const MISC_LINES = [
  '# comment', '', 'bogus line', '-A', '-A a', '-A ghost -j ACCEPT', '*filter', 'COMMIT', ':d - [0:0]', ':e -', ':f - [0:0] ',
  ':g - [1:2:3]', ':h\t- [0:0]', ':i - [x:0]', ':j -[0:0]', ':FORWARD DROP', ':PREROUTING BOGUS [0:0]', ': - [0:0]', ':k ACCEPT [0:0]',
  ':l - [12345678901234567890:5]', ':m -  [0:0]', ':n - [0:0]\r', ':\u00e9 - [0:0]',
];

type TableName = keyof typeof TABLE;

function ruleLine(table: TableName): fc.Arbitrary<string> {
  const t = TABLE[table];
  return fc.record({
    prefix: fc.oneof({ weight: 60, arbitrary: fc.constantFrom(...PREFIX) }, { weight: 1, arbitrary: fc.constantFrom(...BROKEN_PREFIX) }),
    chain: fc.nat(t.chains.length - 1),
    jumpTo: fc.nat(t.chains.length - 1),
    frags: fc.array(fc.oneof({ weight: 40, arbitrary: fc.constantFrom(...VALID) }, { weight: 1, arbitrary: fc.constantFrom(...BROKEN) }), { maxLength: 4 }),
    target: fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom(...COMMON_TARGETS, ...t.targets) },
      { weight: 3, arbitrary: fc.constant('JUMP') },
      { weight: 1, arbitrary: fc.constantFrom(...BROKEN_TARGETS) },
    ),
    space: fc.constantFrom(...SPACE),
    crlf: fc.nat(9),
  }).map(({ prefix, chain, jumpTo, frags, target, space, crlf }) => {
    let tgt = target;
    if (tgt === 'JUMP') tgt = jumpTo > chain ? `${jumpTo % 2 ? '-j' : '-g'} ${t.chains[jumpTo]!}` : '-j ACCEPT';
    const spec = [...frags, tgt].filter((x) => x !== '').join(space);
    return `${prefix}-A ${t.chains[chain]!}${spec === '' ? '' : ` ${spec}`}${crlf === 0 ? '\r' : ''}`;
  });
}

function tableText(name: TableName): fc.Arbitrary<string> {
  return fc.tuple(
    fc.array(fc.oneof({ weight: 60, arbitrary: ruleLine(name) }, { weight: 1, arbitrary: fc.constantFrom(...MISC_LINES) }), { maxLength: 12 }),
    fc.oneof({ weight: 30, arbitrary: fc.constant('COMMIT') }, { weight: 1, arbitrary: fc.constant('') }),
  ).map(([lines, commit]) => [TABLE[name].head, ...lines, commit].join('\n'));
}

/** One to four distinct tables (a repeated table is among the MISC_LINES errors). */
const ruleset = fc.tuple(
  fc.subarray<TableName>(['raw', 'mangle', 'nat', 'filter'], { minLength: 1 }).chain((names) => fc.tuple(...names.map(tableText))),
  fc.boolean(),
).map(([tables, finalNewline]) => tables.join('\n') + (finalNewline ? '\n' : ''));

describe('fast parser == reference parser', () => {
  it('random rulesets: same ruleset, warnings or error message (strict, lenient, each family)', () => {
    fc.assert(
      fc.property(ruleset, fc.boolean(), fc.constantFrom<4 | 6 | 'auto'>(4, 'auto', 'auto', 'auto', 6), (text, lenient, family) => {
        same(text, { lenient, family });
      }),
      { numRuns: 800 },
    );
  });
  it('IPv6 rulesets (ip6tables-save): addresses take the string path, same result or message', () => {
    const v6 = [
      '-s 2001:db8::/32 -p ipv6-icmp -m icmp6 --icmpv6-type echo-request -j ACCEPT', '-d fe80::1/64 -j DROP', '! -s ::1 -j RETURN',
      '-s 2001:db8::1/ffff:ffff:: -j ACCEPT', '-d 2001:db8::/129 -j DROP', '-s 2001:db8:::1 -j DROP', '-s 10.0.0.1 -j DROP',
      '-m iprange --src-range 2001:db8::1-2001:db8::9 -j ACCEPT', '-m conntrack --ctorigdst 2001:db8::/48 -j ACCEPT',
      '-s ::ffff:10.0.0.1 -j ACCEPT', '-p icmpv6 -j ACCEPT',
    ];
    for (const rule of v6) {
      for (const family of [6, 'auto'] as const) {
        same(`*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n-A FORWARD ${rule}\nCOMMIT\n`, { family });
        same(`*filter\n:FORWARD DROP [0:0]\n-A FORWARD -s 2001:db8::1 -j ACCEPT\n-A FORWARD ${rule}\nCOMMIT\n`, { family });
      }
    }
    for (const nat of ['-j DNAT --to-destination [2001:db8::1]:80', '-j SNAT --to-source 2001:db8::5', '-j DNAT --to-destination 2001:db8::1']) {
      same(`*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -s 2001:db8::/32 ${nat}\nCOMMIT\n`);
    }
  });
  it('a generated Selfnet-like ruleset (300 users, 10 rules each)', () => {
    const lines: string[] = [];
    generateRuleset({ users: 300, rulesPerUser: 10 }, (l) => lines.push(l));
    same(`${lines.join('\n')}\n`);
  });
  it('the campus fixture with its ipset, with and without counters', () => {
    const sets = parseIpsetSave(readFileSync(resolve(repoRoot, 'fixtures/rules/campus.ipset'), 'utf8'), (l, m) => {
      throw new InputError(`campus.ipset:${l}`, m);
    });
    const text = readFileSync(resolve(repoRoot, 'fixtures/rules/campus.rules'), 'utf8');
    same(text, { sets });
    same(text.replace(/^-A /gm, '[3:180] -A '), { sets });
  });
});

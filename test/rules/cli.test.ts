import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../support/shared.js';

const cli = resolve(repoRoot, 'dist/src/cli/main.js');
const run = (...args: string[]): { code: number | null; out: string; err: string } => {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: repoRoot, encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
};
const tmp = mkdtempSync(join(tmpdir(), 'pktbench-rules-'));
const write = (name: string, text: string): string => {
  const p = join(tmp, name);
  writeFileSync(p, text);
  return p;
};

describe('pktbench rules (ruleset side)', () => {
  it('prints the ruleset back in iptables-save -c form (round trip modulo counters)', () => {
    const r = run('rules', '--ruleset', 'fixtures/rules/campus.rules', '--ipset', 'fixtures/rules/campus.ipset');
    expect(r.code).toBe(0);
    const strip = (s: string): string[] => s.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.replace(/^\[0:0\] /, ''));
    expect(strip(r.out)).toEqual(strip(readFileSync(resolve(repoRoot, 'fixtures/rules/campus.rules'), 'utf8')));
  });
  it('keeps -c counters', () => {
    const p = write('c.rules', '*filter\n:INPUT ACCEPT [3:120]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n[9:900] -A INPUT -p tcp -j ACCEPT\nCOMMIT\n');
    const r = run('rules', '--ruleset', p);
    expect(r.out).toContain(':INPUT ACCEPT [3:120]\n');
    expect(r.out).toContain('[9:900] -A INPUT -p tcp -j ACCEPT\n');
  });
  it('bad rulesets: file:line: message, exit 3, no stack trace', () => {
    const p = write('bad.rules', '*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp -m tcp --dport 70000 -j DROP\nCOMMIT\n');
    const r = run('rules', '--ruleset', p);
    expect(r.code).toBe(3);
    expect(r.err).toBe(`pktbench: ${p}:3: --dport: port 70000 is out of range (0..65535) in "-A INPUT -p tcp -m tcp --dport 70000 -j DROP"\n`);
    const s = write('bad.ipset', 'create a hash:ip\nadd a 10.0.0.0/8\n');
    const r2 = run('rules', '--ruleset', p, '--ipset', s);
    expect(r2.code).toBe(3);
    expect(r2.err).toBe(`pktbench: ${s}:2: range "10.0.0.0/8" expands to more than 65536 addresses\n`);
    const r3 = run('rules', '--ruleset', join(tmp, 'missing.rules'));
    expect(r3.code).toBe(3);
    expect(r3.err).toContain('missing.rules: cannot read: ENOENT');
  });
  it('--lenient warns and goes on', () => {
    const p = write('len.rules', '*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m recent --rcheck -j DROP\nCOMMIT\n');
    const r = run('rules', '--ruleset', p, '--lenient');
    expect(r.code).toBe(0);
    expect(r.err).toBe(`pktbench: warning: ${p}:3: unknown match module "recent" in "-A INPUT -m recent --rcheck -j DROP"; the rule never matches (--lenient)\n`);
  });
  it('usage errors exit 2', () => {
    expect(run('rules', '--ruleset', 'fixtures/rules/campus.rules', '--path', 'sideways').code).toBe(2);
    expect(run('rules', '--ruleset', 'fixtures/rules/campus.rules', '--ipset', 'fixtures/rules/campus.ipset', '--path', 'auto').code).toBe(2);
    expect(run('gen-rules', '--rules-per-user', '3').code).toBe(2);
  });
  it('gen-rules writes a ruleset that rules accepts', () => {
    const out = join(tmp, 'gen.rules');
    const g = run('gen-rules', '--users', '300', '--rules-per-user', '9', '-o', out);
    expect(g.code).toBe(0);
    expect(g.err).toBe(`pktbench: wrote ${4 + 4 * 2 + 300 * 9} rules to ${out}\n`);
    const r = run('rules', '--ruleset', out, '--json');
    expect(JSON.parse(r.out)).toMatchObject({ family: 4, tables: ['mangle', 'nat', 'filter'], rules: 4 + 4 * 2 + 300 * 9 });
  });
});

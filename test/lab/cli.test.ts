import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildFrame } from '../../src/lab/frames.js';
import { readPcap, writePcap } from '../../src/lab/pcapfile.js';
import { probeTc } from '../../src/lab/probe.js';
import { repoRoot } from '../support/shared.js';
import { labSkipReason } from './support.js';

const cli = resolve(repoRoot, 'dist/src/cli/main.js');
const work = mkdtempSync(join(tmpdir(), 'pkb-labcli-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function pktbench(args: string[], ns?: string): { status: number; stdout: string; stderr: string } {
  const argv = ns ? ['ip', 'netns', 'exec', ns, process.execPath, cli, ...args] : [process.execPath, cli, ...args];
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const trace = join(work, 'three.pcap');
const frames = [1, 2, 3].map((i) => buildFrame({ src: '10.5.0.1', dst: '198.51.100.5', proto: 'udp', sport: 4000 + i, dport: 53, payload: 12 }, i));
writePcap(trace, 1, frames.map((data, i) => ({ data, tsSec: 0, tsNsec: i })));

describe.skipIf(labSkipReason !== undefined)(`pktbench lab, capture and send ${labSkipReason ?? ''}`, () => {
  it('shows iptables-restore\'s own message with the ruleset line (exit 3)', () => {
    const rules = join(work, 'bad.rules');
    writeFileSync(rules, '*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -p tcp --dport 80 -j ACCEPT\n-A FORWARD -m nosuchmatch -j ACCEPT\nCOMMIT\n');
    const r = pktbench(['lab', '--trace', trace, '--ruleset', rules]);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/^pktbench: .*bad\.rules:4: iptables-restore rejected it: .*Couldn't load match .nosuchmatch.*Error occurred at line: 4/s);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('refuses a namespace name that exists (exit 2) and leaves it alone', () => {
    const prefix = `pkbt-${randomBytes(3).toString('hex')}`;
    spawnSync('ip', ['netns', 'add', `${prefix}-fw`]);
    try {
      const rules = join(work, 'ok.rules');
      writeFileSync(rules, '*filter\n:FORWARD ACCEPT [0:0]\nCOMMIT\n');
      const r = pktbench(['lab', '--trace', trace, '--ruleset', rules, '--name', prefix]);
      expect(r.status).toBe(2);
      expect(r.stderr).toContain(`network namespace ${prefix}-fw already exists; refusing to touch it`);
      expect(spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout).toContain(`${prefix}-fw`);
      expect(spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout).not.toContain(`${prefix}-snd`);
    } finally {
      spawnSync('ip', ['netns', 'del', `${prefix}-fw`]);
    }
  });

  it('asks for --allow-global-sysctl before touching nf_conntrack_max (exit 2)', () => {
    const rules = join(work, 'ok.rules');
    writeFileSync(rules, '*filter\n:FORWARD ACCEPT [0:0]\nCOMMIT\n');
    const r = pktbench(['lab', '--trace', trace, '--ruleset', rules, '--conntrack', 'max=16']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('nf_conntrack_max is global to the machine');
  });

  it('replays a trace given as files and prints the kernel view', () => {
    const rules = join(work, 'drop53.rules');
    writeFileSync(rules, '*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -p udp --sport 4002 -j DROP\nCOMMIT\n');
    const r = pktbench(['lab', '--trace', trace, '--ruleset', rules, '--json']);
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as { kernel: { observation: { outcome: { forwarded: number[]; dropped: number[] }; rules: { chain: string; index: number; packets: number; bytes: number }[] } } };
    expect(out.kernel.observation.outcome).toMatchObject({ forwarded: [1, 3], dropped: [2] });
    expect(out.kernel.observation.rules.find((x) => x.chain === 'FORWARD' && x.index === 1)).toMatchObject({ packets: 1, bytes: 40 });
  });

  it('probes qdiscs and classifiers the scenarios need', () => {
    const results = probeTc();
    const get = (f: string) => results.find((x) => x.feature === f);
    expect(get('qdisc htb')?.available).toBe(true);
    expect(get('classifier u32')?.available).toBe(true);
    // Whatever a kernel lacks is named with tc's own message.
    for (const r of results.filter((x) => !x.available)) expect(r.detail).toMatch(/\S/);
  });

  it('captures in a namespace what `send` puts on the wire, MACs rewritten and IP bytes kept', async () => {
    const a = `pkbt-${randomBytes(3).toString('hex')}-a`;
    const b = `pkbt-${randomBytes(3).toString('hex')}-b`;
    for (const ns of [a, b]) spawnSync('ip', ['netns', 'add', ns]);
    try {
      spawnSync('ip', ['-n', a, 'link', 'add', 'a0', 'type', 'veth', 'peer', 'name', 'b0', 'netns', b]);
      for (const [ns, dev] of [[a, 'a0'], [b, 'b0']] as const) {
        spawnSync('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', `net.ipv6.conf.${dev}.disable_ipv6=1`]);
        spawnSync('ip', ['-n', ns, 'link', 'set', dev, 'up']);
      }
      const out = join(work, 'captured.pcap');
      const capturing = spawn('ip', ['netns', 'exec', a, process.execPath, cli, 'capture', '-i', 'a0', '-o', out, '-c', '3', '--duration', '20', '-f', 'udp', '--snaplen', '50'], { stdio: ['ignore', 'pipe', 'pipe'] });
      const finished = new Promise<string>((res) => {
        let err = '';
        capturing.stderr.on('data', (d: Buffer) => (err += d.toString()));
        capturing.on('exit', () => res(err));
      });
      await new Promise((r) => setTimeout(r, 700));
      const sent = pktbench(['send', '-i', 'b0', '--trace', trace, '--dst-mac', '02:00:00:00:00:aa', '--src-mac', '02:00:00:00:00:bb', '--rate', '100'], b);
      expect(sent.stderr).toContain('sent 3 packets on b0');
      expect(await finished).toContain('captured 3 packets from a0');
      const pcap = readPcap(out);
      expect(pcap.linkType).toBe(1);
      expect(pcap.records.map((r) => [r.data.length, r.wireLen])).toEqual([[50, 54], [50, 54], [50, 54]]);
      for (const [i, r] of pcap.records.entries()) {
        expect(Buffer.from(r.data.subarray(0, 12)).toString('hex')).toBe('0200000000aa0200000000bb');
        expect(Buffer.from(r.data.subarray(14))).toEqual(Buffer.from(frames[i]!.subarray(14, 50)));
      }
      // tcpdump reads what capture wrote.
      const td = spawnSync('tcpdump', ['-nn', '-r', out], { encoding: 'utf8' });
      if (td.status === 0) expect(td.stdout.trim().split('\n')).toHaveLength(3);
    } finally {
      for (const ns of [a, b]) spawnSync('ip', ['netns', 'del', ns]);
    }
  });
});

describe('capture and send errors', () => {
  it('names a missing interface (exit 2)', () => {
    const r = pktbench(['capture', '-i', 'nosuchif0', '-o', join(work, 'x.pcap'), '-c', '1']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('no network interface named "nosuchif0" here');
  });

  it('rejects a bad trace for send with its byte offset (exit 3)', () => {
    const bad = join(work, 'bad.pcap');
    writeFileSync(bad, Buffer.from('not a pcap file at all, just text'));
    const r = pktbench(['send', '-i', 'lo', '--trace', bad, '--dst-mac', '02:00:00:00:00:01']);
    expect(r.status).toBe(3);
    expect(r.stderr).toContain('bad.pcap: byte 0: not a pcap file');
    expect(readFileSync(bad, 'utf8')).toContain('not a pcap');
  });
});

describe.skipIf(labSkipReason !== undefined)(`pktbench lab on Ctrl-C ${labSkipReason ?? ''}`, () => {
  it('removes its namespaces and exits 130', async () => {
    const prefix = `pkbt-${randomBytes(3).toString('hex')}`;
    const child = spawn(process.execPath, [cli, 'lab', '--scenario', resolve(repoRoot, 'fixtures/lab/stateful.yaml'), '--name', prefix], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    const list = () => spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
    for (let i = 0; i < 300 && !list().includes(`${prefix}-rcv`); i++) await new Promise((r) => setTimeout(r, 20));
    expect(list()).toContain(`${prefix}-rcv`);
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(stderr).toContain('interrupted (SIGINT); lab namespaces removed');
    expect(list()).not.toContain(prefix);
  });
});

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../support/shared.js';

const main = resolve(repoRoot, 'dist/src/cli/main.js');
const fixtures = resolve(repoRoot, 'fixtures/trace');
const tmp = mkdtempSync(join(tmpdir(), 'pktbench-trace-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function run(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [main, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('pktbench trace (built CLI)', () => {
  it('tuples prints the truth columns exactly', () => {
    const r = run('trace', 'tuples', join(fixtures, 'pppoes.pcap'));
    const truth = readFileSync(join(fixtures, 'pppoes.pcap.tsv'), 'utf8').trim().split('\n').map((l) => l.split('\t').slice(0, 14).join('\t'));
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual(truth);
  });

  it('tuples --json and info --json', () => {
    const rows = JSON.parse(run('trace', 'tuples', '--json', join(fixtures, 'nflog.pcap')).stdout) as Record<string, unknown>[];
    expect(rows[0]).toEqual({ frame: 1, caplen: 180, len: 180, ts_epoch: '1378492319.615994000', linktype: 'NFLOG', l3: 4, src: '74.82.42.42', dst: '10.0.0.20', proto: 17, sport: 53, dport: 42585, tcp_flags: null, vlan_ids: null, ip_frag: 0 });
    const info = JSON.parse(run('trace', 'info', '--json', join(fixtures, 'tcp-handshake-nano.pcap')).stdout) as Record<string, unknown>;
    expect(info).toMatchObject({ format: 'pcap', packets: 3, capturedBytes: 220, flows: 2, first: '1418145369.924505488', last: '1418145370.052115157' });
    expect((info.topFlows as unknown[])[0]).toEqual({ src: '131.155.215.69', dst: '137.116.81.94', l3: 4, proto: 6, sport: 46656, dport: 80, packets: 2, bytes: 144 });
  });

  it('exit 3 with the byte offset for bad input, exit 0 with a warning for a cut file, exit 2 for usage', () => {
    writeFileSync(join(tmp, 'bad.pcap'), 'hello world, not a trace');
    const bad = run('trace', 'info', join(tmp, 'bad.pcap'));
    expect(bad.code).toBe(3);
    expect(bad.stderr).toBe(`pktbench: ${join(tmp, 'bad.pcap')}: byte 0: not a pcap or pcapng file (magic 0x68656c6c)\n`);
    writeFileSync(join(tmp, 'cut.pcap'), readFileSync(join(fixtures, 'nflog.pcap')).subarray(0, 500));
    const cut = run('trace', 'tuples', join(tmp, 'cut.pcap'));
    expect(cut.code).toBe(0);
    expect(cut.stdout.trim().split('\n')).toHaveLength(3);
    expect(cut.stderr).toContain('byte 428: file cut short inside a pcap record (72 byte(s) left); 2 packet(s) read before it');
    expect(run('trace', 'tuples').code).toBe(2);
  });
});

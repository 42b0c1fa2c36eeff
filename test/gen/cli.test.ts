import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Command, CommanderError } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import { register } from '../../src/cli/gen.js';
import { PktbenchError } from '../../src/errors.js';
import { repoRoot } from '../support/shared.js';
import { hasTcpdump, readPcap, readPcapngBlocks } from './frames.js';

const cli = resolve(repoRoot, 'dist/src/cli/main.js');
const dir = mkdtempSync(join(tmpdir(), 'pktbench-gen-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function gen(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, 'gen', ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Runs `gen` in this process (no node start-up per case): returns the exit code main.ts would
 * give (2 for commander's parse errors, the PktbenchError's code) and what went to stderr.
 */
async function genInProcess(...args: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const program = new Command('pktbench').exitOverride().configureOutput({ writeErr: (t) => (stderr += t), writeOut: () => {} });
  register(program);
  const saved = process.stdout.write;
  process.stdout.write = (() => true) as typeof process.stdout.write;
  try {
    await program.parseAsync(['node', 'pktbench', 'gen', ...args]);
    return { code: 0, stderr };
  } catch (err) {
    if (err instanceof CommanderError) return { code: err.exitCode === 0 ? 0 : 2, stderr };
    if (err instanceof PktbenchError) return { code: err.exitCode, stderr: stderr + err.message };
    throw err;
  } finally {
    process.stdout.write = saved;
    process.exitCode = undefined;
  }
}

// The CLI runs from the build (`npm test` builds first).
describe.skipIf(!existsSync(cli))('pktbench gen', () => {
  it('writes the trace and says what it wrote (--json)', () => {
    const out = join(dir, 'a.pcapng');
    const r = gen('-o', out, '--packets', '3000', '--flows', '100', '--pps', '1000', '--format', 'pcapng', '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(s).toMatchObject({ file: out, format: 'pcapng', precision: 'ns', pattern: 'uniform', seed: 1, packets: 3000, flows: 100, firstTime: 1_700_000_000 });
    expect(s.seconds).toBeCloseTo(2.999, 6);
    expect(s.bytes).toBe(readFileSync(out).length);
    expect(readPcapngBlocks(new Uint8Array(readFileSync(out))).filter((b) => b.type === 6)).toHaveLength(3000);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('is byte-identical for the same seed and differs for another', async () => {
    const args = ['--packets', '2000', '--flows', '50', '--pattern', 'zipf', '--ipv6', '0.3', '--mix', 'tcp=50,udp=50'];
    expect((await genInProcess('-o', join(dir, 's1.pcap'), '--seed', '77', ...args)).code).toBe(0);
    expect((await genInProcess('-o', join(dir, 's2.pcap'), '--seed', '77', ...args)).code).toBe(0);
    expect((await genInProcess('-o', join(dir, 's3.pcap'), '--seed', '78', ...args)).code).toBe(0);
    const [a, b, c] = ['s1', 's2', 's3'].map((n) => readFileSync(join(dir, `${n}.pcap`)));
    expect(a!.equals(b!)).toBe(true);
    expect(a!.equals(c!)).toBe(false);
  });

  it('cuts frames to --snaplen and keeps their wire length', async () => {
    const out = join(dir, 'snap.pcap');
    expect((await genInProcess('-o', out, '--packets', '400', '--flows', '10', '--snaplen', '54', '--payload-bytes', '100-200')).code).toBe(0);
    const { snaplen, frames } = readPcap(new Uint8Array(readFileSync(out)));
    expect(snaplen).toBe(54);
    expect(frames.every((f) => f.caplen <= 54 && f.wireLen >= f.caplen)).toBe(true);
    expect(frames.some((f) => f.wireLen > 54 + 100)).toBe(true);
  });

  it.skipIf(!hasTcpdump())('writes files tcpdump counts packet for packet', () => {
    for (const format of ['pcap', 'pcapng']) {
      const out = join(dir, `td.${format}`);
      expect(gen('-o', out, '--packets', '1500', '--flows', '40', '--format', format, '--ipv6', '0.5').code).toBe(0);
      const r = spawnSync('tcpdump', ['-nn', '-r', out], { encoding: 'utf8' });
      expect(r.status).toBe(0);
      expect(r.stdout.trim().split('\n')).toHaveLength(1500);
    }
  });

  it.each([
    [['--pattern', 'sawtooth'], /argument 'sawtooth' is invalid/],
    [['--mix', 'tcp=70,sctp=30'], /expected tcp=N,udp=N,icmp=N/],
    [['--ipv6', '1.5'], /fraction 0..1/],
    [['--payload-bytes', '2000'], /at most 1440|<= 1440/],
    [['--packets', '0'], /at least 1/],
    [['--packets', '100', '--flows', '100'], /too few for --flows 100/],
    [['--zipf-s', '-1'], /positive number/],
    [['--client-net', '10.0.0.0/40'], /prefix length must be 0..32/],
    [['--server-net6', 'not-an-address/64'], /not an IPv6 prefix/],
    [['--snaplen', '300000'], /snaplen must be 1..262144/],
    [['--start', '4294967295', '--pps', '1', '--packets', '8', '--flows', '2'], /past what pcap's 32-bit seconds hold/],
  ])('refuses %j with exit code 2 and a clear message', async (args, message) => {
    const out = join(dir, 'bad.pcap');
    const r = await genInProcess('-o', out, ...args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(existsSync(out)).toBe(false);
  });

  it('exits 2 from the real executable, one line, no stack trace', () => {
    for (const args of [['--ipv6', '1.5'], ['--packets', '100', '--flows', '100']]) {
      const r = gen('-o', join(dir, 'bad.pcap'), ...args);
      expect(r.code).toBe(2);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('exits 2 without -o and when the output directory does not exist', () => {
    const r = gen('--packets', '10');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/required option '-o, --output <file>'/);
    const r2 = gen('-o', join(dir, 'no', 'such', 'dir.pcap'));
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/cannot write .*dir\.pcap: ENOENT/);
  });
});

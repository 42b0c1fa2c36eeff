import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { parseTcScript } from '../../src/shaper/tc-parse.js';
import { Shaper } from '../../src/shaper/shaper.js';
import { PacketBatch } from '../../src/trace/batch.js';

// Words a tc script is made of, plus some that break it: any mix must either build a shaper that
// runs, or be refused as InputError naming the file and line — never another exception.
const WORDS = [
  'tc', 'qdisc', 'class', 'filter', 'add', 'replace', 'change', 'del', 'dev', 'eth0', 'root', 'parent', 'handle', 'classid',
  'flowid', 'htb', 'pfifo', 'bfifo', 'limit', 'default', 'r2q', 'rate', 'ceil', 'burst', 'cburst', 'prio', 'quantum', 'protocol',
  'ip', 'fw', 'u32', 'match', 'src', 'dst', 'sport', 'dport', 'mark', 'divisor', 'link', 'ht', 'hashkey', 'mask', 'at', 'sample',
  'offset', 'eat', '1:', '1:1', '1:10', '1:20', '2:', '800::', '2:5:', '10', '0', '0x10/0xff', '1mbit', '10mbit', '0bit', '15k',
  '10.0.0.0/8', '0xffff', '0xff', '80', 'nexthdr+2', '#', '\\', '-1', '99999999999', 'u16', 'u8',
];

describe('tc script ingest never crashes', () => {
  it('parses or refuses random scripts, and what it parses runs', () => {
    const line = fc.array(fc.constantFrom(...WORDS), { minLength: 0, maxLength: 14 }).map((w) => w.join(' '));
    const prefix = 'tc qdisc add dev eth0 root handle 1: htb default 10\ntc class add dev eth0 parent 1: classid 1:1 htb rate 10mbit\n';
    fc.assert(
      fc.property(fc.array(line, { maxLength: 8 }), fc.boolean(), (lines, withPrefix) => {
        const text = (withPrefix ? prefix : '') + lines.join('\n');
        let cfg;
        try {
          cfg = parseTcScript(text, 'fuzz.tc');
        } catch (err) {
          expect(err).toBeInstanceOf(InputError);
          expect((err as InputError).message).toMatch(/^fuzz\.tc(:\d+)?: /);
          return;
        }
        const s = new Shaper(cfg, { linkRate: 1_250_000 });
        const b = new PacketBatch(8, 64);
        for (let i = 0; i < 8; i++) {
          b.resetSlot(i);
          b.l3[i] = 4;
          b.wireLen[i] = 60 + i * 100;
          b.mark[i] = i * 5;
          b.headLen[i] = 40;
          b.head[i * 64] = 0x45;
          s.packet(b, i, i * 1000);
        }
        s.finish(10_000);
        expect(s.htb.totalQlen).toBe(0);
      }),
      { numRuns: 400 },
    );
  });
});

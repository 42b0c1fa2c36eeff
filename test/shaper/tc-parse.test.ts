import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { parseTcScript } from '../../src/shaper/tc-parse.js';

const HEAD = `tc qdisc add dev eth0 root handle 1: htb default 30 r2q 10
tc class add dev eth0 parent 1: classid 1:1 htb rate 100mbit
tc class add dev eth0 parent 1:1 classid 1:10 htb rate 10mbit ceil 100mbit burst 15k cburst 15k prio 1 quantum 1514
`;

function errorOf(script: string): InputError {
  try {
    parseTcScript(script, 'shape.tc');
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return err as InputError;
  }
  throw new Error('expected the script to be refused');
}

describe('tc script ingest', () => {
  it('reads qdisc, classes and fw filters with tc’s units and defaults', () => {
    const cfg = parseTcScript(`${HEAD}tc filter add dev eth0 parent 1: protocol ip prio 1 handle 10 fw classid 1:10\n`, 'shape.tc');
    expect(cfg.dev).toBe('eth0');
    expect(cfg.qdisc).toEqual({ handle: 0x10000, defcls: 0x30, r2q: 10, directQlen: undefined });
    const [root, leaf] = cfg.classes;
    // 100mbit = 12,500,000 B/s; no burst given: rate/HZ(1e9) + mtu 1600 = 1600 B → 128 us → 2000 ticks.
    expect(root).toMatchObject({ classid: 0x10001, parent: 0, rate: 12_500_000, ceil: 12_500_000, bufferTicks: 2000, cbufferTicks: 2000, quantum: 0, prio: 0 });
    // 15k at 10mbit: 12288 us → 192000 ticks; 15k at 100mbit: 1228 us (truncated) → 19187 ticks.
    expect(leaf).toMatchObject({ classid: 0x10010, parent: 0x10001, rate: 1_250_000, ceil: 12_500_000, bufferTicks: 192000, cbufferTicks: 19187, quantum: 1514, prio: 1, line: 3 });
    expect(cfg.filters[0]).toMatchObject({ parent: 0x10000, prio: 1, protocol: 0x0800, line: 4, filter: { type: 'fw', id: 10, mask: 0xffffffff, classid: 0x10010 } });
  });

  it('accepts -batch lines, comments, continuations, abbreviations, replace and change', () => {
    const cfg = parseTcScript(`# a tc -batch file
qdisc add dev eth0 root handle 1: htb default 10
class add dev eth0 parent 1: classid 1:1 htb rate 1gbit   # uplink
class add dev eth0 parent 1:1 classid 1:10 \\
    htb rate 1mbit ceil 2mbit pr 3
tc class change dev eth0 parent 1:1 classid 1:10 htb rate 2mbit ceil 4mbit
tc class replace dev eth0 parent 1:1 classid 1:20 htb rate 64kbit
tc qdisc add dev eth0 parent 1:10 handle 10: pfifo limit 50
tc qdisc add dev eth0 parent 1:20 handle 20: bfifo limit 30k
tc f add dev eth0 parent 1: protocol ip pref 2 handle 0x10/0xff fw flowid 1:10
`, 'b.tc');
    expect(cfg.classes.map((c) => [c.classid, c.rate, c.ceil, c.prio])).toEqual([
      [0x10001, 125_000_000, 125_000_000, 0],
      [0x10010, 250_000, 500_000, 0],
      [0x10020, 8000, 8000, 0],
    ]);
    expect(cfg.leafQdiscs).toEqual([
      { parent: 0x10010, handle: 0x100000, kind: 'pfifo', limitPackets: 50, limitBytes: undefined },
      { parent: 0x10020, handle: 0x200000, kind: 'bfifo', limitPackets: undefined, limitBytes: 30720 },
    ]);
    expect(cfg.filters[0]!.filter).toMatchObject({ type: 'fw', id: 0x10, mask: 0xff, classid: 0x10010 });
  });

  it.each([
    ['an unknown class keyword', `${HEAD}tc class add dev eth0 parent 1:1 classid 1:20 htb rate 1mbit bogus 3\n`, 'shape.tc:4: What is "bogus"?'],
    ['an unknown object', `${HEAD}tc qdisk add dev eth0 root htb\n`, 'shape.tc:4: Object "qdisk" is unknown, try "tc help".'],
    ['an unknown qdisc option', 'tc qdisc add dev eth0 root handle 1: htb defualt 10\n', 'shape.tc:1: What is "defualt"?'],
    ['a bad unit', `${HEAD}tc class add dev eth0 parent 1:1 classid 1:20 htb rate 10mbits\n`, 'shape.tc:4: Illegal "rate"'],
    ['rate 0', `${HEAD}tc class add dev eth0 parent 1:1 classid 1:20 htb rate 0mbit\n`, 'shape.tc:4: "rate" is required.'],
    ['no rate', `${HEAD}tc class add dev eth0 parent 1:1 classid 1:20 htb ceil 1mbit\n`, 'shape.tc:4: "rate" is required.'],
    ['ceil below rate', `${HEAD}tc class add dev eth0 parent 1:1 classid 1:20 htb rate 10mbit ceil 5mbit\n`,
      'shape.tc:4: ceil 5Mbit is below rate 10Mbit: tc and the kernel accept it silently, but the class can never reach its rate'],
    ['a missing parent', `${HEAD}tc class add dev eth0 parent 1:5 classid 1:20 htb rate 1mbit\n`,
      'shape.tc:4: parent class 1:5 does not exist (the kernel would silently make 1:20 a root class)'],
    ['a duplicate classid', `${HEAD}tc class add dev eth0 parent 1:1 classid 1:10 htb rate 1mbit\n`,
      'shape.tc:4: RTNETLINK answers: File exists (class 1:10 is already defined on line 3)'],
    ['a filter to a missing class', `${HEAD}tc filter add dev eth0 parent 1: protocol ip prio 1 handle 7 fw classid 1:77\n`,
      'shape.tc:4: classid 1:77 does not exist (the kernel accepts the filter, and matching packets then fall to the default class)'],
    ['two fw masks in one instance', `${HEAD}tc filter add dev eth0 parent 1: prio 1 handle 1/0xff fw classid 1:10\ntc filter add dev eth0 parent 1: prio 1 handle 2 fw classid 1:10\n`,
      'shape.tc:5: RTNETLINK answers: Invalid argument (fw filters at prio 1 use mask 0xff; one instance has one mask)'],
    ['a u32 link to a missing table', `${HEAD}tc filter add dev eth0 parent 1: prio 5 u32 ht 800:: match ip dst 1.2.3.4/32 link 9:\n`,
      'shape.tc:4: "link" to table 9: which does not exist'],
    ['fw and u32 at one prio', `${HEAD}tc filter add dev eth0 parent 1: prio 1 handle 1 fw classid 1:10\ntc filter add dev eth0 parent 1: prio 1 u32 match mark 1 0xff classid 1:10\n`,
      'shape.tc:5: RTNETLINK answers: Invalid argument (prio 1 on 1: already holds fw filters for another kind or protocol)'],
    ['a knode in a root table that does not exist', `${HEAD}tc filter add dev eth0 parent 1: prio 5 u32 ht 801:: match ip dst 1.2.3.4/32 classid 1:10\n`,
      'shape.tc:4: hash table 801: does not exist'],
    ['a u32 mark with bits outside its mask', `${HEAD}tc filter add dev eth0 parent 1: prio 5 u32 match mark 0x105 0xff classid 1:10\n`,
      'shape.tc:4: Illegal "mark" value, not masked'],
    ['a bad divisor', `${HEAD}tc filter add dev eth0 parent 1: prio 5 handle 2: u32 divisor 100\n`, 'shape.tc:4: Illegal "divisor"'],
    ['a class before the qdisc', 'tc class add dev eth0 parent 1: classid 1:1 htb rate 1mbit\n',
      'shape.tc:1: RTNETLINK answers: No such file or directory (no root htb qdisc yet)'],
  ])('refuses %s with file:line and exit code 3', (_what, script, message) => {
    const err = errorOf(script);
    expect(err.message).toBe(message);
    expect(err.exitCode).toBe(3);
  });

  it('names the first line of a continued command', () => {
    expect(errorOf(`${HEAD}tc class add dev eth0 parent 1:1 \\\n  classid 1:20 htb \\\n  rate 1mbit zzz 1\n`).message).toBe('shape.tc:4: What is "zzz"?');
  });

  it('refuses a script with no root qdisc', () => {
    expect(errorOf('# nothing\n').message).toBe('shape.tc: no `qdisc add ... root ... htb` line: nothing to shape');
  });
});

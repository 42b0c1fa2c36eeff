import { describe, expect, it } from 'vitest';
import { formatRuleset } from '../../src/rules/counters.js';
import { CtState, PacketBatch, Verdict } from '../../src/trace/batch.js';
import { ConntrackConfirmStage, ConntrackInStage } from '../../src/conntrack/stage.js';
import { ConntrackTable, resolveConfig } from '../../src/conntrack/table.js';
import { RuleEngine } from '../../src/rules/traverse.js';
import { fillSlot } from '../conntrack/helpers.js';
import { TestConntrack, filterForward, parse, run } from './helpers.js';

const ACCEPT = Verdict.ACCEPT, DROP = Verdict.DROP, REJECT = Verdict.REJECT;

describe('chain semantics (ipt_do_table)', () => {
  it('jump returns to the next rule; goto returns to the caller\'s caller', () => {
    const text = filterForward([
      '-p tcp -j viaJump',
      '-p udp -g viaGoto',
      '-j DROP',
      '-A viaJump -j MARK --set-xmark 0x1/0xffffffff',
      '-A viaGoto -j MARK --set-xmark 0x2/0xffffffff',
    ], 'ACCEPT', ':viaGoto - [0:0]\n:viaJump - [0:0]');
    const { verdicts, batch } = run(parse(text), [{ proto: 6 }, { proto: 17 }]);
    // tcp: jump, falls off viaJump, back in FORWARD at rule 3 -> DROP.
    expect(verdicts[0]).toBe(DROP);
    expect(batch.mark[0]).toBe(1);
    // udp: goto, falls off viaGoto with an empty stack -> FORWARD policy ACCEPT, rule 3 never seen.
    expect(verdicts[1]).toBe(ACCEPT);
    expect(batch.mark[1]).toBe(2);
  });
  it('RETURN in a user chain resumes the caller; RETURN in a built-in chain takes the policy', () => {
    const text = filterForward([
      '-j sub',
      '-p tcp -j RETURN',
      '-j ACCEPT',
      '-A sub -p udp -j RETURN',
      '-A sub -j REJECT --reject-with icmp-port-unreachable',
    ], 'DROP', ':sub - [0:0]');
    const rs = parse(text);
    const { verdicts, engine } = run(rs, [{ proto: 17 }, { proto: 1, icmp: [8, 0] }]);
    // udp: sub RETURNs, FORWARD rule 2 (tcp) misses, rule 3 accepts.
    expect(verdicts[0]).toBe(ACCEPT);
    expect(verdicts[1]).toBe(REJECT);
    const t = run(rs, [{ proto: 6 }]);
    // tcp: sub rule 1 misses, rule 2 REJECTs before the RETURN in FORWARD could be seen.
    expect(t.verdicts[0]).toBe(REJECT);
    const t2 = run(parse(filterForward(['-p tcp -j RETURN', '-j ACCEPT'], 'DROP')), [{ proto: 6 }]);
    expect(t2.verdicts[0]).toBe(DROP);
    expect(t2.engine.policyPackets[1]).toBe(1);
    // udp: FORWARD 1, sub 1, FORWARD 2, 3 = 4; icmp: FORWARD 1, sub 1, 2 = 3.
    expect(engine.histogram.sum).toBe(4 + 3);
  });
  it('policies: falling off a built-in chain counts the policy and applies it', () => {
    const rs = parse(filterForward(['-p tcp -j ACCEPT'], 'DROP'));
    const { verdicts, engine } = run(rs, [{ proto: 6, ipLen: 60 }, { proto: 17, ipLen: 28 }, { proto: 17, ipLen: 1500 }]);
    expect(verdicts).toEqual([ACCEPT, DROP, DROP]);
    const fwd = rs.tables[0]!.hooks.FORWARD;
    expect(engine.policyPackets[fwd]).toBe(2);
    expect(engine.policyBytes[fwd]).toBe(1528);
  });
  it('ACCEPT ends only its table: filter still runs after mangle ACCEPT; DROP stops the packet', () => {
    const text = ['*mangle', ':PREROUTING ACCEPT [0:0]', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':POSTROUTING ACCEPT [0:0]',
      '-A PREROUTING -j ACCEPT', '-A FORWARD -p udp -j DROP', '-A POSTROUTING -j MARK --set-xmark 0x5/0xffffffff', 'COMMIT',
      ...filterForward(['-p tcp -j DROP']).split('\n')].join('\n');
    const { verdicts, batch, engine } = run(parse(text), [{ proto: 6 }, { proto: 17 }, { proto: 1, icmp: [8, 0] }]);
    expect(verdicts).toEqual([DROP, DROP, ACCEPT]);
    // Only the accepted packet reached mangle POSTROUTING.
    expect([batch.mark[0], batch.mark[1], batch.mark[2]]).toEqual([0, 0, 5]);
    // Evaluations: tcp 1 (mangle PRE) + 1 (mangle FWD) + 1 (filter) = 3; udp 1 + 1 = 2; icmp 1+1+1+1 = 4.
    expect(engine.histogram.sum).toBe(9);
    expect(engine.histogram.max).toBe(4);
  });
  it('paths: input and output walk their own chains', () => {
    const text = filterForward(['-j DROP', '-A INPUT -j REJECT', '-A OUTPUT -j ACCEPT']);
    expect(run(parse(text), [{}], { path: 'input' }).verdicts).toEqual([REJECT]);
    expect(run(parse(text), [{}], { path: 'output' }).verdicts).toEqual([ACCEPT]);
    const local = Uint32Array.of(0xc0000201, 0, 0, 0);
    expect(run(parse(text), [{ dst: '192.0.2.1' }, { src: '192.0.2.1', dst: '8.8.8.8' }, { dst: '8.8.8.8' }], { path: 'auto', localAddrs: local }).verdicts).toEqual([REJECT, ACCEPT, DROP]);
  });
});

describe('targets', () => {
  const mangle = (specs: string[]): string => ['*mangle', ':PREROUTING ACCEPT [0:0]', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':POSTROUTING ACCEPT [0:0]', ...specs, 'COMMIT', ''].join('\n');
  it('MARK --set-xmark, --set-mark, --and-mark, --or-mark, --xor-mark', () => {
    const cases: [string, number, number][] = [
      ['--set-xmark 0x10/0xf0', 0xab, 0x1b],
      ['--set-mark 0x10/0xf0', 0xab, 0x1b],
      ['--set-mark 0x5', 0xab, 0x5],
      ['--and-mark 0x0f', 0xab, 0x0b],
      ['--or-mark 0x100', 0xab, 0x1ab],
      ['--xor-mark 0xff', 0xab, 0x54],
    ];
    for (const [opt, before, after] of cases) {
      const { batch } = run(parse(mangle([`-A PREROUTING -j MARK ${opt}`])), [{ mark: before }]);
      expect([opt, batch.mark[0]]).toEqual([opt, after]);
    }
  });
  it('CLASSIFY packs hex major:minor as tc does', () => {
    const { batch } = run(parse(mangle(['-A POSTROUTING -j CLASSIFY --set-class 1:1a'])), [{}]);
    expect(batch.priority[0]).toBe(0x0001001a);
  });
  it('MARK then CONNMARK --save-mark; --restore-mark on a later packet of the flow', () => {
    const text = mangle([
      '-A PREROUTING -j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff',
      '-A PREROUTING -m mark ! --mark 0x0 -j ACCEPT',
      '-A PREROUTING -p tcp -m tcp --dport 22 -j MARK --set-xmark 0x22/0xffffffff',
      '-A PREROUTING -j CONNMARK --save-mark --nfmask 0xffffffff --ctmask 0xffffffff',
    ]);
    const ct = new TestConntrack();
    const { batch, engine } = run(parse(text), [
      { dport: 22, ctId: 9, ct: CtState.NEW, tcp: 'SYN' },
      { sport: 22, dport: 40000, ctId: 9, ct: CtState.ESTABLISHED, reply: true },
      { dport: 22, ctId: 9, ct: CtState.ESTABLISHED },
      { dport: 80, ctId: 10, ct: CtState.NEW },
    ], { conntrack: ct });
    expect(ct.marks.get(9)).toBe(0x22);
    expect([batch.mark[0], batch.mark[1], batch.mark[2], batch.mark[3]]).toEqual([0x22, 0x22, 0x22, 0]);
    // Packets 2 and 3 stop at rule 2 (restored mark): rules 3 and 4 saw only packets 1 and 4.
    expect(Array.from(engine.rulePackets)).toEqual([4, 2, 1, 2]);
    expect(ct.marks.get(10) ?? 0).toBe(0);
  });
  it('CONNMARK --set-xmark and masks', () => {
    const ct = new TestConntrack();
    ct.marks.set(1, 0xff00);
    run(parse(mangle(['-A PREROUTING -j CONNMARK --set-xmark 0x3/0xf'])), [{ ctId: 1 }], { conntrack: ct });
    expect(ct.marks.get(1)).toBe(0xff03);
    const { batch } = run(parse(mangle(['-A PREROUTING -j CONNMARK --restore-mark --nfmask 0xff --ctmask 0xff'])), [{ ctId: 1, mark: 0x1200 }], { conntrack: ct });
    expect(batch.mark[0]).toBe(0x1203);
  });
  it('nat runs only for the first packet of a connection, per manip, and records the binding', () => {
    const text = ['*nat', ':PREROUTING ACCEPT [0:0]', ':INPUT ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':POSTROUTING ACCEPT [0:0]',
      '-A PREROUTING -d 203.0.113.1/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.0.0.80:8080',
      '-A POSTROUTING -s 10.0.0.0/8 -o eth1 -j SNAT --to-source 203.0.113.1',
      '-A POSTROUTING -o eth1 -j MASQUERADE', 'COMMIT', ''].join('\n');
    const ct = new TestConntrack();
    const { engine } = run(parse(text), [
      { src: '198.51.100.7', dst: '203.0.113.1', ctId: 1, ct: CtState.NEW, tcp: 'SYN' },
      { src: '198.51.100.7', dst: '203.0.113.1', ctId: 1, ct: CtState.NEW, tcp: 'SYN' }, // retransmit: nat already done
      { src: '10.0.0.80', dst: '198.51.100.7', sport: 8080, dport: 40000, ctId: 1, ct: CtState.ESTABLISHED, reply: true },
      { src: '10.1.1.1', dst: '198.51.100.9', ctId: 2, ct: CtState.NEW },
      { src: '10.1.1.1', dst: '198.51.100.9', ctId: 2, ct: CtState.ESTABLISHED },
      { src: '10.1.1.1', dst: '198.51.100.9', ctId: 3, ct: CtState.UNTRACKED },
    ], { conntrack: ct });
    expect(Array.from(engine.rulePackets)).toEqual([1, 1, 1]);
    expect(ct.nat).toEqual([
      { ctId: 1, isSource: false, addr: [0x0a000050, 0, 0, 0], port: 8080 },
      { ctId: 1, isSource: true, addr: [0, 0, 0, 0], port: 0 }, // MASQUERADE, address unknown to the model
      { ctId: 2, isSource: true, addr: [0xcb007101, 0, 0, 0], port: 0 },
    ]);
  });
  it('per-packet devices: the in device from the start, the out device asked once, after nat PREROUTING', () => {
    // A router forwarding both ways: -i/-o differ by packet, and the out device depends on where
    // DNAT sent the packet (ip_route_input runs after PREROUTING).
    const text = ['*nat', ':PREROUTING ACCEPT [0:0]', ':INPUT ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':POSTROUTING ACCEPT [0:0]',
      '-A PREROUTING -i f1 -d 198.51.100.99/32 -j DNAT --to-destination 10.1.0.50', 'COMMIT',
      '*filter', ':INPUT ACCEPT [0:0]', ':FORWARD DROP [0:0]', ':OUTPUT ACCEPT [0:0]',
      '-A FORWARD -i f0 -o f1 -j ACCEPT', '-A FORWARD -i f1 -o f0 -j ACCEPT', 'COMMIT', ''].join('\n');
    const ct = new TestConntrack();
    const asked: string[] = [];
    const devices = {
      inIface: (b: PacketBatch, i: number) => (b.src[i * 4]! >>> 24 === 10 ? 'f0' : 'f1'),
      outIface: (b: PacketBatch, i: number) => {
        // What the lab asks: where the DNATed destination lives (the binding is recorded by now).
        asked.push(`${i}:${ct.nat.filter((n) => n.ctId === b.ctId[i]).length}`);
        const dnat = ct.nat.find((n) => n.ctId === b.ctId[i] && !n.isSource);
        const dst = dnat ? dnat.addr[0]! : b.dst[i * 4]!;
        return dst >>> 24 === 10 ? 'f0' : 'f1';
      },
    };
    const { verdicts, engine } = run(parse(text), [
      { src: '10.1.0.2', dst: '198.51.100.10', ctId: 1 }, // inside -> outside
      { src: '203.0.113.7', dst: '198.51.100.99', ctId: 2 }, // outside -> DNAT -> inside
      { src: '203.0.113.7', dst: '198.51.100.10', ctId: 3 }, // outside -> outside: no rule
    ], { inIface: 'wrong', outIface: 'wrong', conntrack: ct, devices });
    expect(verdicts).toEqual([ACCEPT, ACCEPT, DROP]);
    // filter FORWARD #1 (f0 -> f1), #2 (f1 -> f0), nat #1; one out-device question per packet, after the DNAT binding.
    expect(Array.from(engine.rulePackets)).toEqual([1, 1, 1]);
    expect(asked).toEqual(['0:0', '1:1', '2:0']);
  });
  it('NOTRACK and CT --notrack in raw set ctState UNTRACKED', () => {
    const text = ['*raw', ':PREROUTING ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', '-A PREROUTING -p udp -j CT --notrack', '-A PREROUTING -p icmp -j NOTRACK', 'COMMIT', ''].join('\n');
    const { batch } = run(parse(text), [{ proto: 17, ct: CtState.NONE }, { icmp: [8, 0], ct: CtState.NONE }, { proto: 6, ct: CtState.NONE }]);
    expect([batch.ctState[0], batch.ctState[1], batch.ctState[2]]).toEqual([CtState.UNTRACKED, CtState.UNTRACKED, CtState.NONE]);
  });
  it('LOG, NFLOG and counting rules count and continue', () => {
    const rs = parse(filterForward(['-p tcp', '-j LOG --log-prefix "fw: " --log-level 4', '-j NFLOG --nflog-group 2', '-j DROP']));
    const { verdicts, engine } = run(rs, [{ proto: 6 }, { proto: 17 }]);
    expect(verdicts).toEqual([DROP, DROP]);
    expect(Array.from(engine.rulePackets)).toEqual([1, 2, 2, 2]);
  });
});

describe('counters', () => {
  it('a small ruleset and trace against hand counts, printed in iptables-save -c form', () => {
    const text = [
      '*filter',
      ':INPUT ACCEPT [0:0]',
      ':FORWARD DROP [0:0]',
      ':OUTPUT ACCEPT [0:0]',
      ':web - [0:0]',
      '-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
      '-A FORWARD -p tcp -m tcp --dport 80 -j web',
      '-A FORWARD -p udp -m udp --dport 53 -j ACCEPT',
      '-A web -s 10.0.0.0/8 -j ACCEPT',
      '-A web -j REJECT --reject-with tcp-reset',
      'COMMIT',
      '',
    ].join('\n');
    const rs = parse(text);
    const { engine } = run(rs, [
      { src: '10.0.0.5', dport: 80, ipLen: 60, ct: CtState.NEW }, // web -> ACCEPT
      { src: '10.0.0.5', dport: 80, ipLen: 52, ct: CtState.ESTABLISHED }, // rule 1
      { src: '172.16.0.1', dport: 80, ipLen: 60, ct: CtState.NEW }, // web -> REJECT
      { proto: 17, dport: 53, ipLen: 70, ct: CtState.NEW }, // rule 3
      { proto: 17, dport: 123, ipLen: 76, ct: CtState.NEW }, // policy DROP
    ]);
    const out = formatRuleset(rs, { counters: engine, comments: false });
    expect(out).toBe([
      '*filter',
      ':INPUT ACCEPT [0:0]',
      ':FORWARD DROP [1:76]',
      ':OUTPUT ACCEPT [0:0]',
      ':web - [0:0]',
      '[1:52] -A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
      '[2:120] -A FORWARD -p tcp -m tcp --dport 80 -j web',
      '[1:70] -A FORWARD -p udp -m udp --dport 53 -j ACCEPT',
      '[1:60] -A web -s 10.0.0.0/8 -j ACCEPT',
      '[1:60] -A web -j REJECT --reject-with tcp-reset',
      'COMMIT',
      '',
    ].join('\n'));
    expect(Array.from(engine.verdicts)).toEqual([3, 1, 1]);
    // Evaluations: 3 (1,2,web1) + 1 + 4 (1,2,web1,web2) + 3 + 3 = 14
    expect(engine.histogram.sum).toBe(14);
    expect(engine.histogram.quantile(0.5)).toBe(3);
    expect(engine.histogram.max).toBe(4);
  });
});

describe('EvalHistogram', () => {
  it('exact below 1024, within 1/64 above; quantiles by rank', async () => {
    const { EvalHistogram } = await import('../../src/rules/traverse.js');
    const h = new EvalHistogram();
    for (const v of [0, 5, 5, 1023, 1024, 1600, 100000]) h.add(v);
    expect(h.quantile(0.5)).toBe(1023);
    expect(h.quantile(3 / 7)).toBe(5);
    expect(h.quantile(5 / 7)).toBe(1024);
    const q = h.quantile(6 / 7);
    expect(q).toBeLessThanOrEqual(1600);
    expect(q).toBeGreaterThan(1600 * (1 - 1 / 64));
    expect(h.max).toBe(100000);
    expect(h.sum).toBe(0 + 5 + 5 + 1023 + 1024 + 1600 + 100000);
  });
});

describe('--ctstate SNAT/DNAT with the conntrack model (xt_conntrack: IPS_SRC_NAT / IPS_DST_NAT)', () => {
  it('matches connections whose NAT binding changed the tuple, in both directions', () => {
    const text = ['*nat', ':PREROUTING ACCEPT [0:0]', ':INPUT ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':POSTROUTING ACCEPT [0:0]',
      '-A PREROUTING -d 198.51.100.99/32 -p tcp -j DNAT --to-destination 10.1.0.50:80',
      '-A POSTROUTING -s 10.1.0.0/24 -p udp -j SNAT --to-source 10.1.0.3', // a binding that changes nothing for 10.1.0.3
      '-A POSTROUTING -s 10.1.0.0/24 -j SNAT --to-source 192.0.2.1', 'COMMIT',
      '*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]',
      '-A FORWARD -m conntrack --ctstate DNAT', '-A FORWARD -m conntrack --ctstate SNAT', '-A FORWARD -m conntrack ! --ctstate SNAT,DNAT', 'COMMIT', ''].join('\n');
    const table = new ConntrackTable(resolveConfig({ buckets: 1024 }));
    const ctIn = new ConntrackInStage(table);
    const confirm = new ConntrackConfirmStage(ctIn);
    const engine = new RuleEngine(parse(text), { path: 'forward', conntrack: table });
    const b = new PacketBatch(1, 64);
    const send = (p: Parameters<typeof fillSlot>[2]): void => {
      fillSlot(b, 0, p);
      engine.beforeConntrack(b, 0, 0);
      ctIn.packet(b, 0, 0);
      engine.afterConntrack(b, 0, 0);
      confirm.packet(b, 0);
    };
    const hits = (): number[] => Array.from(engine.rulePackets.subarray(3));
    send({ src: '203.0.113.7', dst: '198.51.100.99', sport: 33000, dport: 8080, tcp: 0x02 }); // DNAT
    expect(hits()).toEqual([1, 0, 0]);
    send({ src: '10.1.0.50', dst: '203.0.113.7', sport: 80, dport: 33000, tcp: 0x12 }); // its reply
    expect(hits()).toEqual([2, 0, 0]);
    send({ src: '10.1.0.3', dst: '198.51.100.20', proto: 17, sport: 5000, dport: 53 }); // SNAT to itself: no IPS_SRC_NAT
    expect(hits()).toEqual([2, 0, 1]);
    send({ src: '10.1.0.2', dst: '198.51.100.10', sport: 40000, dport: 80, tcp: 0x02 }); // SNAT: the filter runs before POSTROUTING
    expect(hits()).toEqual([2, 0, 2]);
    send({ src: '198.51.100.10', dst: '192.0.2.1', sport: 80, dport: 40000, tcp: 0x12 }); // its reply: SNAT
    expect(hits()).toEqual([2, 1, 2]);
    expect(() => parse(filterForward(['-m state --state DNAT']))).toThrow(/conntrack --ctstate state/);
  });
});

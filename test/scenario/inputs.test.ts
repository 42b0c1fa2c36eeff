import { describe, expect, it } from 'vitest';
import { parseIptablesSave } from '../../src/rules/parse.js';
import { parseScenario } from '../../src/scenario/load.js';
import { clientNetForUsers, generatedRules, generatedRulesetText, generatedTcScript, generatorOptions, prepareTrace, rateBits, rulesPerUser, SERVICE_PORT, SERVICE_V4, toSingleService } from '../../src/scenario/inputs.js';
import { coreLoad, pointMetrics } from '../../src/scenario/metrics.js';
import { conntrackTimeouts, dispatchPolicyOf, pipelineStages } from '../../src/scenario/model-runner.js';
import { parseTcScript } from '../../src/shaper/tc-parse.js';
import { PacketBatch } from '../../src/trace/batch.js';
import { TraceGenerator } from '../../src/trace/generate.js';

const ESTABLISHED = '-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT';

function forwardRules(text: string): string[] {
  return text.split('\n').filter((l) => l.startsWith('-A FORWARD '));
}

describe('generated ruleset', () => {
  const base = { pattern: 'per-user' as const, rules: 2000, users: 100 };

  it('puts the ESTABLISHED accept first, last or nowhere in FORWARD', () => {
    const first = forwardRules(generatedRulesetText({ ...base, established: 'first' }));
    const last = forwardRules(generatedRulesetText({ ...base, established: 'last' }));
    const none = forwardRules(generatedRulesetText({ ...base, established: 'none' }));
    // 100 users = 1 network: INVALID drop, 2 network jumps, the accept.
    expect(first).toEqual(['-A FORWARD -m conntrack --ctstate INVALID -j DROP', ESTABLISHED, '-A FORWARD -s 10.0.0.0/24 -j n0', '-A FORWARD -d 10.0.0.0/24 -j n0']);
    expect(last).toEqual(['-A FORWARD -m conntrack --ctstate INVALID -j DROP', '-A FORWARD -s 10.0.0.0/24 -j n0', '-A FORWARD -d 10.0.0.0/24 -j n0', ESTABLISHED]);
    expect(none).not.toContain(ESTABLISHED);
  });

  it('comes close to the asked rule count and parses', () => {
    // 2000 rules, 100 users, 1 network: (2000 - 8) / 100 = 19.92 → 20 per user → 8 + 2000 rules.
    expect(rulesPerUser({ ...base, established: 'first' })).toBe(20);
    const text = generatedRulesetText({ ...base, established: 'first' });
    const rs = parseIptablesSave(text, { file: 'gen', family: 'auto' });
    expect(rs.rules.length).toBe(generatedRules({ ...base, established: 'first' }));
    expect(rs.rules.length).toBe(2008);
    // Without users: one user per 8 rules.
    expect(rulesPerUser({ pattern: 'per-user', rules: 800, established: 'first' })).toBe(8);
  });

  it('puts the trace clients where the users are', () => {
    expect(clientNetForUsers(100)).toBe('10.0.0.0/24');
    expect(clientNetForUsers(24_000)).toBe('10.0.0.0/17'); // 95 networks
    expect(clientNetForUsers(254 * 65536)).toBe('10.0.0.0/8');
  });
});

describe('generated tc script', () => {
  it('one leaf and one fw filter per class under a root at the rate', () => {
    const text = generatedTcScript({ classes: 3, rate: '10gbit' });
    expect(text).toBe([
      'tc qdisc add dev eth0 root handle 1: htb default 1',
      'tc class add dev eth0 parent 1: classid 1:1 htb rate 10gbit',
      'tc class add dev eth0 parent 1:1 classid 1:11 htb rate 3333333333bit ceil 10gbit',
      'tc class add dev eth0 parent 1:1 classid 1:12 htb rate 3333333333bit ceil 10gbit',
      'tc class add dev eth0 parent 1:1 classid 1:13 htb rate 3333333333bit ceil 10gbit',
      'tc filter add dev eth0 parent 1: protocol ip prio 1 handle 1 fw classid 1:11',
      'tc filter add dev eth0 parent 1: protocol ip prio 1 handle 2 fw classid 1:12',
      'tc filter add dev eth0 parent 1: protocol ip prio 1 handle 3 fw classid 1:13',
      '',
    ].join('\n'));
    const cfg = parseTcScript(generatedTcScript({ classes: 500, rate: '1gbit' }), 'gen.tc');
    expect(cfg.classes.length).toBe(501);
    expect(cfg.filters.length).toBe(500);
  });

  it('reads tc rates in decimal units', () => {
    expect(rateBits('10gbit')).toBe(10e9);
    expect(rateBits('100mbit')).toBe(100e6);
    expect(rateBits('125MBps')).toBe(1e9);
  });
});

describe('trace preparation', () => {
  it('maps the schema generator fields onto the generator', () => {
    expect(generatorOptions({ pattern: 'zipf', flows: 200, packets: 1000, pps: 500, seed: 3, ipv6Share: 0.1, zipfS: 1.1 })).toEqual({
      pattern: 'zipf', flows: 200, packets: 1000, pps: 500, seed: 3, ipv6: 0.1, zipfS: 1.1, concurrent: 200,
    });
    expect(generatorOptions({ pattern: 'single-service', flows: 5, concurrent: 2, packets: 10, pps: 1, seed: 1, ipv6Share: 0, zipfS: 1.1 }, '10.0.0.0/24')).toMatchObject({ pattern: 'uniform', concurrent: 2, clientNet: '10.0.0.0/24' });
  });

  it('single-service: every packet has the one server on its server side, clients stay', () => {
    const gen = new TraceGenerator({ pattern: 'uniform', flows: 50, packets: 2000, pps: 1000, mix: { tcp: 1, udp: 1, icmp: 0 } });
    const b = new PacketBatch(2000);
    gen.fillBatch(b);
    const clients = new Set<number>();
    for (let i = 0; i < b.count; i++) clients.add(b.src[i * 4]! >>> 24 === 10 ? b.src[i * 4]! : b.dst[i * 4]!);
    toSingleService(b);
    const after = new Set<number>();
    const servers = new Set<string>();
    for (let i = 0; i < b.count; i++) {
      const toServer = b.src[i * 4]! >>> 24 === 10;
      servers.add(toServer ? `${b.dst[i * 4]}:${b.dport[i]}` : `${b.src[i * 4]}:${b.sport[i]}`);
      after.add(toServer ? b.src[i * 4]! : b.dst[i * 4]!);
    }
    expect([...servers]).toEqual([`${SERVICE_V4}:${SERVICE_PORT}`]);
    expect(after).toEqual(clients);
    expect(clients.size).toBe(50);
  });

  it('loops replay the trace with later timestamps and restore the kept batches', async () => {
    const s = parseScenario('name: t\ntrace:\n  generate: {pattern: uniform, flows: 10, packets: 300, pps: 100}\n  loops: 3\nbatch: 128\n', '/tmp/t.yaml', { checkFiles: false });
    const t = await prepareTrace(s.config, '/tmp');
    expect(t.packets).toBe(900);
    const seconds: number[] = [];
    for await (const b of t.batches()) for (let i = 0; i < b.count; i++) seconds.push(b.tsSec[i]! - 1_700_000_000);
    expect(seconds.length).toBe(900);
    // 300 packets at 100 pps span seconds 0..2; loops start at 3 and 6.
    expect([seconds[0], seconds[299], seconds[300], seconds[599], seconds[600], seconds[899]]).toEqual([0, 2, 3, 5, 6, 8]);
    const again: number[] = [];
    for await (const b of t.batches()) for (let i = 0; i < b.count; i++) again.push(b.tsSec[i]! - 1_700_000_000);
    expect(again).toEqual(seconds);
  });
});

describe('point plumbing', () => {
  it('maps policies and timeouts onto the models', () => {
    expect(dispatchPolicyOf('source-ip')).toBe('src-ip');
    expect(dispatchPolicyOf('single')).toBe('single-queue');
    expect(dispatchPolicyOf('rss')).toBe('rss');
    expect(conntrackTimeouts({ tcp_established: 432000, udp: 30, icmp: 10 })).toEqual({ tcp_timeout_established: 432000, udp_timeout: 30, icmp_timeout: 10, icmpv6_timeout: 10 });
  });

  it('splits the conntrack table over worker threads so the load factor stays', () => {
    const s = parseScenario('name: t\ntrace:\n  generate: {pattern: uniform, flows: 10, packets: 30, pps: 100}\nconntrack: {buckets: 64k, max: 256k}\ntc:\n  generate: {classes: 3}\n  fwBuckets: 1024\n', '/tmp/t.yaml', { checkFiles: false });
    const tc = { name: 'gen', text: 'x' };
    const one = pipelineStages(s.config, {}, tc, 1);
    const four = pipelineStages(s.config, {}, tc, 4);
    expect(one.map((x) => x.name)).toEqual(['netfilter', 'shaper']);
    expect(one[0]!.config).toMatchObject({ conntrack: { buckets: 65536, max: 262144, hash: 'siphash', seed: 0 }, path: 'forward' });
    expect(four[0]!.config).toMatchObject({ conntrack: { buckets: 16384, max: 65536 } });
    expect(one[1]!.config).toEqual({ tc, linkRate: 1_250_000_000, htsize: 1024 });
  });

  it('simulated cores: the lock bounds the rate whatever the core count', () => {
    const spread = (cores: number) => ({ policy: 'rss', packetsPerCore: Array.from({ length: cores }, () => 1000 / cores), durationNs: 1e6, connections: 0, connectionsSplit: 0 });
    // 300 ns per packet of which 200 under the lock: 1 core 3.33 Mpps, from 2 cores on the lock's 5 Mpps.
    const l1 = coreLoad(spread(1), 300, 200);
    const l2 = coreLoad(spread(2), 300, 200);
    const l8 = coreLoad(spread(8), 300, 200);
    expect(l1.bottleneck).toBe('core');
    expect(l1.maxSustainablePps).toBeCloseTo(1e9 / 300, 6);
    expect(l2.maxSustainablePps).toBeCloseTo(5e6, 6);
    expect(l8.maxSustainablePps).toBeCloseTo(5e6, 6);
    expect(l8.bottleneck).toBe('lock');
    expect(l8.lockUtilization).toBeCloseTo(0.2, 12);
    expect(l8.utilization[0]).toBeCloseTo(125 * 300 / 1e6, 12);
    // Without a lock the rate scales with the cores; one core doing everything is imbalance = cores.
    expect(coreLoad(spread(8), 300, null).maxSustainablePps).toBeCloseTo(8e9 / 300, 3);
    expect(coreLoad({ ...spread(4), packetsPerCore: [1000, 0, 0, 0] }, 300, null).imbalance).toBe(4);
  });
});

describe('point metrics from merged stage results (hand-computed)', () => {
  const nf = (rulesTotal: number, packets: number) => ({
    stage: 'netfilter',
    counters: { ct_count: 40, verdictDrop: 3, verdictReject: 2 },
    data: {
      nodesPerLookup: { lookups: 100, mean: 1.5, p99: 4, max: 6 },
      rulesets: [
        { packets, rulesEvaluated: { total: rulesTotal, mean: rulesTotal / packets, p99: 7, max: 9 }, histogram: [[1, 60], [7, 40]] },
        { packets: 0, rulesEvaluated: { total: 0, mean: 0, p99: 0, max: 0 }, histogram: [] },
      ],
    },
  });
  const sh = { stage: 'shaper', counters: { qdiscDropped: 4 }, data: { classification: { packets: 100, walkedMean: 2.5, walkedP99: 5, walkedMax: 8 } } };
  const sample = (busyNs: number, wallNs: number) => ({
    packets: 100,
    busyNs,
    wallNs,
    clocks: [{ stage: 'netfilter', packets: 100, estimatedNs: 20_000, sampledPackets: 10 }, { stage: 'shaper', packets: 100, estimatedNs: 10_000, sampledPackets: 10 }],
    stages: [nf(340, 100), sh],
  });
  const spread = { policy: 'rss', packetsPerCore: [50, 25, 25, 0], durationNs: 1e6, connections: 10, connectionsSplit: 0 };

  it('gives each measurement its unit, direction and the value from the stages', () => {
    const ms = pointMetrics({
      measurements: ['ns-per-packet', 'packets-per-second', 'chain-length', 'rules-evaluated', 'classify-steps', 'shaped-rate', 'core-load', 'drops'],
      samples: [sample(50_000, 1e6), sample(70_000, 2e6)],
      spread,
      bitsPerPacket: 8000,
      linkBits: 1e9,
    });
    const by = new Map(ms.map((m) => [m.name, m]));
    expect(by.get('ns-per-packet')).toEqual({ name: 'ns-per-packet', unit: 'ns', direction: 'lower', samples: [500, 700] });
    expect(by.get('packets-per-second')!.samples).toEqual([100_000, 50_000]);
    expect(by.get('chain-length')!.samples).toEqual([1.5, 1.5]);
    expect(by.get('chain-length.p99')!.samples).toEqual([4, 4]);
    expect(by.get('conntrack.entries')!.samples).toEqual([40, 40]);
    expect(by.get('rules-evaluated')).toMatchObject({ unit: 'rules', samples: [3.4, 3.4], histogram: { labels: ['1', '7'], counts: [60, 40] } });
    expect(by.get('classify-steps')!.samples).toEqual([2.5, 2.5]);
    expect(by.get('drops')!.samples).toEqual([9, 9]);
    // 300 ns per packet per core (200 + 100), 100 under the lock. Busiest core: 50 packets
    // → 15 µs of 1 ms; the lock 100 × 100 ns = 10 µs; bottleneck the core: 100 packets per 15 µs.
    expect(by.get('core-load')!.perCore).toEqual([0.015, 0.0075, 0.0075, 0]);
    expect(by.get('cores.imbalance')!.samples[0]).toBeCloseTo(2, 12);
    expect(by.get('cores.max-sustainable-pps')!.samples[0]).toBeCloseTo(100 * 1e9 / 15_000, 6);
    expect(by.get('cores.lock-utilization')!.samples[0]).toBeCloseTo(0.01, 12);
    // 6.67 Mpps × 8000 bit = 53 Gbit/s, capped at the 1 Gbit/s device.
    expect(by.get('shaped-rate')).toMatchObject({ unit: 'bit/s', direction: 'higher', samples: [1e9, 1e9] });
  });

  it('refuses a measurement the scenario has no stage for', () => {
    const noShaper = { ...sample(1, 1), stages: [nf(100, 100)] };
    expect(() => pointMetrics({ measurements: ['classify-steps'], samples: [noShaper], spread, bitsPerPacket: 1, linkBits: null })).toThrow('classify-steps needs a tc section');
  });
});

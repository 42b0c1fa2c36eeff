import { describe, expect, it } from 'vitest';
import { buildReport, replayTrace } from '../../src/cli/rules.js';
import type { PipelineStage } from '../../src/pipeline/stage.js';
import { RuleEngine } from '../../src/rules/traverse.js';
import { CtState, PacketBatch } from '../../src/trace/batch.js';
import type { TraceReader } from '../../src/trace/source.js';
import { TestConntrack, filterForward, parse, writePacket, type Pkt } from './helpers.js';

/** An in-memory TraceReader handing out the packets in batches of `per`. */
function reader(pkts: Pkt[], per: number): () => Promise<TraceReader> {
  return async () => {
    let at = 0;
    return {
      info: { path: 'mem', format: 'pcap', compressed: false, linkTypes: [1] },
      warnings: [],
      async read(b: PacketBatch): Promise<number> {
        const n = Math.min(per, pkts.length - at, b.capacity);
        for (let i = 0; i < n; i++) {
          writePacket(b, i, pkts[at + i]!);
          b.frameNo[i] = at + i + 1;
        }
        at += n;
        b.count = n;
        return n;
      },
      async close(): Promise<void> {},
    };
  };
}

describe('replay through the CLI library', () => {
  const rs = parse(filterForward(['-p tcp -m tcp --dport 25 -j REJECT', '-p udp -j ACCEPT', '-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT', '-p tcp -m tcp --dport 80 -j ACCEPT'], 'DROP'));
  const pkts: Pkt[] = [
    { dport: 80, ct: CtState.NEW }, { dport: 80, ct: CtState.ESTABLISHED }, { dport: 80, ct: CtState.ESTABLISHED },
    { dport: 25, ct: CtState.NEW }, { proto: 17, dport: 53 }, { dport: 9, ct: CtState.NEW, ipLen: 40 },
  ];
  it('counts, cost report and what-if across batch boundaries', async () => {
    const { engines, comparisons } = await replayTrace(reader(pkts, 4), [rs], { path: 'forward', whatIf: 'established-first' });
    const r = buildReport(engines[0]!, 1000, 'forward');
    expect(r.packets).toBe(6);
    expect(r.verdicts).toEqual({ accept: 4, drop: 1, reject: 1 });
    // Evaluations: NEW 80: 4; EST: 3 each; 25: 1; udp: 2; dport 9: 4 + policy = 4. Total 17.
    expect(r.rulesEvaluated).toMatchObject({ total: 17, max: 4, p50: 3, histogram: [{ from: 1, packets: 1 }, { from: 2, packets: 3 }, { from: 4, packets: 2 }] });
    expect(r.topRules[0]).toMatchObject({ line: 7, packets: 2, bytes: 200, rule: '-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT' });
    expect(r.chains).toEqual([{ table: 'filter', chain: 'FORWARD', entries: 6, policyPackets: 1 }]);
    expect(comparisons[0]!.cmp.summary()).toMatchObject({ evaluationsBefore: 17, evaluationsAfter: 15, differences: 0 });
  });
  it('stages() lets a conntrack stage run between raw and the rest', () => {
    const text = ['*raw', ':PREROUTING ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', '-A PREROUTING -p udp -j NOTRACK', 'COMMIT',
      ...filterForward(['-m conntrack --ctstate UNTRACKED -j ACCEPT', '-m conntrack --ctstate NEW -j DROP']).split('\n')].join('\n');
    const engine = new RuleEngine(parse(text), { path: 'forward', conntrack: new TestConntrack() });
    const seen: number[] = [];
    // A stand-in conntrack: skips untracked packets, labels the rest NEW.
    const conntrack: PipelineStage = { name: 'ct', packet: (b, i) => {
      seen.push(b.ctState[i]!);
      if (b.ctState[i] !== CtState.UNTRACKED) b.ctState[i] = CtState.NEW;
    } };
    const { beforeConntrack, afterConntrack } = engine.stages();
    const b = new PacketBatch(2, 0);
    writePacket(b, 0, { proto: 17, ct: CtState.NONE });
    writePacket(b, 1, { proto: 6, ct: CtState.NONE });
    for (const stage of [beforeConntrack, conntrack, afterConntrack]) for (let i = 0; i < 2; i++) stage.packet(b, i, 0);
    expect(seen).toEqual([CtState.UNTRACKED, CtState.NONE]);
    expect([b.verdict[0], b.verdict[1]]).toEqual([1, 2]);
  });
});

/**
 * Traversal benchmark: a generated Selfnet-like ruleset and a synthetic forwarded mix (flows of
 * 10 packets: NEW first, then ESTABLISHED, SMTP flows stay NEW), walked by the linear
 * ipt_do_table model as generated ("ESTABLISHED,RELATED -j ACCEPT" last in FORWARD) and with
 * established-first. Reports ns per packet and rules evaluated per packet, measured alternately
 * in one run, and checks that the verdicts agree.
 *
 *   node dist/bench/rules-traverse.js [users] [samples] [batches]
 */
import { fillSyntheticBatch, generateRuleset, generatedRuleCount } from '../src/rules/generate.js';
import { parseIptablesSave } from '../src/rules/parse.js';
import { RuleEngine } from '../src/rules/traverse.js';
import { establishedFirst, WhatIfComparison } from '../src/rules/whatif.js';
import { PacketBatch } from '../src/trace/batch.js';
import { median, writeBenchResult, type BenchMetric } from './support.js';

const users = Number(process.argv[2] ?? 50000);
const samples = Number(process.argv[3] ?? 5);
const batches = Number(process.argv[4] ?? 4);
const o = { users, rulesPerUser: 8 };
const lines: string[] = [];
generateRuleset(o, (l) => lines.push(l));
const rs = parseIptablesSave(`${lines.join('\n')}\n`, { file: 'generated' });
lines.length = 0;
const variant = establishedFirst(rs).ruleset;
const opts = { path: 'forward' as const, inIface: 'eth1', outIface: 'eth0' };

// Packets with their model labels, prepared once; each timed pass works on a fresh copy.
const inputs = Array.from({ length: batches }, (_, k) => {
  const b = new PacketBatch(4096, 0);
  fillSyntheticBatch(b, o, 10, k + 1);
  return b;
});
const work = new PacketBatch(4096, 0);

function pass(engine: RuleEngine): { ns: number; evals: number; packets: number } {
  let ns = 0;
  const e0 = engine.histogram.sum;
  const p0 = engine.packets;
  for (const input of inputs) {
    for (let i = 0; i < input.count; i++) work.copySlotFrom(input, i, i);
    work.count = input.count;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < work.count; i++) engine.packet(work, i, 0);
    ns += Number(process.hrtime.bigint() - t0);
  }
  return { ns, evals: engine.histogram.sum - e0, packets: engine.packets - p0 };
}

// Verdicts must agree before timing means anything.
const cmp = new WhatIfComparison(rs, variant, opts);
for (const input of inputs) {
  for (let i = 0; i < input.count; i++) work.copySlotFrom(input, i, i);
  work.count = input.count;
  cmp.batch(work, 0);
}
const summary = cmp.summary();
if (summary.differences !== 0) throw new Error(`established-first changed ${summary.differences} verdicts`);

const before = new RuleEngine(rs, opts);
const after = new RuleEngine(variant, opts);
pass(before); // warm-up
pass(after);
const nsBefore: number[] = [];
const nsAfter: number[] = [];
const evalsBefore: number[] = [];
const evalsAfter: number[] = [];
for (let s = 0; s < samples; s++) {
  const a = pass(before);
  const z = pass(after);
  nsBefore.push(a.ns / a.packets);
  nsAfter.push(z.ns / z.packets);
  evalsBefore.push(a.evals / a.packets);
  evalsAfter.push(z.evals / z.packets);
}
const params = { users, rules: generatedRuleCount(o), packetsPerSample: batches * 4096 };
const metrics: BenchMetric[] = [
  { name: 'rules.traverse.ns_per_packet', unit: 'ns', direction: 'lower', samples: nsBefore, params: { ...params, layout: 'generated' } },
  { name: 'rules.traverse.ns_per_packet', unit: 'ns', direction: 'lower', samples: nsAfter, params: { ...params, layout: 'established-first' } },
  { name: 'rules.traverse.rules_per_packet', unit: 'rules', direction: 'lower', samples: evalsBefore, params: { ...params, layout: 'generated' } },
  { name: 'rules.traverse.rules_per_packet', unit: 'rules', direction: 'lower', samples: evalsAfter, params: { ...params, layout: 'established-first' } },
];
const mb = median(nsBefore);
const ma = median(nsAfter);
process.stdout.write(`${params.rules} rules, ${params.packetsPerSample} packets per sample, ${samples} samples\n`);
process.stdout.write(`generated layout:  ${median(evalsBefore).toFixed(1)} rules/packet, ${mb.toFixed(0)} ns/packet (median)\n`);
process.stdout.write(`established-first: ${median(evalsAfter).toFixed(1)} rules/packet, ${ma.toFixed(0)} ns/packet (median)\n`);
process.stdout.write(`speed-up ${(mb / ma).toFixed(1)}x; verdicts identical for ${summary.packets} packets\n`);
process.stdout.write(`wrote ${writeBenchResult('rules-traverse', metrics, { speedup: mb / ma, verdictDifferences: summary.differences })}\n`);

import { createWriteStream, readFileSync } from 'node:fs';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { ConntrackConfirmStage, ConntrackInStage } from '../conntrack/stage.js';
import { ConntrackTable, resolveConfig } from '../conntrack/table.js';
import { InputError, UsageError } from '../errors.js';
import { parseIpv4, parseIpv6 } from '../rules/addr.js';
import { printRuleset } from '../rules/counters.js';
import { generatedRuleCount, generateRuleset, MIN_RULES_PER_USER } from '../rules/generate.js';
import { parseIpsetSave, type IpSet } from '../rules/ipset.js';
import { parseIptablesSave } from '../rules/parse.js';
import type { Ruleset } from '../rules/ruleset.js';
import { EvalHistogram, PATHS, RuleEngine, type EngineOptions, type PathName } from '../rules/traverse.js';
import { makeVariant, WHAT_IFS, WhatIfComparison, type ConntrackHooks, type WhatIfName } from '../rules/whatif.js';
import { PacketBatch } from '../trace/batch.js';
import { openTrace } from '../trace/reader.js';
import type { TraceReader } from '../trace/source.js';
import { parsePositive } from './options.js';

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new InputError(path, `cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

/** Loads `ipset save` and `iptables-save` files; throws InputError with file:line. */
export function loadRuleset(path: string, ipsetPath: string | undefined, lenient: boolean, family: 4 | 6 | 'auto' = 'auto'): Ruleset {
  let sets: Map<string, IpSet> | undefined;
  if (ipsetPath !== undefined) {
    sets = parseIpsetSave(readText(ipsetPath), (line, message) => {
      throw new InputError(`${ipsetPath}:${line}`, message);
    });
  }
  return parseIptablesSave(readText(path), { file: path, sets, lenient, family });
}

function parseAddressList(value: string, previous: string[] = []): string[] {
  for (const a of value.split(',')) {
    if (parseIpv4(a) < 0 && !parseIpv6(a, [0, 0, 0, 0])) throw new InvalidArgumentError(`not an IP address: ${a}`);
  }
  return [...previous, ...value.split(',')];
}

function addressWords(list: string[]): Uint32Array {
  const out = new Uint32Array(list.length * 4);
  list.forEach((a, k) => {
    const v4 = parseIpv4(a);
    if (v4 >= 0) out[k * 4] = v4;
    else {
      const w = [0, 0, 0, 0];
      parseIpv6(a, w);
      out.set(w, k * 4);
    }
  });
  return out;
}

export interface RulesReport {
  ruleset: string;
  family: 4 | 6;
  path: string;
  packets: number;
  verdicts: { accept: number; drop: number; reject: number };
  rulesEvaluated: { total: number; mean: number; p50: number; p99: number; max: number; histogram: { from: number; packets: number }[] };
  nsPerPacket: number;
  chains: { table: string; chain: string; entries: number; policyPackets: number }[];
  topRules: { line: number; table: string; chain: string; rule: string; packets: number; bytes: number }[];
  whatIf?: ReturnType<WhatIfComparison['summary']> & { name: string; changes: string[] };
}

/** Power-of-two histogram of rules evaluated per packet (0, 1, 2-3, 4-7, ...). */
function coarseHistogram(h: EvalHistogram): { from: number; packets: number }[] {
  const out: { from: number; packets: number }[] = [];
  for (let k = 0; k < h.counts.length; k++) {
    const n = h.counts[k]!;
    if (n === 0) continue;
    const v = EvalHistogram.lowerBound(k);
    const from = v === 0 ? 0 : 2 ** Math.floor(Math.log2(v));
    const last = out[out.length - 1];
    if (last && last.from === from) last.packets += n;
    else out.push({ from, packets: n });
  }
  return out;
}

export function buildReport(engine: RuleEngine, nsTotal: number, path: string): RulesReport {
  const rs = engine.rs;
  const h = engine.histogram;
  const chains = rs.chains.map((c) => ({ table: c.table, chain: c.name, entries: engine.chainEntries[c.id]!, policyPackets: engine.policyPackets[c.id]! }))
    .filter((c) => c.entries > 0).sort((a, b) => b.entries - a.entries).slice(0, 20);
  const ids = Array.from({ length: rs.rules.length }, (_, k) => k).filter((k) => engine.rulePackets[k]! > 0)
    .sort((a, b) => engine.rulePackets[b]! - engine.rulePackets[a]!).slice(0, 20);
  return {
    ruleset: rs.source, family: rs.family, path,
    packets: engine.packets,
    verdicts: { accept: engine.verdicts[0]!, drop: engine.verdicts[1]!, reject: engine.verdicts[2]! },
    rulesEvaluated: { total: h.sum, mean: h.total ? h.sum / h.total : 0, p50: h.quantile(0.5), p99: h.quantile(0.99), max: h.max, histogram: coarseHistogram(h) },
    nsPerPacket: engine.packets ? nsTotal / engine.packets : 0,
    chains,
    topRules: ids.map((k) => {
      const r = rs.rules[k]!;
      const ch = rs.chains[r.chain]!;
      return { line: r.line, table: ch.table, chain: ch.name, rule: `-A ${ch.name} ${r.text}`, packets: engine.rulePackets[k]!, bytes: engine.ruleBytes[k]! };
    }),
  };
}

function formatReport(r: RulesReport): string {
  const e = r.rulesEvaluated;
  const lines = [
    `# cost report: ${r.ruleset} (IPv${r.family}, path ${r.path})`,
    `# packets ${r.packets}: accepted ${r.verdicts.accept}, dropped ${r.verdicts.drop}, rejected ${r.verdicts.reject}`,
    `# rules evaluated per packet: mean ${e.mean.toFixed(2)}, p50 ${e.p50}, p99 ${e.p99}, max ${e.max} (total ${e.total})`,
    `# histogram (rules evaluated >= from: packets): ${e.histogram.map((b) => `${b.from}:${b.packets}`).join(' ')}`,
    `# measured ${r.nsPerPacket.toFixed(0)} ns per packet (model walk, this machine)`,
    '# chains by entries: ' + r.chains.slice(0, 10).map((c) => `${c.table}/${c.chain} ${c.entries}`).join(', '),
    '# rules by hits:',
    ...r.topRules.slice(0, 10).map((t) => `#   ${t.packets} pkts ${t.bytes} bytes  line ${t.line}: ${t.rule}`),
  ];
  if (r.whatIf) {
    const w = r.whatIf;
    lines.push(`# what-if ${w.name}: ${w.changes.join('; ')}`);
    lines.push(`#   rules evaluated ${w.evaluationsBefore} -> ${w.evaluationsAfter}: saved ${w.saved} (${w.savedPercent.toFixed(1)}%)`);
    lines.push(w.differences === 0
      ? `#   verdicts, marks and classes identical for all ${w.packets} packets`
      : `#   ${w.differences} packet(s) differ, e.g. ${w.examples.map((x) => `frame ${x.frameNo} ${x.what} ${x.before}->${x.after}`).join(', ')}`);
  }
  return `${lines.join('\n')}\n`;
}

export interface ReplayOptions extends Omit<EngineOptions, 'conntrack'> {
  whatIf?: WhatIfName;
  /**
   * Makes a conntrack model: its in hook runs between the raw table and the rest, its confirm
   * hook after the filter table, its view serves CONNMARK and NAT. Without it packets carry no
   * connection state (ctstate reads INVALID, nat never runs).
   */
  conntrack?: () => ConntrackHooks;
}

/**
 * Replays a trace through the rulesets (one per family); returns the engines and timing.
 * `open` opens the trace afresh (called twice with --what-if: measure, then compare).
 */
export async function replayTrace(open: () => Promise<TraceReader>, rulesets: Ruleset[], o: ReplayOptions): Promise<{ engines: RuleEngine[]; ns: number[]; comparisons: ({ cmp: WhatIfComparison; changes: string[] } | null)[] }> {
  // One conntrack table for the trace, as the kernel has (IPv4 and IPv6 share it).
  const ct = o.conntrack ? o.conntrack() : null;
  const engines = rulesets.map((rs) => new RuleEngine(rs, { ...o, conntrack: ct?.view ?? null }));
  const ns = rulesets.map(() => 0);
  const batch = new PacketBatch();
  let origin = -1;
  const reader = await open();
  try {
    while (true) {
      const n = await reader.read(batch);
      if (n === 0) break;
      if (origin < 0) origin = batch.tsSec[0]!;
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) {
        const now = batch.timeNs(i, origin);
        for (let k = 0; k < engines.length; k++) {
          const e = engines[k]!;
          if (!e.handles(batch, i)) continue;
          e.beforeConntrack(batch, i, now);
          ct?.in.packet(batch, i, now);
          e.afterConntrack(batch, i, now);
          ct?.confirm.packet(batch, i, now);
        }
      }
      const dt = Number(process.hrtime.bigint() - t0);
      // Attribute the batch's time to the families by packet count.
      const total = engines.reduce((s, e) => s + e.packets, 0) || 1;
      engines.forEach((e, k) => { ns[k]! += (dt * e.packets) / total; });
    }
  } finally {
    await reader.close();
  }
  const comparisons: ({ cmp: WhatIfComparison; changes: string[] } | null)[] = rulesets.map(() => null);
  if (o.whatIf) {
    for (let k = 0; k < rulesets.length; k++) {
      const variant = makeVariant(o.whatIf, rulesets[k]!, engines[k]!.rulePackets);
      const cmp = new WhatIfComparison(rulesets[k]!, variant.ruleset, o, o.conntrack);
      const r2 = await open();
      try {
        let originW = -1;
        while (true) {
          const n = await r2.read(batch);
          if (n === 0) break;
          if (originW < 0) originW = batch.tsSec[0]!;
          cmp.batch(batch, originW);
        }
      } finally {
        await r2.close();
      }
      comparisons[k] = { cmp, changes: variant.changes };
    }
  }
  return { engines, ns, comparisons };
}

function writeOut(text: string): Promise<void> {
  return new Promise((res) => {
    if (process.stdout.write(text)) res();
    else process.stdout.once('drain', () => res());
  });
}

interface RulesFlags {
  ruleset: string;
  ruleset6?: string;
  ipset?: string;
  trace?: string;
  path: PathName | 'auto';
  in?: string;
  out?: string;
  local?: string[];
  whatIf?: WhatIfName;
  lenient?: boolean;
  json?: boolean;
}

async function rulesCommand(f: RulesFlags): Promise<void> {
  if (f.path === 'auto' && !f.local?.length) throw new UsageError('--path auto needs --local ADDR (the host\'s own addresses)');
  if (f.whatIf && !f.trace) throw new UsageError('--what-if needs --trace');
  const rulesets = [loadRuleset(f.ruleset, f.ipset, !!f.lenient)];
  if (f.ruleset6) rulesets.push(loadRuleset(f.ruleset6, f.ipset, !!f.lenient, 6));
  for (const rs of rulesets) for (const w of rs.warnings) process.stderr.write(`pktbench: warning: ${w}\n`);
  const lines: string[] = [];
  const emit = (l: string): void => {
    lines.push(l);
  };
  if (!f.trace) {
    // No trace: check the ruleset and print it back with the counters it was given.
    for (const rs of rulesets) {
      if (f.json) lines.push(JSON.stringify({ ruleset: rs.source, family: rs.family, tables: rs.tables.map((t) => t.name), chains: rs.chains.length, rules: rs.rules.length, sets: [...rs.sets.keys()], warnings: rs.warnings }));
      else printRuleset(rs, emit);
    }
    await writeOut(`${lines.join('\n')}\n`);
    return;
  }
  const localAddrs = addressWords(f.local ?? []);
  const conntrack = (): ConntrackHooks => {
    const table = new ConntrackTable(resolveConfig({}));
    const inStage = new ConntrackInStage(table);
    return { in: inStage, confirm: new ConntrackConfirmStage(inStage), view: table };
  };
  const { engines, ns, comparisons } = await replayTrace(() => openTrace(f.trace!), rulesets, { path: f.path, inIface: f.in ?? '', outIface: f.out ?? '', localAddrs, whatIf: f.whatIf, conntrack });
  const reports = engines.map((e, k) => {
    const r = buildReport(e, ns[k]!, f.path);
    const c = comparisons[k];
    if (c && f.whatIf) r.whatIf = { name: f.whatIf, changes: c.changes, ...c.cmp.summary() };
    return r;
  });
  if (f.json) {
    await writeOut(`${JSON.stringify({ reports, counters: engines.map((e) => {
      const out: string[] = [];
      printRuleset(e.rs, (l) => out.push(l), { counters: e, comments: false });
      return out;
    }) }, null, 2)}\n`);
    return;
  }
  engines.forEach((e, k) => {
    printRuleset(e.rs, emit, { counters: e });
    lines.push(formatReport(reports[k]!).trimEnd());
  });
  await writeOut(`${lines.join('\n')}\n`);
}

async function genRulesCommand(f: { users: number; rulesPerUser: number; output?: string }): Promise<void> {
  if (f.rulesPerUser < MIN_RULES_PER_USER) throw new UsageError(`--rules-per-user must be at least ${MIN_RULES_PER_USER}`);
  if (f.users > 254 * 65536) throw new UsageError(`--users must be at most ${254 * 65536}`);
  const o = { users: f.users, rulesPerUser: f.rulesPerUser };
  const out = f.output ? createWriteStream(f.output) : process.stdout;
  let buf: string[] = [];
  const flush = async (): Promise<void> => {
    const text = `${buf.join('\n')}\n`;
    buf = [];
    if (!out.write(text)) await new Promise<void>((res) => out.once('drain', () => res()));
  };
  const pending: string[][] = [];
  generateRuleset(o, (l) => {
    buf.push(l);
    if (buf.length >= 65536) {
      pending.push(buf);
      buf = [];
    }
  });
  pending.push(buf);
  for (const chunk of pending) {
    buf = chunk;
    await flush();
  }
  if (f.output) {
    await new Promise<void>((res, rej) => (out as ReturnType<typeof createWriteStream>).end((err?: Error | null) => (err ? rej(new InputError(f.output!, `cannot write: ${err.message}`)) : res())));
    process.stderr.write(`pktbench: wrote ${generatedRuleCount(o)} rules to ${f.output}\n`);
  }
}

/** Registers this file's subcommands. */
export function register(program: Command): void {
  program
    .command('rules')
    .description('Replay a trace through an iptables-save ruleset: per-rule [packets:bytes] in iptables-save -c form, cost report, what-if')
    .requiredOption('--ruleset <file>', 'iptables-save (or ip6tables-save) output, with or without -c')
    .option('--ruleset6 <file>', 'ip6tables-save output for the IPv6 packets of the trace')
    .option('--ipset <file>', '`ipset save` output for the sets that -m set names')
    .option('--trace <file>', 'pcap/pcapng trace; without it the ruleset is checked and printed back')
    .addOption(new Option('--path <path>', 'the packets\' path through the host').choices([...PATHS, 'auto']).default('forward'))
    .option('--in <iface>', 'interface the packets arrive on (-i matches)')
    .option('--out <iface>', 'interface the packets leave by (-o matches)')
    .option('--local <addr,...>', 'the host\'s own addresses (addrtype LOCAL, --path auto)', parseAddressList)
    .addOption(new Option('--what-if <change>', 'replay a transformed ruleset beside the original and compare').choices([...WHAT_IFS]))
    .option('--lenient', 'unknown modules and targets become warnings and never-matching rules')
    .option('--json', 'machine-readable output')
    .action((f: RulesFlags) => rulesCommand(f));
  program
    .command('gen-rules')
    .description('Write a Selfnet-like iptables-save ruleset: per-network and per-user chains, marks, SNAT, accounting')
    .option('--users <n>', 'number of users (254 per /24 network)', parsePositive, 1000)
    .option('--rules-per-user <n>', `rules per user across all tables (at least ${MIN_RULES_PER_USER})`, parsePositive, MIN_RULES_PER_USER)
    .option('-o, --output <file>', 'write to a file instead of stdout')
    .action((f: { users: number; rulesPerUser: number; output?: string }) => genRulesCommand(f));
}


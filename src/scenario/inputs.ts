/**
 * The inputs of a scenario point, made from its configuration: the trace (a capture file or the
 * generator's spec, straight into PacketBatches), the iptables ruleset text (a file or the
 * Selfnet-like generator of src/rules/generate.ts with the ESTABLISHED accept where the scenario
 * puts it), the ipsets and the tc script (a file or generated HTB classes with cls_fw filters).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { InputError, UsageError } from '../errors.js';
import { generatedRuleCount, generateRuleset, MIN_RULES_PER_USER } from '../rules/generate.js';
import { DEFAULT_HEAD_BYTES, PacketBatch } from '../trace/batch.js';
import { TraceGenerator, type GenerateOptions } from '../trace/generate.js';
import { openTrace } from '../trace/reader.js';
import type { ScenarioConfig } from './schema.js';

type TraceConfig = ScenarioConfig['trace'];
type GenerateConfig = NonNullable<TraceConfig['generate']>;
type RulesetGenerateConfig = NonNullable<NonNullable<ScenarioConfig['ruleset']>['generate']>;
type TcGenerateConfig = NonNullable<NonNullable<ScenarioConfig['tc']>['generate']>;

/** A text input with the name its error messages use (`file:line`). */
export interface NamedText {
  readonly name: string;
  readonly text: string;
}

/** Hosts per /24 user network in the generated ruleset (src/rules/generate.ts). */
const HOSTS_PER_NET = 254;

/** The generated ruleset's user networks start at 10.0.0.0/24, one /24 per 254 users. */
export function userNetworks(users: number): number {
  return Math.ceil(users / HOSTS_PER_NET);
}

/**
 * The client prefix a generated trace uses next to a generated ruleset: the smallest prefix of
 * 10.0.0.0/8 holding every user network, so that most clients are users that the ruleset marks
 * (and that cls_fw then classifies), as on the real box. At most /24 (the generator needs room).
 */
export function clientNetForUsers(users: number): string {
  const nets = userNetworks(users);
  const bits = Math.ceil(Math.log2(Math.max(1, nets)));
  return `10.0.0.0/${Math.max(8, 24 - bits)}`;
}

/** Maps the scenario's generator spec onto src/trace/generate.ts's options. */
export function generatorOptions(g: GenerateConfig, clientNet?: string): GenerateOptions {
  const pattern = g.pattern === 'single-service' ? 'uniform' : g.pattern;
  return {
    pattern,
    flows: g.flows,
    packets: g.packets,
    pps: g.pps,
    seed: g.seed,
    ipv6: g.ipv6Share,
    zipfS: g.zipfS,
    // The schema's `flows` are connections present together (a table holding them all at once).
    concurrent: Math.min(g.concurrent ?? g.flows, 1 << 24),
    ...(clientNet !== undefined ? { clientNet } : {}),
  };
}

/** The one service of `single-service` traces: 198.51.100.1 / 2001:db8::1, UDP or TCP port 10000. */
export const SERVICE_V4 = 0xc6336401;
export const SERVICE_V6 = [0x20010db8, 0, 0, 1] as const;
export const SERVICE_PORT = 10000;

/**
 * Rewrites the server side of every packet to the one service address and port (the generator's
 * clients are 10.0.0.0/8 and fd00::/8; servers are the other side). Decoded slots only: the models
 * read those, not the frame bytes. Both directions change alike, so connections stay consistent.
 */
export function toSingleService(b: PacketBatch): void {
  for (let i = 0; i < b.count; i++) {
    const l3 = b.l3[i]!;
    if (l3 === 0) continue;
    const w = i * 4;
    const srcIsClient = l3 === 4 ? b.src[w]! >>> 24 === 10 : b.src[w]! >>> 24 === 0xfd;
    const addr = srcIsClient ? b.dst : b.src;
    if (l3 === 4) addr[w] = SERVICE_V4;
    else for (let k = 0; k < 4; k++) addr[w + k] = SERVICE_V6[k]!;
    if (b.proto[i] === 6 || b.proto[i] === 17) {
      if (srcIsClient) b.dport[i] = SERVICE_PORT;
      else b.sport[i] = SERVICE_PORT;
    }
  }
}

/** Traces up to this many packets are kept in memory for the repeats; longer ones are re-made each time. */
export const MATERIALIZE_LIMIT = 1 << 20;

/** A replayable trace: `batches()` yields the whole trace (`loops` times, later loops shifted in time). */
export interface PreparedTrace {
  readonly name: string;
  readonly packets: number;
  batches(): AsyncIterable<PacketBatch>;
}

async function* generatedBatches(g: GenerateConfig, clientNet: string | undefined, capacity: number): AsyncGenerator<PacketBatch> {
  let gen: TraceGenerator;
  try {
    gen = new TraceGenerator(generatorOptions(g, clientNet));
  } catch (err) {
    throw new UsageError(`trace.generate: ${(err as Error).message}`);
  }
  const single = g.pattern === 'single-service';
  for (;;) {
    const b = new PacketBatch(capacity, DEFAULT_HEAD_BYTES);
    if (gen.fillBatch(b) === 0) return;
    if (single) toSingleService(b);
    yield b;
  }
}

async function* fileBatches(path: string, capacity: number): AsyncGenerator<PacketBatch> {
  const reader = await openTrace(path);
  try {
    for (;;) {
      const b = new PacketBatch(capacity, DEFAULT_HEAD_BYTES);
      if ((await reader.read(b)) === 0) return;
      yield b;
    }
  } finally {
    await reader.close();
  }
}

/** Plays `once()` `loops` times; loop k's timestamps are shifted by k whole trace spans. */
async function* looped(once: () => AsyncIterable<PacketBatch>, loops: number): AsyncGenerator<PacketBatch> {
  let first = NaN;
  let last = NaN;
  for (let k = 0; k < loops; k++) {
    const span = k === 0 ? 0 : k * (last - first + 1);
    for await (const b of once()) {
      if (b.count === 0) continue;
      if (k === 0) {
        if (Number.isNaN(first)) first = b.tsSec[0]!;
        last = b.tsSec[b.count - 1]!;
        yield b;
        continue;
      }
      for (let i = 0; i < b.count; i++) b.tsSec[i]! += span;
      try {
        yield b;
      } finally {
        for (let i = 0; i < b.count; i++) b.tsSec[i]! -= span;
      }
    }
  }
}

/** Prepares the point's trace; `scenarioDir` resolves a relative trace file. */
export async function prepareTrace(config: ScenarioConfig, scenarioDir: string): Promise<PreparedTrace> {
  const t = config.trace;
  const capacity = config.batch;
  const loops = t.loops;
  let once: () => AsyncIterable<PacketBatch>;
  let name: string;
  if (t.file !== undefined) {
    const path = resolve(scenarioDir, t.file);
    name = path;
    once = () => fileBatches(path, capacity);
  } else {
    const g = t.generate!;
    const users = config.ruleset?.generate ? rulesetUsers(config.ruleset.generate) : undefined;
    const clientNet = users !== undefined ? clientNetForUsers(users) : undefined;
    name = `generated ${g.pattern} ${g.flows} flows ${g.packets} packets`;
    once = () => generatedBatches(g, clientNet, capacity);
  }
  // Count (and, when small enough, keep) the packets of one pass.
  const kept: PacketBatch[] = [];
  let packets = 0;
  let keep = true;
  for await (const b of once()) {
    packets += b.count;
    if (packets > MATERIALIZE_LIMIT) keep = false;
    if (keep) kept.push(b);
    else kept.length = 0;
  }
  if (packets === 0) throw new InputError(name, 'the trace holds no packets');
  const source = keep ? () => iterate(kept) : once;
  return { name, packets: packets * loops, batches: () => looped(source, loops) };
}

async function* iterate(batches: readonly PacketBatch[]): AsyncGenerator<PacketBatch> {
  for (const b of batches) yield b;
}

/** Users of a generated ruleset: as given, else one per MIN_RULES_PER_USER rules. */
export function rulesetUsers(g: RulesetGenerateConfig): number {
  return Math.max(1, Math.min(g.users ?? Math.floor(g.rules / MIN_RULES_PER_USER), HOSTS_PER_NET * 65536));
}

/** Rules per user so that the generated total comes as close to `rules` as the layout allows. */
export function rulesPerUser(g: RulesetGenerateConfig): number {
  const users = rulesetUsers(g);
  const overhead = 4 + 4 * userNetworks(users);
  return Math.max(MIN_RULES_PER_USER, Math.round((g.rules - overhead) / users));
}

const ESTABLISHED_RULE = '-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT';
const INVALID_RULE = '-A FORWARD -m conntrack --ctstate INVALID -j DROP';

/**
 * The generated Selfnet-like ruleset as iptables-save text with the ESTABLISHED,RELATED accept
 * placed `first` (right after the INVALID drop: Selfnet's fix), `last` (after every network jump:
 * the layout before the fix, as the generator writes it) or `none`.
 */
export function generatedRulesetText(g: RulesetGenerateConfig): string {
  const users = rulesetUsers(g);
  const lines: string[] = [];
  generateRuleset({ users, rulesPerUser: rulesPerUser(g) }, (line) => {
    if (line === ESTABLISHED_RULE) {
      if (g.established === 'last') lines.push(line);
      return;
    }
    lines.push(line);
    if (line === INVALID_RULE && g.established === 'first') lines.push(ESTABLISHED_RULE);
  });
  return `${lines.join('\n')}\n`;
}

/** Rules the generated ruleset holds (for messages and tests). */
export function generatedRules(g: RulesetGenerateConfig): number {
  const n = generatedRuleCount({ users: rulesetUsers(g), rulesPerUser: rulesPerUser(g) });
  return g.established === 'none' ? n - 1 : n;
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputError(path, `${what}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (err as Error).message}`);
  }
}

export interface PreparedRules {
  readonly ruleset?: NamedText;
  readonly ipset?: NamedText;
}

export function prepareRuleset(config: ScenarioConfig, scenarioDir: string): PreparedRules {
  const r = config.ruleset;
  if (!r) return {};
  const ruleset: NamedText = r.file !== undefined
    ? { name: resolve(scenarioDir, r.file), text: readText(resolve(scenarioDir, r.file), 'ruleset') }
    : { name: '<generated ruleset>', text: generatedRulesetText(r.generate!) };
  if (r.ipsets.length === 0) return { ruleset };
  // Several `ipset save` files restore as one (each line is self-contained).
  const texts = r.ipsets.map((f) => readText(resolve(scenarioDir, f), 'ipset'));
  const names = r.ipsets.map((f) => resolve(scenarioDir, f));
  return { ruleset, ipset: { name: names.length === 1 ? names[0]! : names.join('+'), text: texts.join('\n') } };
}

/** Largest class count the generated script holds (minor ids 0x11.. must stay below 0xffff). */
export const MAX_GENERATED_CLASSES = 0xffff - 0x11;

/**
 * Selfnet's shaper: an HTB root at `rate`, one leaf per user under it (an equal share of the rate
 * guaranteed, ceil the whole rate) and one cls_fw filter per user: mark u+1 (the generated
 * ruleset's MARK) → leaf 1:(0x10+u+1), as in bench/shaper-24k.ts.
 */
export function generatedTcScript(g: TcGenerateConfig): string {
  if (g.classes > MAX_GENERATED_CLASSES) throw new UsageError(`tc.generate.classes: at most ${MAX_GENERATED_CLASSES} (HTB minor class ids are 16 bits), got ${g.classes}`);
  const lines = ['qdisc add dev eth0 root handle 1: htb default 1', `class add dev eth0 parent 1: classid 1:1 htb rate ${g.rate}`];
  const leafRate = `${Math.max(8, Math.floor(rateBits(g.rate) / g.classes))}bit`;
  for (let k = 1; k <= g.classes; k++) lines.push(`class add dev eth0 parent 1:1 classid 1:${(0x10 + k).toString(16)} htb rate ${leafRate} ceil ${g.rate}`);
  for (let k = 1; k <= g.classes; k++) lines.push(`filter add dev eth0 parent 1: protocol ip prio 1 handle ${k} fw classid 1:${(0x10 + k).toString(16)}`);
  return `${lines.map((l) => `tc ${l}`).join('\n')}\n`;
}

/** bit/s of a schema rate (`10gbit`, `100mbit`, `125MBps`: tc's decimal units). */
export function rateBits(rate: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]?)(bit|bps)$/i.exec(rate.trim());
  if (!m) throw new UsageError(`not a rate: ${rate}`);
  const scale = { '': 1, k: 1e3, m: 1e6, g: 1e9 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Number(m[1]) * scale * (m[3]!.toLowerCase() === 'bps' ? 8 : 1);
}

export function prepareTc(config: ScenarioConfig, scenarioDir: string): NamedText | undefined {
  const t = config.tc;
  if (!t) return undefined;
  if (t.file !== undefined) return { name: resolve(scenarioDir, t.file), text: readText(resolve(scenarioDir, t.file), 'tc script') };
  return { name: '<generated tc script>', text: generatedTcScript(t.generate!) };
}

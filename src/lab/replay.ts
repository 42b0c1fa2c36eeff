/**
 * One kernel run: build the namespaces, configure the firewall exactly as asked, replay the trace
 * from the side each address lives on, capture what comes out, read the kernel's tables back,
 * and clean up (also on failure and on a signal, unless kept).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { InputError, RunFailure, UsageError } from '../errors.js';
import { CommandError, hasCommand, mustRun, run } from './exec.js';
import { ETH_HEADER, readHeaders } from './frames.js';
import { parseConntrackList, parseConntrackStats, parseIptablesSave, parseTcClassStats } from './kernel.js';
import { inNs, labNames, onCleanup, sysctl, Topology, TRANSIT } from './netns.js';
import { LINKTYPE_ETHERNET, LINKTYPE_IPV4, LINKTYPE_IPV6, LINKTYPE_RAW, readPcap, type PcapFile } from './pcapfile.js';
import type { ForwardingOutcome, LabObservation } from './types.js';

export type IptablesVariant = 'nft' | 'legacy';

/** A text input with the name it is reported under (file name for messages). */
export interface NamedText {
  readonly name: string;
  readonly text: string;
}

export interface LabConfig {
  readonly tracePath: string;
  readonly ruleset?: NamedText;
  readonly ruleset6?: NamedText;
  readonly ipset?: NamedText;
  /** tc commands; `$DEV` stands for the firewall's egress towards the receiver. */
  readonly tc?: NamedText;
  /** nf_conntrack sysctl suffixes → values (tcp_be_liberal=1, udp_timeout=30, max=16...). */
  readonly conntrack?: Readonly<Record<string, string>>;
  readonly allowGlobalSysctl?: boolean;
  readonly iptables?: IptablesVariant;
  readonly routes?: readonly { readonly prefix: string; readonly side: 'inside' | 'outside' }[];
  /** The addresses on the sender's side, all others on the receiver's; inferred when absent. */
  readonly insideAddresses?: readonly string[];
  readonly keep?: boolean;
  /** Namespace name prefix (default pkb-<random>). */
  readonly name?: string;
  /** Pause when the sending side changes, so the firewall has handled the previous packet. */
  readonly gapMs?: number;
  readonly log?: (line: string) => void;
}

export interface KernelRun {
  readonly observation: LabObservation;
  /** Every choice that the model must mirror (sysctls, routes, variant). */
  readonly settings: readonly string[];
  readonly kernel: string;
  readonly iptablesVariant: IptablesVariant;
  readonly namespaces: readonly string[];
  /** Addresses placed on the sender's side (given or inferred); -i f0 / -o f1 depend on them. */
  readonly insideAddresses: readonly string[];
  readonly kept: boolean;
  readonly replayed: number;
  readonly durationMs: number;
}

/** nf_conntrack settings that are global (init namespace only; EINVAL elsewhere). */
const GLOBAL_CONNTRACK = new Set(['max', 'buckets', 'expect_max']);

/** The compiled agent beside this file, or (when running from TypeScript sources) in dist/. */
export function agentPath(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const beside = resolve(here, 'agent.js');
  return existsSync(beside) ? beside : resolve(here, '../../dist/src/lab/agent.js');
}

interface PlannedPacket {
  readonly frameNo: number;
  readonly side: 'inside' | 'outside';
  readonly ipOffset: number;
  readonly fingerprint: string;
}

/** Which packets can be replayed through a routed firewall, from which side, and why not. */
export function planReplay(trace: PcapFile, insideAddresses: readonly string[] = []): { planned: PlannedPacket[]; skipped: { frameNo: number; reason: string }[]; inside: Set<string>; ipv6: boolean } {
  const planned: PlannedPacket[] = [];
  const skipped: { frameNo: number; reason: string }[] = [];
  const side = new Map<string, 'inside' | 'outside'>();
  for (const a of insideAddresses) side.set(a, 'inside');
  let ipOffset: number;
  if (trace.linkType === LINKTYPE_ETHERNET) ipOffset = ETH_HEADER;
  else if (trace.linkType === LINKTYPE_RAW || trace.linkType === LINKTYPE_IPV4 || trace.linkType === LINKTYPE_IPV6) ipOffset = 0;
  else {
    for (const r of trace.records) skipped.push({ frameNo: r.frameNo, reason: `link type ${trace.linkType} cannot be replayed (Ethernet and raw IP only)` });
    return { planned, skipped, inside: new Set(), ipv6: false };
  }
  // The firewall's own addresses may be destinations (MASQUERADE replies come back to f1's);
  // the sender's and receiver's may not (their own stacks would take the packet), and no lab
  // address may be a source.
  const transit = new Set<string>(Object.values(TRANSIT).flatMap((t) => [t.v4, t.v6]));
  const endpoints = new Set<string>([TRANSIT.sender.v4, TRANSIT.sender.v6, TRANSIT.receiver.v4, TRANSIT.receiver.v6]);
  let ipv6 = false;
  for (const r of trace.records) {
    if (r.data.length < r.wireLen) {
      skipped.push({ frameNo: r.frameNo, reason: `captured ${r.data.length} of ${r.wireLen} bytes (snaplen cut it)` });
      continue;
    }
    const h = readHeaders(r.data, ipOffset);
    if (typeof h === 'string') {
      skipped.push({ frameNo: r.frameNo, reason: h });
      continue;
    }
    const why = unroutable(h.src, 'source') ?? unroutable(h.dst, 'destination') ?? (transit.has(h.src) || endpoints.has(h.dst) ? 'uses one of the lab\'s own transit addresses' : undefined) ?? (h.src === h.dst ? 'source equals destination' : undefined);
    if (why) {
      skipped.push({ frameNo: r.frameNo, reason: why });
      continue;
    }
    if (insideAddresses.length > 0) {
      // Given explicitly: those addresses are inside, every other one outside.
      if (!side.has(h.src)) side.set(h.src, 'outside');
      if (!side.has(h.dst)) side.set(h.dst, 'outside');
    } else if (!side.has(h.src) && !side.has(h.dst)) {
      // The first packet between two unknown addresses comes from the inside (the initiator's side).
      side.set(h.src, 'inside');
      side.set(h.dst, 'outside');
    } else if (!side.has(h.src)) side.set(h.src, side.get(h.dst) === 'inside' ? 'outside' : 'inside');
    else if (!side.has(h.dst)) side.set(h.dst, side.get(h.src) === 'inside' ? 'outside' : 'inside');
    if (h.l3 === 6) ipv6 = true;
    planned.push({ frameNo: r.frameNo, side: side.get(h.src)!, ipOffset: h.ipOffset, fingerprint: h.fingerprint });
  }
  const inside = new Set([...side].filter(([a, s]) => s === 'inside' && !transit.has(a)).map(([a]) => a));
  return { planned, skipped, inside, ipv6 };
}

/** Addresses a router does not forward (martians, multicast, link-local IPv6). */
function unroutable(addr: string, what: string): string | undefined {
  if (addr.includes(':')) {
    const first = parseInt(addr.split(':')[0] || '0', 16);
    if (addr === '::' || addr === '::1') return `${what} ${addr} is unspecified or loopback`;
    if ((first & 0xff00) === 0xff00) return `${what} ${addr} is multicast`;
    if ((first & 0xffc0) === 0xfe80) return `${what} ${addr} is link-local (not forwarded)`;
    return undefined;
  }
  const [a, , , d] = addr.split('.').map(Number) as [number, number, number, number];
  if (a === 0) return `${what} ${addr} is in 0.0.0.0/8`;
  if (a === 127) return `${what} ${addr} is loopback`;
  if (a >= 224 && a <= 239) return `${what} ${addr} is multicast`;
  if (a >= 240) return `${what} ${addr} is reserved or broadcast`;
  if (a === 169 && addr.startsWith('169.254.')) return `${what} ${addr} is link-local`;
  void d;
  return undefined;
}

class Agent {
  private readonly lines: Interface;
  private readonly waiting: ((line: string) => void)[] = [];
  private readonly early: string[] = [];
  private stderr = '';
  exited = false;

  constructor(readonly side: string, readonly proc: ChildProcessWithoutNullStreams) {
    this.lines = createInterface({ input: proc.stdout });
    this.lines.on('line', (line) => {
      const w = this.waiting.shift();
      if (w) w(line);
      else this.early.push(line);
    });
    proc.stderr.on('data', (d: Buffer) => {
      this.stderr += d.toString();
    });
    proc.on('exit', () => {
      this.exited = true;
      for (const w of this.waiting.splice(0)) w(`exit ${this.stderr.trim()}`);
    });
  }

  next(timeoutMs = 10_000): Promise<string> {
    const e = this.early.shift();
    if (e !== undefined) return Promise.resolve(e);
    if (this.exited) return Promise.resolve(`exit ${this.stderr.trim()}`);
    return new Promise((resolvePromise, reject) => {
      const timer = setTimeout(() => reject(new RunFailure(`lab agent on the ${this.side} side did not answer within ${timeoutMs} ms${this.stderr ? `: ${this.stderr.trim()}` : ''}`)), timeoutMs);
      this.waiting.push((line) => {
        clearTimeout(timer);
        resolvePromise(line);
      });
    });
  }

  async expect(prefix: string): Promise<string> {
    const line = await this.next();
    if (!line.startsWith(prefix)) throw new RunFailure(`lab agent on the ${this.side} side: expected "${prefix}", got "${line}"`);
    return line;
  }

  send(line: string): void {
    this.proc.stdin.write(`${line}\n`);
  }

  kill(): void {
    if (!this.exited) this.proc.kill('SIGKILL');
  }
}

function startAgent(ns: string, side: string, args: string[]): Agent {
  const proc = spawn('ip', ['netns', 'exec', ns, process.execPath, agentPath(), ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  return new Agent(side, proc);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The line number iptables-restore/ipset/tc blame in their message, mapped to our file. */
function blame(input: NamedText, err: CommandError, tool: string): InputError {
  const msg = (err.result.stderr || err.result.stdout).trim();
  const line = /line:? (\d+)/i.exec(msg)?.[1] ?? /-:(\d+)/.exec(msg)?.[1];
  return new InputError(line ? `${input.name}:${line}` : input.name, `${tool} rejected it: ${msg}`);
}

/** Runs the kernel side of the lab. */
export async function runKernel(config: LabConfig): Promise<KernelRun> {
  const started = Date.now();
  const log = config.log ?? (() => undefined);
  const variant = config.iptables ?? 'nft';
  const trace = readPcap(config.tracePath);
  const plan = planReplay(trace, config.insideAddresses);
  const ipt = (v6: boolean, what: 'restore' | 'save'): string => `${v6 ? 'ip6tables' : 'iptables'}-${variant === 'legacy' ? 'legacy-' : ''}${what}`;
  for (const tool of [ipt(false, 'restore'), ...(config.ipset ? ['ipset'] : []), ...(config.tc ? ['tc'] : []), 'conntrack']) {
    if (!hasCommand(tool)) throw new RunFailure(`${tool} is not installed (apt-get install iptables ipset conntrack iproute2)`);
  }
  const conntrack = { checksum: '0', ...config.conntrack };
  for (const key of Object.keys(conntrack)) {
    if (!/^[a-z0-9_]+$/.test(key)) throw new UsageError(`bad conntrack setting name "${key}"`);
    if (GLOBAL_CONNTRACK.has(key) && !config.allowGlobalSysctl) {
      throw new UsageError(`nf_conntrack_${key} is global to the machine (writable only from the initial namespace); pass --allow-global-sysctl to change it for the run (the old value is restored)`);
    }
  }
  const topo = Topology.create(labNames(config.name), { ipv6: plan.ipv6 });
  const { sender, firewall, receiver } = topo.names;
  const settings = [...topo.settings, `iptables variant: ${variant}`];
  const work = mkdtempSync(join(tmpdir(), 'pktbench-lab-'));
  const agents: Agent[] = [];
  let kept = false;
  // On a signal the exit handlers stop the agents and remove the scratch folder too.
  const releaseScratch = onCleanup(() => {
    for (const a of agents) a.kill();
    rmSync(work, { recursive: true, force: true });
  });
  try {
    // The agents (a Node start-up each, the slowest step) load while the firewall is configured.
    const offsets = new Array<number>(trace.records.length).fill(-1);
    for (const p of plan.planned) offsets[p.frameNo - 1] = p.ipOffset;
    const offsetsFile = join(work, 'offsets');
    writeFileSync(offsetsFile, offsets.join(','));
    const tracePath = resolve(config.tracePath);
    const inAgent = startAgent(sender, 'sender', ['s0', topo.macs.s0, topo.macs.f0, tracePath, offsetsFile, join(work, 'sender.pcap')]);
    agents.push(inAgent);
    const outAgent = startAgent(receiver, 'receiver', ['r0', topo.macs.r0, topo.macs.f1, tracePath, offsetsFile, join(work, 'receiver.pcap')]);
    agents.push(outAgent);
    // Let link-up chatter (IPv6 MLD reports) finish before anything starts counting.
    await sleep(plan.ipv6 ? 150 : 20);
    for (const addr of plan.inside) topo.routeInside(addr);
    for (const r of config.routes ?? []) topo.routePrefix(r.prefix, r.side);
    settings.push(`inside (sender side) addresses: ${[...plan.inside].sort().join(' ') || '(none)'}; every other address is routed to the receiver side`);

    // Conntrack settings: per-namespace ones in the firewall, global ones (behind the flag) on the host.
    const local = Object.entries(conntrack).filter(([k]) => !GLOBAL_CONNTRACK.has(k)).map(([k, v]) => `net.netfilter.nf_conntrack_${k}=${v}`);
    sysctl(firewall, local);
    settings.push(...local.map((s) => `firewall sysctl ${s}`));
    for (const [k, v] of Object.entries(conntrack).filter(([key]) => GLOBAL_CONNTRACK.has(key))) {
      const path = `/proc/sys/net/netfilter/nf_conntrack_${k}`;
      const old = readFileSync(path, 'utf8').trim();
      writeFileSync(path, v);
      onCleanupRestore(path, old);
      settings.push(`GLOBAL sysctl net.netfilter.nf_conntrack_${k}=${v} (was ${old}; restored after the run)`);
    }

    if (config.ipset) {
      try {
        inNs(firewall, ['ipset', 'restore'], config.ipset.text);
      } catch (err) {
        if (err instanceof CommandError) throw blame(config.ipset, err, 'ipset restore');
        throw err;
      }
    }
    for (const [rs, v6] of [[config.ruleset, false], [config.ruleset6, true]] as const) {
      if (!rs) continue;
      try {
        inNs(firewall, [ipt(v6, 'restore')], rs.text);
      } catch (err) {
        if (err instanceof CommandError) throw blame(rs, err, ipt(v6, 'restore'));
        throw err;
      }
    }
    if (config.tc) {
      const batch = config.tc.text.split('\n').map((l) => l.replace(/^\s*tc\s+/, '').replace(/\$\{?DEV\}?/g, TRANSIT.fwOutside.iface)).join('\n');
      try {
        inNs(firewall, ['tc', '-batch', '-'], batch);
      } catch (err) {
        if (err instanceof CommandError) throw blame(config.tc, err, 'tc');
        throw err;
      }
      settings.push(`tc script on the firewall's egress towards the receiver (${TRANSIT.fwOutside.iface})`);
    }
    // Start from an empty table: nothing but the replay may have created entries.
    run(['ip', 'netns', 'exec', firewall, 'conntrack', '-F']);

    await inAgent.expect('ready');
    await outAgent.expect('ready');
    log(`replaying ${plan.planned.length} packets (${plan.skipped.length} skipped) through ${firewall}`);

    let lastSide: string | undefined;
    const gap = config.gapMs ?? 2;
    for (const p of plan.planned) {
      if (lastSide !== undefined && lastSide !== p.side && gap > 0) await sleep(gap);
      lastSide = p.side;
      const agent = p.side === 'inside' ? inAgent : outAgent;
      agent.send(`s ${p.frameNo}`);
      await agent.expect(`ok ${p.frameNo}`);
    }
    await drain(firewall);
    inAgent.send('q');
    outAgent.send('q');
    await inAgent.expect('done');
    await outAgent.expect('done');

    const outcome = matchCaptures(plan, [join(work, 'sender.pcap'), join(work, 'receiver.pcap')]);
    const families = plan.ipv6 ? [4, 6] as const : [4] as const;
    const rules = [
      ...(config.ruleset || !config.ruleset6 ? parseIptablesSave(inNs(firewall, [ipt(false, 'save'), '-c']), 4) : []),
      ...(config.ruleset6 ? parseIptablesSave(inNs(firewall, [ipt(true, 'save'), '-c']), 6) : []),
    ];
    const entries = families.flatMap((f) => parseConntrackList(run(['ip', 'netns', 'exec', firewall, 'conntrack', '-L', '-f', f === 4 ? 'ipv4' : 'ipv6']).stdout));
    const stats = parseConntrackStats(inNs(firewall, ['conntrack', '-S']));
    const classes = config.tc ? parseTcClassStats(inNs(firewall, ['tc', '-s', 'class', 'show', 'dev', TRANSIT.fwOutside.iface])) : [];
    const kernel = mustRun(['uname', '-r']).trim();
    if (config.keep) {
      topo.keep();
      kept = true;
      settings.push(`kept namespaces: ${sender} ${firewall} ${receiver} (remove with ip netns del)`);
    }
    return {
      observation: { rules, conntrack: entries, conntrackStats: stats, classes, outcome },
      settings,
      kernel,
      iptablesVariant: variant,
      namespaces: [sender, firewall, receiver],
      insideAddresses: [...plan.inside].sort(),
      kept,
      replayed: plan.planned.length,
      durationMs: Date.now() - started,
    };
  } finally {
    releaseScratch();
    if (!kept) topo.destroy();
    for (const r of pendingRestores.splice(0)) r();
  }
}

const pendingRestores: (() => void)[] = [];

/** Restores a global sysctl at the end of the run, or on a signal if the run dies first. */
function onCleanupRestore(path: string, old: string): void {
  const restore = onCleanup(() => writeFileSync(path, old));
  pendingRestores.push(restore);
}

/** Waits until the egress qdisc has sent its backlog (a shaped replay may still be queued). */
async function drain(firewall: string): Promise<void> {
  await sleep(50);
  for (let i = 0; i < 200; i++) {
    const q = run(['ip', 'netns', 'exec', firewall, 'tc', '-s', 'qdisc', 'show', 'dev', TRANSIT.fwOutside.iface]).stdout;
    const backlog = [...q.matchAll(/backlog\s+\d+b\s+(\d+)p/g)].reduce((s, m) => s + Number(m[1]), 0);
    if (backlog === 0) break;
    await sleep(25);
  }
  await sleep(100);
}

/** Matches the frames the sender and receiver captured to the replayed ones by fingerprint. */
export function matchCaptures(plan: { planned: readonly PlannedPacket[]; skipped: readonly { frameNo: number; reason: string }[] }, captures: readonly string[]): ForwardingOutcome {
  const seen = new Map<string, number>();
  for (const path of captures) {
    const pcap = readPcap(path);
    for (const r of pcap.records) {
      const h = readHeaders(r.data, ETH_HEADER);
      if (typeof h === 'string') continue;
      seen.set(h.fingerprint, (seen.get(h.fingerprint) ?? 0) + 1);
    }
  }
  const forwarded: number[] = [];
  const dropped: number[] = [];
  for (const p of plan.planned) {
    const n = seen.get(p.fingerprint) ?? 0;
    if (n > 0) {
      seen.set(p.fingerprint, n - 1);
      forwarded.push(p.frameNo);
    } else dropped.push(p.frameNo);
  }
  return { forwarded, dropped, skipped: plan.skipped };
}

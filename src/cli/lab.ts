import type { Command } from 'commander';
import { InvalidArgumentError, Option } from 'commander';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError, RunFailure, UsageError } from '../errors.js';
import { diffObservations, formatDifferences, type Difference } from '../lab/diff.js';
import { CommandError, mustRun } from '../lab/exec.js';
import { createModelSide } from '../lab/model.js';
import { labUnavailableReason, NameCollision } from '../lab/netns.js';
import { readPcap } from '../lab/pcapfile.js';
import { formatProbes, probeTc, probeTools, probeTraffic } from '../lab/probe.js';
import { runKernel, type IptablesVariant, type KernelRun, type LabConfig, type NamedText } from '../lab/replay.js';
import { checkExpectations, loadScenario, scenarioConfig, writeScenarioTrace } from '../lab/scenario.js';
import type { LabObservation } from '../lab/types.js';
import { capture, checkInterface, DEFAULT_CAPTURE_BUFFER_BYTES, FrameSender, parseMac } from '../trace/capture.js';
import { ETH_HEADER } from '../lab/frames.js';
import { LINKTYPE_ETHERNET } from '../lab/pcapfile.js';
import { parsePositive } from './options.js';

interface LabOptions {
  trace?: string;
  scenario?: string;
  ruleset?: string;
  ruleset6?: string;
  ipset?: string;
  tc?: string;
  conntrack?: Record<string, string>;
  inside?: string[];
  route: { prefix: string; side: 'inside' | 'outside' }[];
  iptables: IptablesVariant;
  allowGlobalSysctl?: boolean;
  keep?: boolean;
  name?: string;
  json?: boolean;
  probe?: boolean;
}

function parseKeyValues(value: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of value.split(',').filter((p) => p.trim() !== '')) {
    const m = /^\s*(?:net\.netfilter\.)?(?:nf_conntrack_)?([a-z0-9_]+)\s*=\s*(\S+)\s*$/.exec(part);
    if (!m) throw new InvalidArgumentError(`expected key=value (e.g. tcp_be_liberal=1,udp_timeout=30), got "${part}"`);
    out[m[1]!] = m[2]!;
  }
  return out;
}

function parseRoute(value: string, previous: LabOptions['route']): LabOptions['route'] {
  const m = /^([0-9a-fA-F:.]+\/\d{1,3})=(inside|outside)$/.exec(value);
  if (!m) throw new InvalidArgumentError(`expected PREFIX=inside|outside (e.g. 10.1.0.0/24=inside), got "${value}"`);
  return [...previous, { prefix: m[1]!, side: m[2] as 'inside' | 'outside' }];
}

function readText(path: string | undefined): NamedText | undefined {
  if (path === undefined) return undefined;
  try {
    return { name: path, text: readFileSync(path, 'utf8') };
  } catch (err) {
    throw new InputError(path, `cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

function formatObservation(run: KernelRun): string {
  const o = run.observation;
  const lines: string[] = [];
  lines.push(`kernel ${run.kernel}, iptables ${run.iptablesVariant}, namespaces ${run.namespaces.join(' ')}${run.kept ? ' (kept)' : ' (removed)'}`);
  lines.push('settings (the model must use the same):');
  for (const s of run.settings) lines.push(`  ${s}`);
  lines.push(`replayed ${run.replayed} packets in ${run.durationMs} ms: ${o.outcome.forwarded.length} forwarded, ${o.outcome.dropped.length} dropped, ${o.outcome.skipped.length} skipped`);
  if (o.outcome.dropped.length) lines.push(`  dropped frames: ${o.outcome.dropped.join(' ')}`);
  for (const s of o.outcome.skipped) lines.push(`  skipped frame ${s.frameNo}: ${s.reason}`);
  lines.push('rules (iptables-save -c):');
  for (const r of o.rules) lines.push(`  v${r.family} ${r.table} ${r.chain} ${r.index === 0 ? 'policy' : `#${r.index}`} [${r.packets}:${r.bytes}] ${r.index === 0 ? r.text.replace('policy ', '') : r.text}`);
  lines.push(`conntrack -L (${o.conntrack.length} entries):`);
  for (const e of o.conntrack) {
    const t = (x: typeof e.original) => [`src=${x.src}`, `dst=${x.dst}`, ...(['sport', 'dport', 'type', 'code', 'id'] as const).filter((k) => x[k] !== undefined).map((k) => `${k}=${x[k]}`)].join(' ');
    lines.push(`  ${e.proto} ${e.timeout}s ${e.state ? `${e.state} ` : ''}${t(e.original)} | ${t(e.reply)}${e.flags.length ? ` [${e.flags.join(',')}]` : ''} mark=${e.mark}`);
  }
  lines.push(`conntrack -S: ${Object.entries(o.conntrackStats).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  if (o.classes.length) {
    lines.push('tc -s class show (firewall egress):');
    for (const c of o.classes) lines.push(`  ${c.kind} ${c.classId} parent ${c.parent}: ${c.packets} pkt ${c.bytes} bytes, dropped ${c.dropped}, overlimits ${c.overlimits}`);
  }
  return `${lines.join('\n')}\n`;
}

async function labAction(opts: LabOptions): Promise<void> {
  const unavailable = labUnavailableReason();
  if (unavailable) throw new RunFailure(`${unavailable}; the lab cannot run here`);
  if (opts.probe) {
    const kernel = mustRun(['uname', '-r']).trim();
    const results = [...probeTools(), ...probeTc(opts.name), ...(await probeTraffic(opts.name))];
    process.stdout.write(opts.json ? `${JSON.stringify({ kernel, probes: results }, null, 2)}\n` : formatProbes(results, kernel));
    return;
  }
  if (!opts.scenario && !opts.trace) throw new UsageError('give --trace FILE with --ruleset FILE (or --scenario FILE, or --probe)');
  if (opts.scenario && (opts.ruleset || opts.ruleset6 || opts.ipset || opts.tc)) throw new UsageError('--scenario brings its own ruleset, ipset and tc script; do not combine it with --ruleset/--ruleset6/--ipset/--tc');
  if (!opts.scenario && !opts.ruleset && !opts.ruleset6) throw new UsageError('--ruleset FILE (or --ruleset6 FILE) is required with --trace');
  const work = mkdtempSync(join(tmpdir(), 'pktbench-lab-cli-'));
  try {
    let config: LabConfig;
    let expectDiffs: Difference[] | undefined;
    const scenario = opts.scenario ? loadScenario(opts.scenario) : undefined;
    if (scenario) {
      const tracePath = opts.trace ?? join(work, 'scenario.pcap');
      if (!opts.trace) writeScenarioTrace(scenario, tracePath);
      config = { ...scenarioConfig(scenario, tracePath) };
    } else {
      config = {
        tracePath: opts.trace!,
        ruleset: readText(opts.ruleset),
        ruleset6: readText(opts.ruleset6),
        ipset: readText(opts.ipset),
        tc: readText(opts.tc),
        conntrack: opts.conntrack,
        routes: opts.route,
        insideAddresses: opts.inside,
      };
    }
    config = {
      ...config,
      iptables: scenario?.scenario.iptables && opts.iptables === 'nft' ? scenario.scenario.iptables : opts.iptables,
      allowGlobalSysctl: opts.allowGlobalSysctl,
      keep: opts.keep,
      name: opts.name,
      conntrack: { ...config.conntrack, ...opts.conntrack },
      log: opts.json ? undefined : (line) => process.stderr.write(`lab: ${line}\n`),
    };
    let run: KernelRun;
    try {
      run = await runKernel(config);
    } catch (err) {
      if (err instanceof NameCollision) throw new UsageError(err.message);
      if (err instanceof CommandError) throw new RunFailure(err.message);
      throw err;
    }
    if (scenario?.scenario.expect) expectDiffs = checkExpectations(run.observation, scenario.scenario.expect);
    const model = createModelSide({ routes: config.routes });
    const modelObs: LabObservation = await model.run({
      tracePath: config.tracePath,
      ruleset: config.ruleset,
      ruleset6: config.ruleset6,
      ipset: config.ipset,
      tc: config.tc,
      conntrack: config.conntrack ?? {},
      insideAddresses: run.insideAddresses,
      skipped: run.observation.outcome.skipped,
      settings: run.settings,
      replayDurationMs: run.durationMs,
    });
    const diffs = diffObservations(run.observation, modelObs, { timeoutToleranceS: Math.max(1, Math.ceil(run.durationMs / 1000)) });
    if (opts.json) {
      process.stdout.write(`${JSON.stringify({ kernel: run, model: modelObs, differences: diffs, expectationDifferences: expectDiffs ?? null }, null, 2)}\n`);
    } else {
      process.stdout.write(formatObservation(run));
      process.stdout.write(`model (${model.name}): ${formatDifferences(diffs)}`);
      if (expectDiffs) process.stdout.write(`scenario expectations: ${formatDifferences(expectDiffs).replace('kernel and model agree', 'the kernel did what the scenario expects').replaceAll(', model ', ', expected ')}`);
    }
    if (diffs.length > 0 || (expectDiffs && expectDiffs.length > 0)) process.exitCode = 1;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function parseSeconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`not a positive number of seconds: ${value}`);
  return n;
}

function parseRate(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`not a positive packet rate: ${value}`);
  return n;
}

/** Registers this file's subcommands. */
export function register(program: Command): void {
  program
    .command('lab')
    .description('Replay a trace through a real Linux firewall in network namespaces and read back its counters (root)')
    .option('--trace <file>', 'pcap to replay (Ethernet or raw IP)')
    .option('--scenario <file>', 'a lab scenario (fixtures/lab/*.yaml): ruleset, tc, conntrack settings, packets, expectations')
    .option('--ruleset <file>', 'iptables-save format, loaded with iptables-restore in the firewall namespace')
    .option('--ruleset6 <file>', 'ip6tables-save format, loaded with ip6tables-restore')
    .option('--ipset <file>', 'ipset save format, loaded with ipset restore')
    .option('--tc <file>', 'tc commands for the firewall egress towards the receiver; write $DEV for the device')
    .option('--conntrack <k=v,...>', 'nf_conntrack sysctls for the firewall (tcp_be_liberal=1,udp_timeout=30; max/buckets are global)', parseKeyValues)
    .option('--inside <addr,...>', 'addresses on the sender side (default: whoever sends the first packet between two addresses)', (v: string) => v.split(',').filter(Boolean))
    .option('--route <prefix=side>', 'extra firewall route, e.g. 10.1.0.0/24=inside (repeatable)', parseRoute, [])
    .addOption(new Option('--iptables <variant>', 'iptables backend').choices(['nft', 'legacy']).default('nft'))
    .option('--allow-global-sysctl', 'allow changing machine-wide conntrack settings (max, buckets) for the run; restored afterwards')
    .option('--keep', 'leave the namespaces in place for inspection')
    .option('--name <prefix>', 'namespace name prefix (default pkb-<random>); refuses names that exist')
    .option('--json', 'print the kernel view (and differences) as JSON')
    .option('--probe', 'probe the kernel for qdiscs, classifiers and known traps, then exit')
    .action(labAction);

  program
    .command('capture')
    .description('Capture packets from an interface into a pcap (libpcap via cap)')
    .requiredOption('-i, --interface <iface>', 'interface to capture on')
    .requiredOption('-o, --output <file>', 'pcap file to write')
    .option('-c, --count <n>', 'stop after n packets', parsePositive)
    .option('--duration <seconds>', 'stop after this many seconds', parseSeconds)
    .option('-f, --filter <bpf>', 'pcap-filter expression', '')
    .option('--snaplen <n>', 'bytes kept per packet', parsePositive, 262144)
    .option('--buffer-mb <n>', 'kernel capture buffer in MiB (each frame takes a 64 KiB slot: 64 MiB holds ~1,000 frames)', parsePositive, DEFAULT_CAPTURE_BUFFER_BYTES / 1048576)
    .action(async (opts: { interface: string; output: string; count?: number; duration?: number; filter: string; snaplen: number; bufferMb: number }) => {
      const r = await capture({ iface: opts.interface, output: opts.output, count: opts.count, durationS: opts.duration, filter: opts.filter, snaplen: opts.snaplen, bufferBytes: opts.bufferMb * 1048576 });
      process.stderr.write(`captured ${r.packets} packets from ${opts.interface} into ${opts.output}${r.truncated ? ` (${r.truncated} longer than 65535 bytes, cut)` : ''}\n`);
    });

  program
    .command('send')
    .description('Send a trace\'s packets onto an interface, rewriting the Ethernet addresses (libpcap via cap)')
    .requiredOption('-i, --interface <iface>', 'interface to send on')
    .requiredOption('--trace <file>', 'pcap to send (Ethernet or raw IP)')
    .requiredOption('--dst-mac <mac>', 'destination MAC written into every frame')
    .option('--src-mac <mac>', 'source MAC (default: the interface\'s own)')
    .option('--rate <pps>', 'packets per second (default: as fast as possible)', parseRate)
    .option('-c, --count <n>', 'send at most n packets', parsePositive)
    .action(async (opts: { interface: string; trace: string; dstMac: string; srcMac?: string; rate?: number; count?: number }) => {
      checkInterface(opts.interface);
      const srcMac = parseMac(opts.srcMac ?? readFileSync(`/sys/class/net/${opts.interface}/address`, 'utf8').trim());
      const trace = readPcap(opts.trace);
      const ipOffset = trace.linkType === LINKTYPE_ETHERNET ? ETH_HEADER : [101, 228, 229].includes(trace.linkType) ? 0 : -1;
      if (ipOffset < 0) throw new InputError(opts.trace, `link type ${trace.linkType} cannot be sent (Ethernet and raw IP only)`);
      const sender = new FrameSender(opts.interface, srcMac, parseMac(opts.dstMac));
      const start = process.hrtime.bigint();
      let skipped = 0;
      try {
        for (const r of trace.records.slice(0, opts.count ?? trace.records.length)) {
          if (opts.rate) {
            const due = (sender.sent + skipped) * (1e9 / opts.rate);
            const ahead = due - Number(process.hrtime.bigint() - start);
            if (ahead > 1e6) await new Promise((res) => setTimeout(res, ahead / 1e6));
          }
          let offset = ipOffset;
          if (ipOffset === ETH_HEADER) {
            // Skip VLAN tags; non-IP frames are not sent.
            let type = ((r.data[12] ?? 0) << 8) | (r.data[13] ?? 0);
            while ((type === 0x8100 || type === 0x88a8) && r.data.length >= offset + 4) {
              type = ((r.data[offset + 2] ?? 0) << 8) | (r.data[offset + 3] ?? 0);
              offset += 4;
            }
            if (type !== 0x0800 && type !== 0x86dd) {
              skipped++;
              continue;
            }
          }
          if (r.data.length <= offset) {
            skipped++;
            continue;
          }
          sender.sendIp(r.data, offset);
        }
      } finally {
        sender.close();
      }
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      process.stderr.write(`sent ${sender.sent} packets on ${opts.interface} in ${ms.toFixed(1)} ms${skipped ? `; skipped ${skipped} non-IP frames` : ''}\n`);
    });
}

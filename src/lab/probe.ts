/**
 * Kernel feature probes: what this kernel offers before a scenario relies on it. Qdiscs and
 * classifiers are tried on a veth in a namespace of the probe's own; traps (a feature that
 * is accepted but does nothing) are tested with a tiny known trace through the full lab.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasCommand, run } from './exec.js';
import { buildFrame } from './frames.js';
import { labNames, namespaceExists, NameCollision } from './netns.js';
import { writePcap } from './pcapfile.js';
import { runKernel } from './replay.js';

export interface ProbeResult {
  readonly feature: string;
  readonly available: boolean;
  readonly detail: string;
}

const QDISCS: readonly [string, string][] = [
  ['htb', 'htb default 1'], ['tbf', 'tbf rate 1mbit burst 10k latency 50ms'], ['pfifo', 'pfifo'], ['bfifo', 'bfifo'], ['pfifo_fast', 'pfifo_fast'],
  ['mq', 'mq'], ['prio', 'prio'], ['sfq', 'sfq'], ['fq_codel', 'fq_codel'], ['fq', 'fq'], ['netem', 'netem'], ['cake', 'cake'],
];

const CLASSIFIERS: readonly [string, string][] = [
  ['u32', 'u32 match u32 0 0 flowid 1:1'], ['fw', 'handle 1 fw flowid 1:1'], ['basic', 'basic flowid 1:1'],
  ['matchall', 'matchall flowid 1:1'], ['flow', 'flow hash keys src divisor 16'], ['route', 'route to 1 flowid 1:1'],
];

/** Tries each qdisc and classifier on a veth in a private namespace. */
export function probeTc(prefix?: string): ProbeResult[] {
  const ns = `${labNames(prefix).firewall}-probe`;
  if (namespaceExists(ns)) throw new NameCollision(ns);
  const out: ProbeResult[] = [];
  const tc = (args: string): { ok: boolean; msg: string } => {
    const r = run(['ip', 'netns', 'exec', ns, 'tc', ...args.split(' ')]);
    return { ok: r.status === 0, msg: (r.stderr || r.stdout).trim().split('\n')[0] ?? '' };
  };
  const mk = run(['ip', 'netns', 'add', ns]);
  if (mk.status !== 0) return [{ feature: 'netns', available: false, detail: mk.stderr.trim() }];
  try {
    // A multiqueue veth (this kernel has no dummy driver) so that mq can attach too.
    const link = run(['ip', '-n', ns, 'link', 'add', 'd0', 'numtxqueues', '4', 'numrxqueues', '4', 'type', 'veth', 'peer', 'name', 'd1', 'numtxqueues', '4', 'numrxqueues', '4']);
    if (link.status !== 0) return [{ feature: 'veth', available: false, detail: link.stderr.trim() }];
    run(['ip', '-n', ns, 'link', 'set', 'd0', 'up']);
    for (const [kind, args] of QDISCS) {
      const r = tc(`qdisc replace dev d0 root handle 1: ${args}`);
      out.push({ feature: `qdisc ${kind}`, available: r.ok, detail: r.ok ? 'created' : r.msg });
      tc('qdisc del dev d0 root');
    }
    tc('qdisc replace dev d0 root handle 1: htb default 1');
    tc('class add dev d0 parent 1: classid 1:1 htb rate 1mbit');
    let prio = 1;
    for (const [kind, args] of CLASSIFIERS) {
      const r = tc(`filter add dev d0 parent 1: protocol ip prio ${prio++} ${args}`);
      out.push({ feature: `classifier ${kind}`, available: r.ok, detail: r.ok ? 'created' : r.msg });
    }
  } finally {
    run(['ip', 'netns', 'del', ns]);
  }
  return out;
}

/** Runs traps and target checks with two known UDP packets through the real lab. */
export async function probeTraffic(prefix?: string): Promise<ProbeResult[]> {
  const work = mkdtempSync(join(tmpdir(), 'pktbench-probe-'));
  const out: ProbeResult[] = [];
  try {
    const trace = join(work, 'probe.pcap');
    writePcap(trace, 1, [1, 2].map((i) => ({ data: buildFrame({ src: '10.9.0.2', dst: '198.51.100.9', proto: 'udp', sport: 1000 + i, dport: 9, payload: 8 }, i), tsSec: 0, tsNsec: i })));
    const tree = [
      'qdisc add dev $DEV root handle 1: htb default 20',
      'class add dev $DEV parent 1: classid 1:10 htb rate 100mbit',
      'class add dev $DEV parent 1: classid 1:20 htb rate 100mbit',
      'class add dev $DEV parent 1: classid 1:30 htb rate 100mbit',
    ];
    // u32 `match mark`: no packet carries mark 0x99, so a working match sends nothing to 1:10.
    const markRun = await runKernel({
      tracePath: trace,
      name: prefix,
      ruleset: { name: 'probe', text: '*filter\n:FORWARD ACCEPT [0:0]\nCOMMIT\n' },
      tc: { name: 'probe-tc', text: [...tree, 'filter add dev $DEV parent 1: protocol ip prio 1 u32 match mark 0x99 0xff flowid 1:10'].join('\n') },
    }).catch((err: unknown) => err instanceof Error ? err : new Error(String(err)));
    if (markRun instanceof Error) {
      out.push({ feature: 'u32 match mark', available: false, detail: `rejected: ${markRun.message}` });
    } else {
      const hit = markRun.observation.classes.find((c) => c.classId === '1:10')?.packets ?? 0;
      out.push(hit === 0
        ? { feature: 'u32 match mark', available: true, detail: 'unmarked packets did not match mark 0x99' }
        : { feature: 'u32 match mark', available: false, detail: `TRAP: accepted but ignored — ${hit} of 2 unmarked packets matched "match mark 0x99 0xff" (the filter matches everything)` });
    }
    // CLASSIFY sets skb->priority, which HTB takes before its filters.
    const classifyRun = await runKernel({
      tracePath: trace,
      name: prefix,
      ruleset: { name: 'probe', text: '*mangle\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -j CLASSIFY --set-class 1:30\nCOMMIT\n' },
      tc: { name: 'probe-tc', text: tree.join('\n') },
    }).catch((err: unknown) => err instanceof Error ? err : new Error(String(err)));
    if (classifyRun instanceof Error) out.push({ feature: 'CLASSIFY target', available: false, detail: classifyRun.message });
    else {
      const hit = classifyRun.observation.classes.find((c) => c.classId === '1:30')?.packets ?? 0;
      out.push({ feature: 'CLASSIFY target', available: hit === 2, detail: `${hit} of 2 packets reached 1:30` });
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return out;
}

/** Which userspace tools are installed (the lab needs them; iptables-legacy for --iptables legacy). */
export function probeTools(): ProbeResult[] {
  return ['ip', 'tc', 'iptables-restore', 'ip6tables-restore', 'iptables-legacy-restore', 'ip6tables-legacy-restore', 'ipset', 'conntrack'].map((t) => {
    const ok = hasCommand(t);
    return { feature: `tool ${t}`, available: ok, detail: ok ? 'installed' : 'not installed' };
  });
}

export function formatProbes(results: readonly ProbeResult[], kernel: string): string {
  const width = Math.max(...results.map((r) => r.feature.length));
  return [`kernel ${kernel}`, ...results.map((r) => `${r.feature.padEnd(width)}  ${r.available ? 'yes' : 'NO '}  ${r.detail}`)].join('\n') + '\n';
}

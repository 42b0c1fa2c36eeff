/**
 * The lab's topology: three namespaces of its own, sender | firewall | receiver, joined by two
 * veth pairs. Every interface is created inside those namespaces (`ip -n NS link add ... peer
 * ... netns NS2`), so the host namespace never sees, routes or filters a lab packet.
 *
 *   sender ns          firewall ns                      receiver ns
 *   s0 100.64.0.2 ---- f0 100.64.0.1 | f1 100.64.1.1 ---- r0 100.64.1.2
 *      fd70:6b62::2       fd70:6b62::1 | fd70:6b62:1::1      fd70:6b62:1::2
 *
 * The transit addresses are fixed (each run has its own namespaces, so they never clash) so that
 * scenarios can name them, e.g. a MASQUERADE reply addressed to f1's 100.64.1.1.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { CommandError, mustRun, run } from './exec.js';

export const TRANSIT = {
  sender: { v4: '100.64.0.2', v6: 'fd70:6b62::2', iface: 's0' },
  fwInside: { v4: '100.64.0.1', v6: 'fd70:6b62::1', iface: 'f0' },
  fwOutside: { v4: '100.64.1.1', v6: 'fd70:6b62:1::1', iface: 'f1' },
  receiver: { v4: '100.64.1.2', v6: 'fd70:6b62:1::2', iface: 'r0' },
} as const;

export interface LabNames {
  readonly sender: string;
  readonly firewall: string;
  readonly receiver: string;
}

/** Why the lab cannot run here, or undefined when it can (root, `ip netns` works). */
export function labUnavailableReason(): string | undefined {
  if (process.platform !== 'linux') return `the kernel lab needs Linux (this is ${process.platform})`;
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'the kernel lab needs root (network namespaces, iptables, tc)';
  const ip = run(['ip', 'netns', 'list']);
  if (ip.status !== 0) return `network namespaces are unavailable: ${(ip.stderr || ip.stdout).trim() || `ip exited ${ip.status}`}`;
  return undefined;
}

/** Names for one run: `pkb-<6 hex>-snd|fw|rcv`, or from a given prefix. */
export function labNames(prefix?: string): LabNames {
  const base = prefix ?? `pkb-${randomBytes(3).toString('hex')}`;
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,40}$/.test(base)) throw new RangeError(`bad namespace prefix "${base}"`);
  return { sender: `${base}-snd`, firewall: `${base}-fw`, receiver: `${base}-rcv` };
}

export function namespaceExists(name: string): boolean {
  return existsSync(`/run/netns/${name}`) || run(['ip', 'netns', 'list']).stdout.split('\n').some((l) => l.split(' ')[0] === name);
}

/** Runs a command inside a namespace. */
export function inNs(ns: string, argv: readonly string[], input?: string): string {
  return mustRun(['ip', 'netns', 'exec', ns, ...argv], input);
}

export interface TopologyOptions {
  /** Give the links IPv6 addresses (otherwise IPv6 is disabled on them to keep ND/MLD noise out). */
  readonly ipv6: boolean;
}

/** The created namespaces and what was done to them (for the report and for cleanup). */
export class Topology {
  private readonly created: string[] = [];
  /** Every setting the lab made, listed in the report because the model must use the same. */
  readonly settings: string[] = [];
  readonly macs: Record<'s0' | 'f0' | 'f1' | 'r0', string> = { s0: '', f0: '', f1: '', r0: '' };
  private destroyed = false;

  private constructor(readonly names: LabNames) {}

  /** Creates the namespaces and links; refuses when a name is taken; removes what it made on failure. */
  static create(names: LabNames, options: TopologyOptions): Topology {
    for (const ns of [names.sender, names.firewall, names.receiver]) {
      if (namespaceExists(ns)) throw new NameCollision(ns);
    }
    installHandlers();
    const topo = new Topology(names);
    activeTopologies.add(topo);
    try {
      topo.build(options);
    } catch (err) {
      topo.destroy();
      throw err;
    }
    return topo;
  }

  private build(options: TopologyOptions): void {
    const { sender, firewall, receiver } = this.names;
    for (const ns of [sender, firewall, receiver]) {
      mustRun(['ip', 'netns', 'add', ns]);
      this.created.push(ns);
      mustRun(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
      // Interfaces created from here on inherit these: no DAD, no router solicitations, and
      // MLD's unsolicited reports sent within milliseconds of link-up instead of over seconds,
      // so that the link is quiet (and tc's counters clean) by the time the replay starts.
      sysctl(ns, [
        'net.ipv6.conf.default.accept_dad=0',
        'net.ipv6.conf.default.accept_ra=0',
        'net.ipv6.conf.default.router_solicitations=0',
        'net.ipv6.conf.default.mldv1_unsolicited_report_interval=1',
        'net.ipv6.conf.default.mldv2_unsolicited_report_interval=1',
        ...(options.ipv6 ? [] : ['net.ipv6.conf.default.disable_ipv6=1']),
      ]);
    }
    mustRun(['ip', '-n', sender, 'link', 'add', 's0', 'type', 'veth', 'peer', 'name', 'f0', 'netns', firewall]);
    mustRun(['ip', '-n', receiver, 'link', 'add', 'r0', 'type', 'veth', 'peer', 'name', 'f1', 'netns', firewall]);
    const ends: [string, 's0' | 'f0' | 'f1' | 'r0', { v4: string; v6: string }][] = [
      [sender, 's0', TRANSIT.sender],
      [firewall, 'f0', TRANSIT.fwInside],
      [firewall, 'f1', TRANSIT.fwOutside],
      [receiver, 'r0', TRANSIT.receiver],
    ];
    for (const [ns, dev, addr] of ends) {
      mustRun(['ip', '-n', ns, 'addr', 'add', `${addr.v4}/24`, 'dev', dev]);
      if (options.ipv6) mustRun(['ip', '-n', ns, '-6', 'addr', 'add', `${addr.v6}/64`, 'dev', dev, 'nodad']);
      mustRun(['ip', '-n', ns, 'link', 'set', dev, 'up']);
      const link = mustRun(['ip', '-n', ns, '-o', 'link', 'show', 'dev', dev]);
      const mac = /link\/ether\s+([0-9a-f:]{17})/.exec(link)?.[1];
      if (!mac) throw new Error(`no MAC address on ${ns}/${dev}: ${link}`);
      this.macs[dev] = mac;
    }
    // The firewall reaches its neighbours without ARP/ND traffic crossing the links.
    const fwSettings = [
      'net.ipv4.ip_forward=1',
      'net.ipv4.conf.all.rp_filter=0',
      'net.ipv4.conf.default.rp_filter=0',
      'net.ipv4.conf.f0.rp_filter=0',
      'net.ipv4.conf.f1.rp_filter=0',
      'net.ipv4.conf.all.send_redirects=0',
      'net.ipv4.conf.f0.send_redirects=0',
      'net.ipv4.conf.f1.send_redirects=0',
    ];
    if (options.ipv6) fwSettings.push('net.ipv6.conf.all.forwarding=1');
    sysctl(firewall, fwSettings);
    this.settings.push(...fwSettings.map((s) => `firewall sysctl ${s}`));
    mustRun(['ip', '-n', firewall, 'neigh', 'replace', TRANSIT.sender.v4, 'lladdr', this.macs.s0, 'dev', 'f0', 'nud', 'permanent']);
    mustRun(['ip', '-n', firewall, 'neigh', 'replace', TRANSIT.receiver.v4, 'lladdr', this.macs.r0, 'dev', 'f1', 'nud', 'permanent']);
    mustRun(['ip', '-n', firewall, 'route', 'add', 'default', 'via', TRANSIT.receiver.v4, 'dev', 'f1']);
    if (options.ipv6) {
      mustRun(['ip', '-n', firewall, '-6', 'neigh', 'replace', TRANSIT.sender.v6, 'lladdr', this.macs.s0, 'dev', 'f0', 'nud', 'permanent']);
      mustRun(['ip', '-n', firewall, '-6', 'neigh', 'replace', TRANSIT.receiver.v6, 'lladdr', this.macs.r0, 'dev', 'f1', 'nud', 'permanent']);
      mustRun(['ip', '-n', firewall, '-6', 'route', 'add', 'default', 'via', TRANSIT.receiver.v6, 'dev', 'f1']);
    }
    this.settings.push('firewall route default via the receiver (f1); inside addresses via the sender (f0)');
  }

  /** Routes an address (host route) to the sender's side of the firewall. */
  routeInside(address: string): void {
    const v6 = address.includes(':');
    mustRun(['ip', '-n', this.names.firewall, ...(v6 ? ['-6'] : []), 'route', 'replace', `${address}/${v6 ? 128 : 32}`, 'via', v6 ? TRANSIT.sender.v6 : TRANSIT.sender.v4, 'dev', 'f0']);
  }

  /** Routes a prefix to either side (scenario-declared extra routes, e.g. DNAT targets). */
  routePrefix(prefix: string, side: 'inside' | 'outside'): void {
    const v6 = prefix.includes(':');
    const via = side === 'inside' ? (v6 ? TRANSIT.sender.v6 : TRANSIT.sender.v4) : (v6 ? TRANSIT.receiver.v6 : TRANSIT.receiver.v4);
    mustRun(['ip', '-n', this.names.firewall, ...(v6 ? ['-6'] : []), 'route', 'replace', prefix, 'via', via, 'dev', side === 'inside' ? 'f0' : 'f1']);
    this.settings.push(`firewall route ${prefix} via the ${side === 'inside' ? 'sender (f0)' : 'receiver (f1)'}`);
  }

  /** Removes the namespaces (their veths go with them). Safe to call twice. */
  destroy(): string[] {
    const problems: string[] = [];
    if (this.destroyed) return problems;
    this.destroyed = true;
    for (const ns of this.created.reverse()) {
      const r = run(['ip', 'netns', 'del', ns]);
      if (r.status !== 0) problems.push(`ip netns del ${ns}: ${r.stderr.trim()}`);
    }
    activeTopologies.delete(this);
    return problems;
  }

  /** Leaves the namespaces in place (--keep): forget them for the exit handlers. */
  keep(): void {
    this.destroyed = true;
    activeTopologies.delete(this);
  }
}

export class NameCollision extends Error {
  constructor(readonly ns: string) {
    super(`network namespace ${ns} already exists; refusing to touch it (pick another --name or remove it)`);
  }
}

export function sysctl(ns: string, settings: readonly string[]): void {
  if (settings.length === 0) return;
  try {
    inNs(ns, ['sysctl', '-q', '-w', ...settings]);
  } catch (err) {
    if (err instanceof CommandError) throw new Error(`setting ${settings.join(' ')} in ${ns}: ${err.result.stderr.trim()}`);
    throw err;
  }
}

/** Topologies still standing; removed on exit and on SIGINT/SIGTERM unless kept. */
const activeTopologies = new Set<Topology>();
const globalRestores: (() => void)[] = [];
let handlersInstalled = false;

/** Registers a restore action for a global setting, run at the end and on a signal. */
export function onCleanup(restore: () => void): () => void {
  globalRestores.push(restore);
  installHandlers();
  return () => {
    const i = globalRestores.indexOf(restore);
    if (i >= 0) {
      globalRestores.splice(i, 1);
      restore();
    }
  };
}

function cleanupAll(): void {
  for (const t of [...activeTopologies]) t.destroy();
  for (const r of globalRestores.splice(0).reverse()) {
    try {
      r();
    } catch {
      // Best effort on the way out; the report already named the setting.
    }
  }
}

export function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', cleanupAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      cleanupAll();
      process.stderr.write(`pktbench: interrupted (${sig}); lab namespaces removed\n`);
      process.exit(130);
    });
  }
}

/**
 * Default timeouts of the current kernel (net/netfilter/nf_conntrack_proto_{tcp,udp,icmp,
 * icmpv6,generic}.c; sysctl names from Documentation/networking/nf_conntrack-sysctl.rst), each
 * overridable by its sysctl name (`tcp_timeout_established=43200`).
 */

/** TCP states in the kernel's order (enum tcp_conntrack), then the two extra timeout slots. */
export const enum TcpState {
  NONE = 0,
  SYN_SENT = 1,
  SYN_RECV = 2,
  ESTABLISHED = 3,
  FIN_WAIT = 4,
  CLOSE_WAIT = 5,
  LAST_ACK = 6,
  TIME_WAIT = 7,
  CLOSE = 8,
  SYN_SENT2 = 9,
  /** TCP_CONNTRACK_MAX: doubles as "invalid" (sIV) in the transition table. */
  MAX = 10,
  /** TCP_CONNTRACK_IGNORE (sIG). */
  IGNORE = 11,
  /** Timeout slot only: too many retransmissions. */
  RETRANS = 12,
  /** Timeout slot only: unacknowledged data. */
  UNACK = 13,
}

export const TCP_STATE_NAMES = ['NONE', 'SYN_SENT', 'SYN_RECV', 'ESTABLISHED', 'FIN_WAIT', 'CLOSE_WAIT', 'LAST_ACK', 'TIME_WAIT', 'CLOSE', 'SYN_SENT2'] as const;

/** Seconds, by sysctl suffix (net.netfilter.nf_conntrack_<name>). */
export const DEFAULT_TIMEOUTS = {
  tcp_timeout_syn_sent: 120,
  tcp_timeout_syn_recv: 60,
  tcp_timeout_established: 432000,
  tcp_timeout_fin_wait: 120,
  tcp_timeout_close_wait: 60,
  tcp_timeout_last_ack: 30,
  tcp_timeout_time_wait: 120,
  tcp_timeout_close: 10,
  tcp_timeout_max_retrans: 300,
  tcp_timeout_unacknowledged: 300,
  udp_timeout: 30,
  udp_timeout_stream: 120,
  icmp_timeout: 30,
  icmpv6_timeout: 30,
  generic_timeout: 600,
} as const;

export type TimeoutName = keyof typeof DEFAULT_TIMEOUTS;
export const TIMEOUT_NAMES = Object.keys(DEFAULT_TIMEOUTS) as TimeoutName[];

/** Expiry is kept as a wrapping 32-bit millisecond stamp (jiffies at HZ=1000): timeouts must stay below 2^31 ms. */
export const MAX_TIMEOUT_SECONDS = 2147483;

export function isTimeoutName(name: string): name is TimeoutName {
  return Object.prototype.hasOwnProperty.call(DEFAULT_TIMEOUTS, name);
}

/** Timeouts in milliseconds, laid out for the per-packet code (no lookups by name there). */
export class Timeouts {
  /** Indexed by TcpState (SYN_SENT2 uses the SYN_SENT value as the kernel's table does). */
  readonly tcp = new Uint32Array(14);
  readonly udp: number;
  readonly udpStream: number;
  readonly icmp: number;
  readonly icmpv6: number;
  readonly generic: number;
  readonly seconds: Readonly<Record<TimeoutName, number>>;

  constructor(overrides: Partial<Record<TimeoutName, number>> = {}) {
    const s: Record<TimeoutName, number> = { ...DEFAULT_TIMEOUTS };
    for (const [name, value] of Object.entries(overrides)) {
      if (!isTimeoutName(name)) throw new RangeError(`unknown conntrack timeout "${name}" (known: ${TIMEOUT_NAMES.join(', ')})`);
      if (value === undefined) continue;
      if (!Number.isInteger(value) || value < 0 || value > MAX_TIMEOUT_SECONDS) throw new RangeError(`timeout ${name} must be a whole number of seconds 0..${MAX_TIMEOUT_SECONDS}, got ${value}`);
      s[name] = value;
    }
    this.seconds = s;
    const ms = (n: TimeoutName): number => s[n] * 1000;
    const t = this.tcp;
    t[TcpState.SYN_SENT] = ms('tcp_timeout_syn_sent');
    t[TcpState.SYN_RECV] = ms('tcp_timeout_syn_recv');
    t[TcpState.ESTABLISHED] = ms('tcp_timeout_established');
    t[TcpState.FIN_WAIT] = ms('tcp_timeout_fin_wait');
    t[TcpState.CLOSE_WAIT] = ms('tcp_timeout_close_wait');
    t[TcpState.LAST_ACK] = ms('tcp_timeout_last_ack');
    t[TcpState.TIME_WAIT] = ms('tcp_timeout_time_wait');
    t[TcpState.CLOSE] = ms('tcp_timeout_close');
    // tcp_timeouts[TCP_CONNTRACK_SYN_SENT2] is 2 MINS in the source; the sysctl for syn_sent also sets it.
    t[TcpState.SYN_SENT2] = ms('tcp_timeout_syn_sent');
    t[TcpState.RETRANS] = ms('tcp_timeout_max_retrans');
    t[TcpState.UNACK] = ms('tcp_timeout_unacknowledged');
    this.udp = ms('udp_timeout');
    this.udpStream = ms('udp_timeout_stream');
    this.icmp = ms('icmp_timeout');
    this.icmpv6 = ms('icmpv6_timeout');
    this.generic = ms('generic_timeout');
  }
}

/**
 * Parses `NAME=SECONDS` (NAME as the sysctl suffix, with or without `net.netfilter.nf_conntrack_`).
 * Throws RangeError with a message fit for the user.
 */
export function parseTimeoutOverride(text: string): [TimeoutName, number] {
  const m = /^([A-Za-z0-9_.]+)=(\d+)$/.exec(text.trim());
  if (!m) throw new RangeError(`--timeout wants NAME=SECONDS, got "${text}"`);
  const name = m[1]!.replace(/^net\.netfilter\.nf_conntrack_/, '').replace(/^nf_conntrack_/, '');
  if (!isTimeoutName(name)) throw new RangeError(`unknown conntrack timeout "${m[1]}" (known: ${TIMEOUT_NAMES.join(', ')})`);
  const value = Number(m[2]);
  if (!Number.isSafeInteger(value) || value > MAX_TIMEOUT_SECONDS) throw new RangeError(`timeout ${name}=${m[2]} is above the model's limit of ${MAX_TIMEOUT_SECONDS} s`);
  return [name, value];
}

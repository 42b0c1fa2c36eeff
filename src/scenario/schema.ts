/**
 * The scenario file's schema: what one experiment describes (trace, ruleset, tc script, conntrack
 * settings, cores, workers, batch, measurements) and the sweep axes over it. Unknown keys are
 * errors (a typo must not silently fall back to a default), numbers take units (see units.ts).
 */
import { z } from 'zod';
import { PATHS } from '../rules/traverse.js';
import { parseDuration, parsePacketRate, parseQuantity, parseShare, parseSize } from './units.js';

function unit(parse: (v: unknown) => number | string) {
  return z.unknown().transform((value, ctx) => {
    const r = parse(value);
    if (typeof r === 'string') {
      ctx.addIssue({ code: 'custom', message: r });
      return z.NEVER;
    }
    return r;
  });
}

const size = unit(parseSize);
const quantity = unit(parseQuantity);
const positiveSize = size.refine((n) => n >= 1, 'must be at least 1');
const positiveQuantity = quantity.refine((n) => n >= 1, 'must be at least 1');

/**
 * Traffic shapes: the generator's own patterns (src/trace/generate.ts PATTERNS) plus
 * `single-service`, a uniform trace whose server side is rewritten to one address and port
 * (many clients of one single-threaded service; see src/scenario/inputs.ts).
 */
export const TRACE_PATTERNS = ['uniform', 'zipf', 'elephant', 'synflood', 'portscan', 'single-flow', 'single-service'] as const;

const TraceGenerate = z.strictObject({
  pattern: z.enum(TRACE_PATTERNS),
  /** Connections (5-tuples) in the trace; single-flow uses 1, synflood and portscan ignore it. */
  flows: positiveQuantity,
  /** Connections open at once, on average (the generator's `concurrent`); default = flows, all open together. */
  concurrent: positiveQuantity.optional(),
  packets: positiveQuantity,
  pps: unit(parsePacketRate).refine((n) => n >= 1, 'must be at least 1 pps'),
  seed: z.number().int().nonnegative().default(1),
  /** Share of flows that are IPv6 (the generator's `ipv6`). */
  ipv6Share: unit(parseShare).default(0),
  /** Zipf exponent s (pattern zipf). */
  zipfS: z.number().positive().max(10).default(1.1),
});

const Trace = z
  .strictObject({
    /** A pcap/pcapng (optionally .gz), relative to the scenario file. */
    file: z.string().min(1).optional(),
    generate: TraceGenerate.optional(),
    /** Replay the trace this many times back to back (longer runs from a short capture). */
    loops: positiveQuantity.default(1),
  })
  .refine((t) => (t.file === undefined) !== (t.generate === undefined), 'give exactly one of trace.file and trace.generate');

/** Where the ESTABLISHED,RELATED accept sits in FORWARD when a ruleset is generated. */
export const ESTABLISHED_POSITIONS = ['first', 'last', 'none'] as const;

/** src/rules/generate.ts's Selfnet-like layout (the only one it writes; it is deterministic, no seed). */
const RulesetGenerate = z.strictObject({
  pattern: z.enum(['per-user']),
  /** Total rules across all tables (rules per user = what is left after the per-network rules / users, at least 8). */
  rules: positiveQuantity,
  /** Users, 254 per /24 network from 10.0.0.0/24 up; default rules / 8. */
  users: positiveQuantity.optional(),
  established: z.enum(ESTABLISHED_POSITIONS).default('first'),
});

const Ruleset = z
  .strictObject({
    /** iptables-save output, relative to the scenario file. */
    file: z.string().min(1).optional(),
    generate: RulesetGenerate.optional(),
    /** `ipset save` outputs loaded before the ruleset. */
    ipsets: z.array(z.string().min(1)).default([]),
  })
  .refine((r) => (r.file === undefined) !== (r.generate === undefined), 'give exactly one of ruleset.file and ruleset.generate');

const tcRate = z.string().regex(/^\d+(\.\d+)?\s*([kmg]?bit|[kmg]?bps)$/i, 'a tc rate such as 100mbit or 10Gbit');

/** One HTB root class at `rate` with a leaf per user (an equal share guaranteed, ceil `rate`), one cls_fw filter per leaf. */
const TcGenerate = z.strictObject({
  /** HTB leaf classes, one per user, each selected by a cls_fw handle (the fw mark u+1 the generated ruleset sets). */
  classes: positiveQuantity.refine((n) => n <= 0xffff - 0x11, 'at most 65518 (HTB minor class ids are 16 bits)'),
  rate: tcRate.default('10gbit'),
});

const Tc = z
  .strictObject({
    /** A tc batch script (`tc -batch` lines), relative to the scenario file. */
    file: z.string().min(1).optional(),
    generate: TcGenerate.optional(),
    /** cls_fw's hash table size (net/sched/cls_fw.c HTSIZE = 256 in the kernel). */
    fwBuckets: positiveSize.default(256),
    /** The device's rate, which the root qdisc dequeues at. */
    linkRate: tcRate.default('10gbit'),
  })
  .refine((t) => (t.file === undefined) !== (t.generate === undefined), 'give exactly one of tc.file and tc.generate');

/** nf_conntrack timeouts (net/netfilter/nf_conntrack_proto_*.c), in seconds after parsing. */
const Timeouts = z.strictObject({
  tcp_syn_sent: unit(parseDuration).optional(),
  tcp_syn_recv: unit(parseDuration).optional(),
  tcp_established: unit(parseDuration).optional(),
  tcp_fin_wait: unit(parseDuration).optional(),
  tcp_close_wait: unit(parseDuration).optional(),
  tcp_last_ack: unit(parseDuration).optional(),
  tcp_time_wait: unit(parseDuration).optional(),
  tcp_close: unit(parseDuration).optional(),
  udp: unit(parseDuration).optional(),
  udp_stream: unit(parseDuration).optional(),
  icmp: unit(parseDuration).optional(),
  generic: unit(parseDuration).optional(),
});

export const CONNTRACK_HASHES = ['jhash', 'siphash'] as const;

const Conntrack = z.strictObject({
  /** nf_conntrack_buckets (the `hashsize` module parameter). */
  buckets: positiveSize.default(65536),
  /** nf_conntrack_max. */
  max: positiveSize.default(262144),
  /** jhash2 (kernels before 4.x…) or siphash (hash_conntrack_raw since 5.x). */
  hash: z.enum(CONNTRACK_HASHES).default('siphash'),
  /** The per-boot random seed (nf_conntrack_hash_rnd); fixed for reproducible chains. */
  seed: z.number().int().nonnegative().default(0),
  timeouts: Timeouts.prefault({}),
});

/**
 * How packets spread over the simulated cores: src/cores/dispatch.ts's policies, plus the older
 * names `source-ip` (= src-ip) and `single` (= single-queue).
 */
export const DISPATCH_POLICIES = ['rss', 'rss-symmetric', 'round-robin', 'src-ip', 'source-ip', 'single-queue', 'single'] as const;

const Cores = z.strictObject({
  /** Simulated cores (RSS queues). */
  count: positiveSize.default(4),
  policy: z.enum(DISPATCH_POLICIES).default('rss'),
  // The RSS key is the dispatch model's (Microsoft key; the symmetric one for rss-symmetric): it takes no other.
});

/** What a point measures; the runner reports each as a metric (unit and direction fixed here). */
export const MEASUREMENTS = {
  'ns-per-packet': { unit: 'ns', direction: 'lower' },
  'packets-per-second': { unit: 'pps', direction: 'higher' },
  'chain-length': { unit: 'entries', direction: 'lower' },
  'rules-evaluated': { unit: 'rules', direction: 'lower' },
  'classify-steps': { unit: 'steps', direction: 'lower' },
  'shaped-rate': { unit: 'bit/s', direction: 'higher' },
  'core-load': { unit: 'share', direction: 'lower' },
  drops: { unit: 'packets', direction: 'lower' },
} as const satisfies Record<string, { unit: string; direction: 'higher' | 'lower' }>;
export type MeasurementName = keyof typeof MEASUREMENTS;
const measurementNames = Object.keys(MEASUREMENTS) as [MeasurementName, ...MeasurementName[]];

export const ScenarioSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, 'lowercase letters, digits, ".", "_" and "-" (it names the results file)'),
  description: z.string().default(''),
  trace: Trace,
  ruleset: Ruleset.optional(),
  tc: Tc.optional(),
  conntrack: Conntrack.prefault({}),
  /** Which hooks the packets traverse (src/rules/traverse.ts): routed through the box by default. */
  path: z.enum(PATHS).default('forward'),
  cores: Cores.prefault({}),
  /** Worker threads of the pool (real threads; cores above are simulated). */
  workers: positiveSize.default(1),
  /** Packets per PacketBatch. */
  batch: positiveSize.default(4096),
  measurements: z.array(z.enum(measurementNames)).min(1).default(['ns-per-packet', 'packets-per-second']),
  /** Samples per point (each a full replay) and unmeasured warm-up replays before them. */
  repeat: positiveSize.default(5),
  warmup: size.default(1),
  /** Axis (dotted path or alias, see SWEEP_ALIASES) → the values it takes. */
  sweep: z.record(z.string(), z.array(z.unknown()).min(1, 'a sweep axis needs at least one value')).default({}),
});

/** A scenario after validation (units resolved, defaults filled). */
export type ScenarioConfig = z.output<typeof ScenarioSchema>;

/** Short sweep axis names for the knobs people sweep most. */
export const SWEEP_ALIASES: Readonly<Record<string, string>> = {
  buckets: 'conntrack.buckets',
  max: 'conntrack.max',
  hash: 'conntrack.hash',
  htsize: 'tc.fwBuckets',
  classes: 'tc.generate.classes',
  cores: 'cores.count',
  policy: 'cores.policy',
  workers: 'workers',
  batch: 'batch',
  pattern: 'trace.generate.pattern',
  flows: 'trace.generate.flows',
  pps: 'trace.generate.pps',
  established: 'ruleset.generate.established',
  ruleset: 'ruleset.file',
};

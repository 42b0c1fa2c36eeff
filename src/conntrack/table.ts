/**
 * The connection table of net/netfilter/nf_conntrack_core.c over typed arrays.
 *
 * One hash table of `buckets` chain heads; every connection owns two nodes (node = 2 * id + dir,
 * ORIGINAL = 0, REPLY = 1), each linked at the head of its own tuple's chain
 * (`__nf_conntrack_hash_insert`). Per connection the model keeps 58 bytes (IPv4): a 40-byte
 * record in `nodes` (per node: next link, first source and destination address words, ports, and
 * one word of the connection: expiry in the ORIGINAL node, l3/protocol in the REPLY node), so that
 * a chain walk touches one record per node instead of several arrays; plus status, protocol
 * state, mark, one protocol word and the two TCP window ends in their own arrays. The hash is not
 * stored: like the kernel's hlist_nulls nodes, a node holds its tuple, and the rare operations that
 * need its bucket (unlink on delete or NAT) hash the tuple again. IPv6 connections add 48 bytes in
 * a side array allocated on the first IPv6 entry. No object per entry, nothing allocated per
 * packet (the arrays double in size when they fill, up to `max`).
 *
 * Time is a wrapping 32-bit millisecond stamp, compared as the kernel compares jiffies
 * (`nf_ct_is_expired`: (s32)(timeout - now) <= 0).
 *
 * The heads and node records live in the memory of a WebAssembly chain walk (chain-walk.ts) where
 * the host has one, so that a run of lookups prepared ahead can be walked there (lookupRun) and
 * each result taken at its packet while it stands (takeWalk); find() stays the JavaScript walk.
 */
import { ChainWalk } from './chain-walk.js';
import { NAT_STATUS_DST, NAT_STATUS_SRC, type ConntrackView } from './view.js';
import { TcpState, Timeouts } from './timeouts.js';
import { HASH_RUN_CAPACITY, HASH_RUN_RECORD_WORDS, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, icmpReplyType, putTupleRecord, reciprocalScale, TupleHasher, type HashAlgorithm } from './tuple.js';

/**
 * End of a chain (and "no entry"). The chain arrays are Int32Arrays so that node numbers, tuple
 * words and stamps stay int32 on the per-packet path: V8 compiles int32 loads, compares and index
 * arithmetic to plain machine instructions, while a u32 above 2^31 takes a float or checked path.
 */
export const NO_NODE = -1;
/**
 * lookupRun's result for a tuple it leaves to find() (IPv6, or an expired node on the way), and
 * takeWalk's for a result that no longer stands.
 */
export const WALK_UNDECIDED = -2;
const EMPTY = new Int32Array(0);

/** What a protocol handler tells the core (the sign convention of nf_conntrack_handle_packet). */
export const enum PacketResult {
  /** NF_ACCEPT: the packet belongs to the entry. */
  ACCEPT = 0,
  /** -NF_ACCEPT: the packet is INVALID and leaves the entry alone (counted `invalid`). */
  INVALID = 1,
  /** -NF_REPEAT: the entry was closed; kill it and look the packet up again (TCP reopen). */
  REPEAT = 2,
}
export type PacketResultValue = PacketResult;

/** Bits of `status` (a subset of enum ip_conntrack_status, renumbered to fit a byte). */
export const enum CtStatus {
  IN_USE = 1,
  CONFIRMED = 2,
  SEEN_REPLY = 4,
  ASSURED = 8,
  /** IPS_SRC_NAT / IPS_DST_NAT: nf_nat_setup_info changed the tuple. */
  SRC_NAT = 16,
  DST_NAT = 32,
}

/**
 * Layout of `ConntrackTable.nodes`: NODE_WORDS int32 per node, node n at n * NODE_WORDS, so the
 * two nodes of connection c share the record at c * CONN_WORDS. A const enum, so that tsc writes
 * the numbers into the code: V8 reads a module-level constant from its cell at every use (a load
 * and a hole check, and no constant folding of `n * NODE_WORDS`): with overflow-checked index
 * arithmetic it cost the prepared lookup about an eighth of its time.
 */
const enum NodeLayout {
  NODE_WORDS = 5,
  CONN_WORDS = 10,
  /** Word offsets inside a node: next node of the chain, first source and destination words. */
  NEXT = 0,
  SRC = 1,
  DST = 2,
  /** sport << 16 | dport of the node's tuple. */
  PORTS = 3,
  /** Connection words inside the record: expiry (ORIGINAL node's last word), l3 << 8 | proto (REPLY node's). */
  EXPIRES = 4,
  META = 9,
}

const enum Walk {
  /** Bucket groups of ConntrackTable.groupGeneration (a power of two) and the mask that picks one. */
  GROUPS = 4096,
  GROUP_MASK = 4095,
  /**
   * How long (ms of trace time) a lookupRun result may wait for its packet. An expiry moved
   * earlier by a refresh of at least this timeout cannot pass before then, so only shorter ones
   * (none of the kernel's defaults) need their chains' groups marked changed (see refresh).
   */
  HORIZON_MS = 1000,
  /** Nodes per chain that `warm` touches ahead of the lookups (chains are ~1-6 nodes at sane sizes). */
  WARM_DEPTH = 2,
  /** Nodes-visited histogram size (the last slot counts everything longer). */
  HISTOGRAM_SLOTS = 257,
}
/** Walk.HISTOGRAM_SLOTS for other modules (formats and merges of the histogram). */
export const VISIT_HISTOGRAM_SLOTS: number = Walk.HISTOGRAM_SLOTS;

/** NF_CT_EVICTION_RANGE: buckets early_drop scans. */
export const EVICTION_RANGE = 8;
/** __nf_conntrack_confirm's chain limit: MIN_CHAINLEN + random below MAX_CHAINLEN. */
export const MIN_CHAINLEN = 50;
export const MAX_CHAINLEN = 30;
/** gc_worker bounds (ms): first run after 1 s, then the mean remaining lifetime clamped to [1 s, 60 s]. */
export const GC_SCAN_INTERVAL_MIN_MS = 1000;
export const GC_SCAN_INTERVAL_MAX_MS = 60_000;
export const GC_SCAN_INTERVAL_CLAMP_MS = 300_000;

export interface ConntrackConfig {
  /** nf_conntrack_buckets (rounded up to a multiple of 512 as nf_ct_alloc_hashtable does). */
  buckets: number;
  /** nf_conntrack_max. */
  max: number;
  hash: HashAlgorithm;
  seed: number;
  zone: number;
  timeouts: Timeouts;
  /** nf_conntrack_tcp_loose (default 1). */
  tcpLoose: boolean;
  /** nf_conntrack_tcp_be_liberal (default 0; the model tracks no windows, see proto-tcp.ts). */
  tcpBeLiberal: boolean;
}

/** nf_ct_alloc_hashtable rounds the size up to PAGE_SIZE / sizeof(struct hlist_nulls_head) = 512. */
export function roundBuckets(n: number): number {
  return Math.ceil(n / 512) * 512;
}

/**
 * Default nf_conntrack_buckets and nf_conntrack_max from `nf_conntrack_init_start` for a 64-bit
 * host with `ramBytes` of usable memory. `era` 'current' is v5.15+, 'old' up to v5.14.
 */
export function defaultSizing(ramBytes: number, era: 'current' | 'old' = 'current'): { buckets: number; max: number } {
  const GiB = 1024 * 1024 * 1024;
  let buckets = Math.floor(ramBytes / 16384 / 8);
  if (ramBytes > 4 * GiB) buckets = era === 'current' ? 262144 : 65536;
  else if (ramBytes > GiB) buckets = era === 'current' ? 65536 : 16384;
  buckets = Math.max(buckets, era === 'current' ? 1024 : 32);
  buckets = roundBuckets(buckets);
  return { buckets, max: (era === 'current' ? 1 : 4) * buckets };
}

export interface ConntrackOptions {
  buckets?: number;
  max?: number;
  hash?: HashAlgorithm;
  seed?: number;
  zone?: number;
  timeouts?: Timeouts;
  tcpLoose?: boolean;
  tcpBeLiberal?: boolean;
}

/** Host the defaults describe: a 64-bit box with more than 4 GiB (262144 buckets, max 262144). */
export const DEFAULT_BUCKETS = 262144;

/**
 * Fills in the kernel's defaults: without `buckets`, the current kernel's size for a > 4 GiB host
 * and max = buckets; with `buckets` (as the hashsize module parameter) max = 8 x buckets.
 */
export function resolveConfig(o: ConntrackOptions = {}): ConntrackConfig {
  const buckets = roundBuckets(o.buckets ?? DEFAULT_BUCKETS);
  return {
    buckets,
    max: o.max ?? (o.buckets === undefined ? buckets : 8 * buckets),
    hash: o.hash ?? 'siphash',
    seed: o.seed ?? 1,
    zone: o.zone ?? 0,
    timeouts: o.timeouts ?? new Timeouts(),
    tcpLoose: o.tcpLoose ?? true,
    tcpBeLiberal: o.tcpBeLiberal ?? false,
  };
}

/** `conntrack -S` counters (struct ip_conntrack_stat) and the model's own. */
export class ConntrackStats {
  found = 0;
  invalid = 0;
  insert = 0;
  insertFailed = 0;
  drop = 0;
  earlyDrop = 0;
  error = 0;
  searchRestart = 0;
  clashResolve = 0;
  chainTooLong = 0;
  // The model's own.
  lookups = 0;
  nodesVisited = 0;
  maxVisited = 0;
  readonly visitHistogram = new Float64Array(Walk.HISTOGRAM_SLOTS);
  created = 0;
  confirmed = 0;
  expired = 0;
  gcRuns = 0;
  gcEarlyDropped = 0;
  laterFragments = 0;
  untracked = 0;
  notIp = 0;
}

export class ConntrackTable implements ConntrackView {
  readonly buckets: number;
  readonly max: number;
  readonly hasher: TupleHasher;
  readonly timeouts: Timeouts;
  readonly tcpLoose: boolean;
  readonly tcpBeLiberal: boolean;
  readonly stats = new ConntrackStats();
  /** nf_conntrack_count: allocated entries, unconfirmed ones included. */
  count = 0;
  /** Chain heads, one per bucket (a view of the walk kernel's memory where there is one: replaced when it grows). */
  heads: Int32Array;
  /**
   * Per group of buckets (bucket & Walk.GROUP_MASK), a count of every change a walk of one of its
   * chains could have seen: a node linked or unlinked there, an expiry moved earlier for a
   * connection with a node there. A lookupRun result stands while its group's count is unchanged
   * (takeWalk). Groups, not single buckets, keep this array small (in cache); a change elsewhere
   * in the group only makes a walk be done again.
   */
  private readonly groupGeneration = new Int32Array(Walk.GROUPS);
  /** The chain walk in WebAssembly, holding `heads` and `nodes` (null: plain arrays, walks in JavaScript). */
  private walk: ChainWalk | null = null;
  /** What lookupRun's warming loads summed to (kept so that they are not optimised away). */
  warmSum = 0;
  /** takeWalk calls whose result stood, and those that left the lookup to find(). */
  walksTaken = 0;
  walksRedone = 0;

  capacity = 0;
  // Per connection (arrays are replaced when the table grows; read them through the table).
  status = new Uint8Array(0);
  /** TCP: TcpState. */
  protoState = new Uint8Array(0);
  /**
   * Per node (NodeLayout.NODE_WORDS words, see NodeLayout): the next node in its chain (NO_NODE ends it; for free
   * entries, the free list), first source and destination address words, ports; per connection
   * (NodeLayout.EXPIRES, NodeLayout.META): expiry stamp and l3 << 8 | proto. Words are stored as int32 (the same
   * 32 bits); the accessors below give them back as u32.
   */
  nodes: Int32Array = new Int32Array(0);
  mark = new Uint32Array(0);
  /** Protocol word: UDP stream_ts; TCP last index/dir and flags (proto-tcp.ts). */
  aux = new Uint32Array(0);
  /** TCP, per node (direction): td_end of that direction's sender (tcp_in_window's seen[dir].td_end). */
  tdEnd = new Uint32Array(0);
  /** IPv6 only: per node, address words 1..3 of source then destination. */
  ext: Uint32Array | null = null;

  private freeHead = NO_NODE;
  /**
   * The entry alloc() made last and the hash of its ORIGINAL tuple: confirm() reuses it instead of
   * hashing the tuple again (NAT rewrites only the reply tuple; one hash fewer per new connection).
   */
  private allocatedConn = NO_NODE;
  private allocatedHash = 0;
  private highWater = 0;
  private rng: number;
  private nextGcMs = -1;
  private gcEarlyDrop = false;

  // The packet's tuple, set by setTuple (plain fields: no allocation per packet). Address and
  // port words are kept as int32 (the same 32 bits as the u32 node words, compared with `| 0`).
  pl3 = 4; pproto = 0;
  ps0 = 0; ps1 = 0; ps2 = 0; ps3 = 0;
  pd0 = 0; pd1 = 0; pd2 = 0; pd3 = 0;
  psport = 0; pdport = 0;
  /** psport << 16 | pdport (int32) and pl3 << 8 | pproto, as the node records store them. */
  pports = 0; pmeta = 0;

  constructor(config: ConntrackConfig) {
    if (!Number.isInteger(config.buckets) || config.buckets < 1 || config.buckets > 1 << 26) throw new RangeError(`buckets must be 1..67108864, got ${config.buckets}`);
    if (!Number.isInteger(config.max) || config.max < 1 || config.max > 1 << 26) throw new RangeError(`max must be 1..67108864, got ${config.max}`);
    this.buckets = roundBuckets(config.buckets);
    this.max = config.max;
    this.hasher = new TupleHasher(config.hash, config.seed, config.zone);
    this.timeouts = config.timeouts;
    this.tcpLoose = config.tcpLoose;
    this.tcpBeLiberal = config.tcpBeLiberal;
    if (ChainWalk.available) {
      try {
        this.walk = new ChainWalk(this.buckets, 0, this.max * NodeLayout.CONN_WORDS, this.hasher);
      } catch (e) {
        // No memory for it (a huge table): plain arrays.
        if (!(e instanceof RangeError)) throw e;
      }
    }
    this.heads = (this.walk ? this.walk.heads : new Int32Array(this.buckets)).fill(NO_NODE);
    this.rng = (config.seed ^ 0x9e3779b9) >>> 0 || 1;
    this.grow(Math.min(this.max, 4096));
  }

  // --- tuples --------------------------------------------------------------------------------

  /**
   * Sets the packet's tuple and returns its raw hash (hash_conntrack_raw) as an int32. Address
   * words may be given as u32 or int32; callers on the per-packet path pass `| 0` values so that
   * nothing is boxed on the way in.
   */
  setTuple(l3: number, proto: number, s0: number, s1: number, s2: number, s3: number, d0: number, d1: number, d2: number, d3: number, sport: number, dport: number): number {
    this.loadTuple(l3, proto, s0, s1, s2, s3, d0, d1, d2, d3, sport, dport);
    return this.hasher.hashInt32(l3, proto, s0, s1, s2, s3, d0, d1, d2, d3, sport, dport);
  }

  /** setTuple without the hash, for a packet whose hash was computed ahead (ConntrackInStage.prepare). */
  loadTuple(l3: number, proto: number, s0: number, s1: number, s2: number, s3: number, d0: number, d1: number, d2: number, d3: number, sport: number, dport: number): void {
    this.pl3 = l3; this.pproto = proto;
    this.ps0 = s0 | 0; this.ps1 = s1 | 0; this.ps2 = s2 | 0; this.ps3 = s3 | 0;
    this.pd0 = d0 | 0; this.pd1 = d1 | 0; this.pd2 = d2 | 0; this.pd3 = d3 | 0;
    this.psport = sport; this.pdport = dport;
    this.pports = (sport << 16) | dport;
    this.pmeta = (l3 << 8) | proto;
  }

  /**
   * Touches the chains of `count` raw hashes, walking them in lockstep (the first node of every
   * chain, then the second of every chain that goes on, up to Walk.WARM_DEPTH nodes), so that the
   * lookups that follow find bucket heads and node records in cache. One lookup's loads depend on
   * each other (bucket, node, next node) and stall one after the other; the lockstep walk's loads
   * in one pass are independent and overlap. Reads only; returns a value computed from every load
   * so that the compiler keeps them. `cursor` is scratch space of at least `count` entries.
   */
  warm(hashes: Int32Array, count: number, cursor: Int32Array): number {
    const buckets = this.buckets;
    const table = this.heads;
    // Bucket indexes first, then the head loads in a loop of their own: the smaller the loop
    // body, the more of its loads the CPU keeps in flight at once.
    for (let k = 0; k < count; k++) cursor[k] = reciprocalScale(hashes[k]!, buckets);
    for (let k = 0; k < count; k++) cursor[k] = table[cursor[k]!]!;
    const nodes = this.nodes;
    let sum = 0;
    // Index arithmetic in Math.imul and `| 0`: int32 without overflow checks, so that the loop
    // body stays short and more iterations' loads fit the CPU's reorder window.
    for (let depth = 0; depth < Walk.WARM_DEPTH; depth++) {
      for (let k = 0; k < count; k++) {
        const n = cursor[k]!;
        if (n < 0) continue;
        // The connection record's first and last words: a 40-byte record may straddle two lines.
        const cb = Math.imul(n & ~1, NodeLayout.NODE_WORDS);
        sum = (sum + nodes[cb]! + nodes[(cb + NodeLayout.META) | 0]!) | 0;
        cursor[k] = nodes[Math.imul(n, NodeLayout.NODE_WORDS)]!;
      }
    }
    return sum;
  }

  /** Raw hash of node n's tuple, as an int32 (see setTuple). */
  hashNode(n: number): number {
    const c = n >>> 1;
    const e = this.ext;
    const x = n * 6;
    const l3 = this.l3Of(c);
    const six = l3 === 6 && e !== null;
    const b = n * NodeLayout.NODE_WORDS;
    const ports = this.nodes[b + NodeLayout.PORTS]!;
    return this.hasher.hashInt32(l3, this.protoOf(c),
      this.nodes[b + NodeLayout.SRC]!, six ? e[x]! : 0, six ? e[x + 1]! : 0, six ? e[x + 2]! : 0,
      this.nodes[b + NodeLayout.DST]!, six ? e[x + 3]! : 0, six ? e[x + 4]! : 0, six ? e[x + 5]! : 0,
      ports >>> 16, ports & 0xffff);
  }

  /** Layer 3 of connection c: 4 or 6. */
  l3Of(c: number): number {
    return this.nodes[c * NodeLayout.CONN_WORDS + NodeLayout.META]! >>> 8;
  }

  /** IP protocol number of connection c. */
  protoOf(c: number): number {
    return this.nodes[c * NodeLayout.CONN_WORDS + NodeLayout.META]! & 0xff;
  }

  /** The node after n in its chain (NO_NODE at the end). */
  nextOf(n: number): number {
    return this.nodes[n * NodeLayout.NODE_WORDS + NodeLayout.NEXT]!;
  }

  /** First word of node n's source address (the whole IPv4 address). */
  srcOf(n: number): number {
    return this.nodes[n * NodeLayout.NODE_WORDS + NodeLayout.SRC]! >>> 0;
  }

  /** First word of node n's destination address. */
  dstOf(n: number): number {
    return this.nodes[n * NodeLayout.NODE_WORDS + NodeLayout.DST]! >>> 0;
  }

  /** sport << 16 | dport of node n's tuple (ICMP: id << 16 | type << 8 | code). */
  portsOf(n: number): number {
    return this.nodes[n * NodeLayout.NODE_WORDS + NodeLayout.PORTS]! >>> 0;
  }

  isExpired(c: number, nowMs: number): boolean {
    return ((this.nodes[c * NodeLayout.CONN_WORDS + NodeLayout.EXPIRES]! - nowMs) | 0) <= 0;
  }

  /** Milliseconds left before connection c expires (0 when expired). */
  remainingMs(c: number, nowMs: number): number {
    const d = (this.nodes[c * NodeLayout.CONN_WORDS + NodeLayout.EXPIRES]! - nowMs) | 0;
    return d > 0 ? d : 0;
  }

  refresh(c: number, nowMs: number, timeoutMs: number): void {
    const at = c * NodeLayout.CONN_WORDS + NodeLayout.EXPIRES;
    const expires = (nowMs + timeoutMs) | 0;
    // Earlier than before, and soon enough to pass while a lookupRun result waits (Walk.HORIZON_MS):
    // a walk that saw the connection alive may no longer stand. Rare (timeouts under a second);
    // rehashing its tuples finds their chains' groups.
    if (timeoutMs < Walk.HORIZON_MS && ((expires - this.nodes[at]!) | 0) < 0 && this.isConfirmed(c)) {
      this.changed(reciprocalScale(this.hashNode(2 * c), this.buckets));
      this.changed(reciprocalScale(this.hashNode(2 * c + 1), this.buckets));
    }
    this.nodes[at] = expires;
  }

  // --- lookup --------------------------------------------------------------------------------

  /**
   * ____nf_conntrack_find: walks the chain of the packet tuple's bucket, reaping expired entries
   * met on the way, and returns the matching node or NO_NODE. Counts the nodes visited.
   */
  find(hash: number, nowMs: number): number {
    let n = this.heads[reciprocalScale(hash, this.buckets)]!;
    let visited = 0;
    let found = NO_NODE;
    // One record per node: the walk reads next, the tuple's first words and the connection's
    // expiry from the same cache line(s) (nf_ct_key_equal order aside, the result is the same).
    // Node numbers are >= 0 (NO_NODE is -1); index arithmetic as in warm().
    const nodes = this.nodes;
    const src0 = this.ps0, dst0 = this.pd0, ports = this.pports, meta = this.pmeta;
    while (n >= 0) {
      visited++;
      const b = Math.imul(n, NodeLayout.NODE_WORDS);
      const cb = Math.imul(n & ~1, NodeLayout.NODE_WORDS);
      let nx = nodes[b]!; // NodeLayout.NEXT
      if (((nodes[(cb + NodeLayout.EXPIRES) | 0]! - nowMs) | 0) <= 0) {
        nx = this.reapExpired(n, nx);
      } else if (nodes[(b + NodeLayout.SRC) | 0] === src0 && nodes[(b + NodeLayout.DST) | 0] === dst0 && nodes[(b + NodeLayout.PORTS) | 0] === ports &&
        nodes[(cb + NodeLayout.META) | 0] === meta && (meta >>> 8 !== 6 || this.extEqual(n))) {
        found = n;
        break;
      }
      n = nx;
    }
    this.countLookup(visited);
    return found;
  }

  /** Counts a lookup that walked `visited` nodes (find, and takeWalk for a walk done ahead). */
  private countLookup(visited: number): void {
    const s = this.stats;
    s.lookups++;
    s.nodesVisited += visited;
    if (visited > s.maxVisited) s.maxVisited = visited;
    s.visitHistogram[visited < Walk.HISTOGRAM_SLOTS - 1 ? visited : Walk.HISTOGRAM_SLOTS - 1]!++;
  }

  /** Where setRunTuple puts the next run's tuples (the walk kernel's memory, else the hasher's). */
  get runRecords(): Int32Array {
    return this.walk ? this.walk.runRecords : this.hasher.runInput;
  }

  /** Puts tuple k of the next run (lookupRun) in place, as TupleHasher.setRunTuple does. */
  setRunTuple(k: number, l3: number, proto: number, s0: number, s1: number, s2: number, s3: number, d0: number, d1: number, d2: number, d3: number, sport: number, dport: number): void {
    putTupleRecord(this.runRecords, Math.imul(k, HASH_RUN_RECORD_WORDS), l3, proto, s0, s1, s2, s3, d0, d1, d2, d3, sport, dport);
  }

  /**
   * hash_conntrack_raw and ____nf_conntrack_find for a run of tuples at once, for
   * ConntrackInStage.prepare: the first `count` tuples put with setRunTuple are hashed into
   * runHashes (hashInt32 of each) and, where the table has the walk kernel (chain-walk.wat, in the
   * same memory), their chains walked with the clock at `nowMs`: per tuple k, walkNode[k] (the
   * node, NO_NODE, or WALK_UNDECIDED), walkVisited[k], walkExpiry[k] (the walked node that
   * expires first) and walkBucket[k]: what takeWalk needs, with walkGeneration(bucket) at this
   * call. Counts nothing (takeWalk does, as find would). Returns whether it walked (false: hashes
   * only; warm() is the way there).
   */
  lookupRun(count: number, nowMs: number): boolean {
    if (count > HASH_RUN_CAPACITY) throw new RangeError(`lookupRun takes at most ${HASH_RUN_CAPACITY} tuples, got ${count}`);
    const walk = this.walk;
    if (walk === null) {
      this.hasher.hashRun(count);
      return false;
    }
    this.warmSum = (this.warmSum + walk.lookupRun(count, nowMs)) | 0;
    return true;
  }

  /** lookupRun's hashes and results (views: valid until the next lookupRun or grow). */
  get runHashes(): Int32Array {
    return this.walk ? this.walk.runHashes : this.hasher.runHashes;
  }
  get walkNode(): Int32Array {
    return this.walk ? this.walk.runNode : EMPTY;
  }
  get walkVisited(): Int32Array {
    return this.walk ? this.walk.runVisited : EMPTY;
  }
  get walkExpiry(): Int32Array {
    return this.walk ? this.walk.runExpiry : EMPTY;
  }
  get walkBucket(): Int32Array {
    return this.walk ? this.walk.runBucket : EMPTY;
  }

  /** The change count of the group of `bucket` (see takeWalk). */
  walkGeneration(bucket: number): number {
    return this.groupGeneration[bucket & Walk.GROUP_MASK]!;
  }

  /**
   * A lookupRun result for a tuple of `bucket` taken as find(hash, nowMs) would return it now,
   * counted as find counts. It stands when nothing the walk saw has changed since (`generation`,
   * walkGeneration(bucket) then, is what it is now), no node it walked has expired by `nowMs` (the
   * first to expire has not) and it is younger than Walk.HORIZON_MS (`ageMs`: trace time since
   * lookupRun, from the caller's unwrapped clock), within which an expiry moved earlier cannot
   * pass unless refresh marked it. The clock must not go back (nor for any refresh in between).
   * WALK_UNDECIDED when it does not stand (or was undecided): load the tuple and call find().
   */
  takeWalk(node: number, visited: number, expiry: number, generation: number, bucket: number, ageMs: number, nowMs: number): number {
    if (node === WALK_UNDECIDED || !(ageMs < Walk.HORIZON_MS) || generation !== this.walkGeneration(bucket) || ((expiry - nowMs) | 0) <= 0) {
      this.walksRedone++;
      return WALK_UNDECIDED;
    }
    this.walksTaken++;
    this.countLookup(visited);
    return node;
  }

  /**
   * nf_ct_gc_expired during a walk: kills node n's expired connection and returns the node the
   * walk goes on with (past n's sibling when it comes next). Out of line, so that find() stays
   * small enough for V8 to inline into the per-packet loops.
   */
  private reapExpired(n: number, next: number): number {
    const nx = next !== NO_NODE && next >>> 1 === n >>> 1 ? this.nodes[next * NodeLayout.NODE_WORDS + NodeLayout.NEXT]! : next;
    this.kill(n >>> 1);
    this.stats.expired++;
    return nx;
  }

  // --- allocation, confirmation, deletion ----------------------------------------------------

  /**
   * init_conntrack + __nf_conntrack_alloc: a new unconfirmed entry for the packet's tuple (the
   * reply tuple inverted; ICMP maps the type). When the table is full, early_drop runs first;
   * NO_NODE (and `drop` counted) when it finds nothing to evict.
   */
  /** IPv6: node n's address words 1..3 equal the packet's (nf_ct_tuple_equal, the rest). */
  private extEqual(n: number): boolean {
    const e = this.ext;
    if (e === null) return false;
    const x = n * 6;
    return (e[x]! | 0) === this.ps1 && (e[x + 1]! | 0) === this.ps2 && (e[x + 2]! | 0) === this.ps3 &&
      (e[x + 3]! | 0) === this.pd1 && (e[x + 4]! | 0) === this.pd2 && (e[x + 5]! | 0) === this.pd3;
  }

  alloc(hash: number, nowMs: number): number {
    if (this.count >= this.max) {
      if (!this.earlyDrop(hash, nowMs)) {
        this.gcEarlyDrop = true;
        this.stats.drop++;
        return NO_NODE;
      }
    }
    let c = this.freeHead;
    if (c !== NO_NODE) {
      this.freeHead = this.nodes[c * NodeLayout.CONN_WORDS + NodeLayout.NEXT]!;
    } else {
      if (this.highWater === this.capacity) this.grow(Math.min(this.max, this.capacity * 2));
      c = this.highWater++;
    }
    this.count++;
    this.stats.created++;
    const l3 = this.pl3;
    const proto = this.pproto;
    this.status[c] = CtStatus.IN_USE;
    this.protoState[c] = 0;
    this.mark[c] = 0;
    this.aux[c] = 0;
    const o = 2 * c;
    const r = o + 1;
    const nodes = this.nodes;
    const bo = o * NodeLayout.NODE_WORDS;
    const br = r * NodeLayout.NODE_WORDS;
    nodes[bo + NodeLayout.EXPIRES] = nowMs | 0;
    nodes[c * NodeLayout.CONN_WORDS + NodeLayout.META] = (l3 << 8) | proto;
    nodes[bo + NodeLayout.SRC] = this.ps0; nodes[bo + NodeLayout.DST] = this.pd0;
    nodes[br + NodeLayout.SRC] = this.pd0; nodes[br + NodeLayout.DST] = this.ps0;
    nodes[bo + NodeLayout.PORTS] = (this.psport << 16) | this.pdport;
    if (proto === IPPROTO_ICMP || proto === IPPROTO_ICMPV6) {
      const type = icmpReplyType(l3, this.pdport >>> 8);
      nodes[br + NodeLayout.PORTS] = (this.psport << 16) | ((type & 0xff) << 8) | (this.pdport & 0xff);
    } else {
      nodes[br + NodeLayout.PORTS] = (this.pdport << 16) | this.psport;
    }
    if (l3 === 6) {
      if (this.ext === null) this.ext = new Uint32Array(this.capacity * 12);
      const e = this.ext;
      const xo = o * 6;
      const xr = r * 6;
      e[xo] = this.ps1; e[xo + 1] = this.ps2; e[xo + 2] = this.ps3; e[xo + 3] = this.pd1; e[xo + 4] = this.pd2; e[xo + 5] = this.pd3;
      e[xr] = this.pd1; e[xr + 1] = this.pd2; e[xr + 2] = this.pd3; e[xr + 3] = this.ps1; e[xr + 4] = this.ps2; e[xr + 5] = this.ps3;
    }
    nodes[bo + NodeLayout.NEXT] = NO_NODE;
    nodes[br + NodeLayout.NEXT] = NO_NODE;
    this.allocatedConn = c;
    this.allocatedHash = hash;
    return c;
  }

  /**
   * __nf_conntrack_confirm: checks both chains for an equal tuple (a clash) and against the random
   * chain limit, then links both nodes at the heads of their chains. False (entry freed,
   * insert_failed and drop or chaintoolong counted) when it may not be inserted.
   */
  confirm(c: number): boolean {
    const o = 2 * c;
    const r = o + 1;
    const nodes = this.nodes;
    const hash = c === this.allocatedConn ? this.allocatedHash : this.hashNode(o);
    const replyHash = this.hashNode(r);
    const maxChain = MIN_CHAINLEN + this.random(MAX_CHAINLEN);
    for (let dir = 0; dir < 2; dir++) {
      const self = o + dir;
      let n = this.heads[reciprocalScale(dir === 0 ? hash : replyHash, this.buckets)]!;
      let chainLen = 0;
      while (n !== NO_NODE) {
        if (this.sameTuple(n, self)) {
          // A clash: the kernel resolves some for UDP (nf_ct_resolve_clash); the model drops.
          this.stats.insertFailed++;
          this.stats.drop++;
          this.discard(c);
          return false;
        }
        if (chainLen++ > maxChain) {
          this.stats.chainTooLong++;
          this.stats.insertFailed++;
          this.stats.drop++;
          this.discard(c);
          return false;
        }
        n = nodes[n * NodeLayout.NODE_WORDS + NodeLayout.NEXT]!;
      }
    }
    this.link(o, hash);
    this.link(r, replyHash);
    this.status[c] = this.status[c]! | CtStatus.CONFIRMED;
    this.stats.confirmed++;
    return true;
  }

  private sameTuple(a: number, b: number): boolean {
    const ca = a >>> 1;
    const cb = b >>> 1;
    const nodes = this.nodes;
    const ba = a * NodeLayout.NODE_WORDS;
    const bb = b * NodeLayout.NODE_WORDS;
    if (nodes[ba + NodeLayout.SRC] !== nodes[bb + NodeLayout.SRC] || nodes[ba + NodeLayout.DST] !== nodes[bb + NodeLayout.DST] || nodes[ba + NodeLayout.PORTS] !== nodes[bb + NodeLayout.PORTS]) return false;
    const meta = nodes[ca * NodeLayout.CONN_WORDS + NodeLayout.META]!;
    if (meta !== nodes[cb * NodeLayout.CONN_WORDS + NodeLayout.META]) return false;
    if (meta >>> 8 === 6) {
      const e = this.ext!;
      for (let k = 0; k < 6; k++) if (e[a * 6 + k] !== e[b * 6 + k]) return false;
    }
    return true;
  }

  /** Bucket b's chain changed: walks of its group done before no longer stand. */
  private changed(b: number): void {
    this.groupGeneration[b & Walk.GROUP_MASK]!++;
  }

  private link(n: number, hash: number): void {
    const nodes = this.nodes;
    const b = reciprocalScale(hash, this.buckets);
    this.changed(b);
    nodes[n * NodeLayout.NODE_WORDS + NodeLayout.NEXT] = this.heads[b]!;
    this.heads[b] = n;
  }

  /** Takes node n out of its chain; its bucket comes from hashing its tuple again. */
  private unlink(n: number): void {
    const nodes = this.nodes;
    const b = reciprocalScale(this.hashNode(n), this.buckets);
    this.changed(b);
    let p = this.heads[b]!;
    if (p === n) {
      this.heads[b] = nodes[n * NodeLayout.NODE_WORDS + NodeLayout.NEXT]!;
      return;
    }
    while (p !== NO_NODE) {
      const q = nodes[p * NodeLayout.NODE_WORDS + NodeLayout.NEXT]!;
      if (q === n) {
        nodes[p * NodeLayout.NODE_WORDS + NodeLayout.NEXT] = nodes[n * NodeLayout.NODE_WORDS + NodeLayout.NEXT]!;
        return;
      }
      p = q;
    }
  }

  /** Frees an entry that was never confirmed (its packet was dropped or found invalid). */
  discard(c: number): void {
    this.release(c);
  }

  /** nf_ct_delete / nf_ct_kill: unlinks a confirmed entry and frees it. */
  kill(c: number): void {
    const st = this.status[c]!;
    if ((st & CtStatus.IN_USE) === 0) return;
    if (st & CtStatus.CONFIRMED) {
      this.unlink(2 * c);
      this.unlink(2 * c + 1);
    }
    this.release(c);
  }

  private release(c: number): void {
    if (c === this.allocatedConn) this.allocatedConn = NO_NODE;
    this.status[c] = 0;
    this.count--;
    this.nodes[c * NodeLayout.CONN_WORDS + NodeLayout.NEXT] = this.freeHead;
    this.nodes[c * NodeLayout.CONN_WORDS + NodeLayout.NODE_WORDS + NodeLayout.NEXT] = NO_NODE;
    this.freeHead = c;
  }

  isLive(c: number): boolean {
    return c < this.highWater && (this.status[c]! & CtStatus.IN_USE) !== 0;
  }

  isConfirmed(c: number): boolean {
    return (this.status[c]! & CtStatus.CONFIRMED) !== 0;
  }

  /**
   * early_drop: from the new tuple's bucket, up to EVICTION_RANGE buckets; in each, delete every
   * confirmed entry that is not ASSURED (expired ones are reaped on the way); stop at the first
   * bucket that dropped something.
   */
  private earlyDrop(hash: number, nowMs: number): boolean {
    let bucket = reciprocalScale(hash, this.buckets);
    for (let i = 0; i < EVICTION_RANGE; i++) {
      if (i > 0) bucket = (bucket + 1) % this.buckets;
      let drops = 0;
      let n = this.heads[bucket]!;
      while (n !== NO_NODE) {
        const c = n >>> 1;
        let nx = this.nextOf(n);
        const expired = this.isExpired(c, nowMs);
        if (expired || (this.status[c]! & (CtStatus.ASSURED | CtStatus.CONFIRMED)) === CtStatus.CONFIRMED) {
          if (nx !== NO_NODE && nx >>> 1 === c) nx = this.nextOf(nx);
          this.kill(c);
          if (expired) this.stats.expired++;
          else drops++;
        }
        n = nx;
      }
      if (drops > 0) {
        this.stats.earlyDrop += drops;
        return true;
      }
    }
    return false;
  }

  // --- garbage collection --------------------------------------------------------------------

  /**
   * Runs gc_worker when it is due at trace time `nowMs`. The kernel's worker scans the table in
   * slices; the model sweeps it whole at each due time, then schedules the next sweep after the
   * mean remaining lifetime (each clamped to [1 s, 300 s]) clamped to [1 s, 60 s].
   */
  maybeGc(nowMs: number): void {
    if (this.nextGcMs < 0) {
      this.nextGcMs = (nowMs + GC_SCAN_INTERVAL_MIN_MS) >>> 0;
      return;
    }
    if (((this.nextGcMs - nowMs) | 0) > 0) return;
    this.gc(nowMs);
  }

  /** One full gc_worker sweep at `nowMs`: reaps expired entries; in early-drop mode also kills evictable ones. */
  gc(nowMs: number): void {
    const s = this.stats;
    s.gcRuns++;
    const max95 = Math.floor(this.max / 100) * 95;
    const earlyDropMode = this.gcEarlyDrop;
    let sum = 0;
    let live = 0;
    for (let c = 0; c < this.highWater; c++) {
      const st = this.status[c]!;
      if ((st & CtStatus.CONFIRMED) === 0) continue;
      if (this.isExpired(c, nowMs)) {
        this.kill(c);
        s.expired++;
        continue;
      }
      if (earlyDropMode && this.count >= max95 && this.canEarlyDrop(c)) {
        this.kill(c);
        s.gcEarlyDropped++;
        continue;
      }
      const left = this.remainingMs(c, nowMs);
      sum += left < GC_SCAN_INTERVAL_MIN_MS ? GC_SCAN_INTERVAL_MIN_MS : left > GC_SCAN_INTERVAL_CLAMP_MS ? GC_SCAN_INTERVAL_CLAMP_MS : left;
      live++;
    }
    this.gcEarlyDrop = false;
    const avg = live > 0 ? sum / live : GC_SCAN_INTERVAL_MAX_MS;
    const interval = Math.min(GC_SCAN_INTERVAL_MAX_MS, Math.max(GC_SCAN_INTERVAL_MIN_MS, Math.round(avg)));
    this.nextGcMs = (nowMs + interval) >>> 0;
  }

  /** gc_worker_can_early_drop: not ASSURED, or TCP in a closing state (tcp_can_early_drop). */
  private canEarlyDrop(c: number): boolean {
    if ((this.status[c]! & CtStatus.ASSURED) === 0) return true;
    if (this.protoOf(c) !== IPPROTO_TCP) return false;
    const t = this.protoState[c]!;
    return t === TcpState.FIN_WAIT || t === TcpState.CLOSE_WAIT || t === TcpState.LAST_ACK || t === TcpState.TIME_WAIT || t === TcpState.CLOSE;
  }

  /** Reaps every entry expired at `nowMs` (what `conntrack -L` hides) without counting a gc run. */
  expireAll(nowMs: number): void {
    for (let c = 0; c < this.highWater; c++) {
      if ((this.status[c]! & CtStatus.CONFIRMED) !== 0 && this.isExpired(c, nowMs)) {
        this.kill(c);
        this.stats.expired++;
      }
    }
  }

  // --- ConntrackView -------------------------------------------------------------------------

  getMark(ctId: number): number {
    return this.isLive(ctId) ? this.mark[ctId]! : 0;
  }

  setMark(ctId: number, mark: number): void {
    if (this.isLive(ctId)) this.mark[ctId] = mark >>> 0;
  }

  setNat(ctId: number, isSource: boolean, a0: number, a1: number, a2: number, a3: number, port: number): void {
    if (!this.isLive(ctId)) return;
    const r = 2 * ctId + 1;
    const confirmed = this.isConfirmed(ctId);
    if (confirmed) this.unlink(r);
    const proto = this.protoOf(ctId);
    const icmp = proto === IPPROTO_ICMP || proto === IPPROTO_ICMPV6;
    const six = this.l3Of(ctId) === 6;
    // SNAT rewrites where replies go (reply destination), DNAT where they come from (reply source).
    const br = r * NodeLayout.NODE_WORDS;
    const slot = br + (isSource ? NodeLayout.DST : NodeLayout.SRC);
    // nf_nat_setup_info sets IPS_SRC_NAT/IPS_DST_NAT only when the binding changes the tuple.
    const before = this.nodes[slot]!;
    const beforePort = this.nodes[br + NodeLayout.PORTS]!;
    let changed = before !== (a0 | 0);
    this.nodes[slot] = a0;
    if (six && this.ext) {
      const x = r * 6 + (isSource ? 3 : 0);
      changed ||= this.ext[x] !== a1 >>> 0 || this.ext[x + 1] !== a2 >>> 0 || this.ext[x + 2] !== a3 >>> 0;
      this.ext[x] = a1 >>> 0; this.ext[x + 1] = a2 >>> 0; this.ext[x + 2] = a3 >>> 0;
    }
    if (port !== 0) {
      const p = this.nodes[br + NodeLayout.PORTS]!;
      if (icmp) this.nodes[br + NodeLayout.PORTS] = ((port & 0xffff) << 16) | (p & 0xffff); // the echo id
      else if (isSource) this.nodes[br + NodeLayout.PORTS] = (p & 0xffff0000) | (port & 0xffff);
      else this.nodes[br + NodeLayout.PORTS] = ((port & 0xffff) << 16) | (p & 0xffff);
    }
    if (changed || beforePort !== this.nodes[br + NodeLayout.PORTS]) this.status[ctId] = this.status[ctId]! | (isSource ? CtStatus.SRC_NAT : CtStatus.DST_NAT);
    if (confirmed) this.link(r, this.hashNode(r));
  }

  natStatus(ctId: number): number {
    if (!this.isLive(ctId)) return 0;
    const st = this.status[ctId]!;
    return (st & CtStatus.SRC_NAT ? NAT_STATUS_SRC : 0) | (st & CtStatus.DST_NAT ? NAT_STATUS_DST : 0);
  }

  // --- inspection ----------------------------------------------------------------------------

  /** Calls fn for every confirmed entry (ids ascending). */
  forEachConfirmed(fn: (c: number) => void): void {
    for (let c = 0; c < this.highWater; c++) if ((this.status[c]! & CtStatus.CONFIRMED) !== 0) fn(c);
  }

  /** Chain length histogram of the table: result[k] = buckets holding k nodes. */
  chainHistogram(): number[] {
    const hist: number[] = [];
    for (let b = 0; b < this.buckets; b++) {
      let len = 0;
      for (let n = this.heads[b]!; n !== NO_NODE; n = this.nextOf(n)) len++;
      while (hist.length <= len) hist.push(0);
      hist[len]!++;
    }
    return hist;
  }

  /** Bytes of per-connection arrays per connection slot (IPv4; `ext` adds 48 for IPv6). */
  static readonly BYTES_PER_CONNECTION = 1 + 1 + NodeLayout.CONN_WORDS * 4 + 4 + 4 + 8;

  /**
   * Bytes the table holds now: bucket array, the bucket-group change counts, the per-connection
   * arrays at their current capacity, and the hasher's and the walk kernel's run areas. (The walk
   * memory reserved for `max` connections takes pages from the system only as records fill it.)
   */
  memoryBytes(): number {
    return this.heads.byteLength + this.groupGeneration.byteLength + this.capacity * ConntrackTable.BYTES_PER_CONNECTION + (this.ext ? this.ext.byteLength : 0) +
      this.hasher.memoryBytes + (this.walk ? ChainWalk.runAreaBytes : 0);
  }

  private random(bound: number): number {
    // xorshift32: the kernel's get_random_u32_below, made repeatable.
    let x = this.rng;
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    this.rng = x;
    return x % bound;
  }

  private grow(capacity: number): void {
    if (capacity <= this.capacity) return;
    const copy8 = (a: Uint8Array, n: number) => { const b = new Uint8Array(n); b.set(a); return b; };
    const copy32 = (a: Uint32Array, n: number) => { const b = new Uint32Array(n); b.set(a); return b; };
    let nodes: Int32Array | null = null;
    if (this.walk) {
      try {
        // The records stay where they are (node numbers, and walks done before, stand); the views
        // are new (a grow detaches the old buffer).
        this.walk.growNodes(capacity * NodeLayout.CONN_WORDS);
        this.heads = this.walk.heads;
        nodes = this.walk.nodes;
      } catch (e) {
        if (!(e instanceof RangeError)) throw e;
        // The memory cannot grow: on with plain arrays (copies of heads and records).
        this.heads = Int32Array.from(this.walk.heads);
        this.walk = null;
      }
    }
    if (nodes === null) {
      nodes = new Int32Array(capacity * NodeLayout.CONN_WORDS);
      nodes.set(this.nodes);
    }
    this.status = copy8(this.status, capacity);
    this.protoState = copy8(this.protoState, capacity);
    this.nodes = nodes;
    this.mark = copy32(this.mark, capacity);
    this.aux = copy32(this.aux, capacity);
    this.tdEnd = copy32(this.tdEnd, capacity * 2);
    if (this.ext) this.ext = copy32(this.ext, capacity * 12);
    this.capacity = capacity;
  }
}

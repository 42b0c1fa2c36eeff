/**
 * The conntrack tuple as the kernel hashes it (include/net/netfilter/nf_conntrack_tuple.h) and
 * `hash_conntrack_raw` / `scale_hash` (net/netfilter/nf_conntrack_core.c) for both eras:
 *
 * - siphash (v6.5+): SipHash-2-4 over the tuple's first 39 bytes with key[0] ^= zone id; the low
 *   32 bits are kept;
 * - jhash2 (up to v5.14): jhash2 over the first 9 u32 words (src addr, src port + l3num, dst addr,
 *   read in x86 host order), initval = seed ^ (native dst port << 16 | protonum), seed ^= zone as
 *   in v3.x.
 *
 * The kernel's key is random per boot; the model derives it from a fixed seed so runs repeat.
 * net_hash_mix(net) is taken as 0 (one network namespace).
 *
 * Tuple fields as numbers: addresses as four big-endian words (batch.ts convention), ports in host
 * value (80 = 80). ICMP: sport = id, dport = type << 8 | code (the bytes of dst.u.icmp).
 */
import { jhash2Words9 } from '../hash/jhash.js';
import { TUPLE_HASH_WASM } from '../hash/tuple-hash-wasm.js';
import { HOST_LITTLE_ENDIAN } from '../trace/batch.js';
import { EmbeddedModule } from '../wasm.js';

export const NFPROTO_IPV4 = 2;
export const NFPROTO_IPV6 = 10;
export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_ICMPV6 = 58;
export const IPPROTO_UDPLITE = 136;

export type HashAlgorithm = 'siphash' | 'jhash';
export const DEFAULT_HASH_SEED = 1;

/** bswap32 as an int32 (no `>>> 0`): what the int32 hash entry points take without boxing. */
function bswap32i(x: number): number {
  return ((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24);
}

function bswap16(x: number): number {
  return ((x & 0xff) << 8) | ((x >>> 8) & 0xff);
}

/**
 * jhash2Words9(s, 0, 0, 0, w4, d, 0, 0, 0, initval) with the six zero words left out: the IPv4
 * tuple's hash, short enough for V8 to inline into the per-packet loops. Returns an int32.
 */
export function jhash2Ipv4Tuple(s: number, w4: number, d: number, initval: number): number {
  let x = (0xdeadbeef + 36 + initval) | 0;
  let y = x;
  let z = x;
  x = (x + s) | 0;
  x = ((x - z) | 0) ^ ((z << 4) | (z >>> 28)); z = (z + y) | 0;
  y = ((y - x) | 0) ^ ((x << 6) | (x >>> 26)); x = (x + z) | 0;
  z = ((z - y) | 0) ^ ((y << 8) | (y >>> 24)); y = (y + x) | 0;
  x = ((x - z) | 0) ^ ((z << 16) | (z >>> 16)); z = (z + y) | 0;
  y = ((y - x) | 0) ^ ((x << 19) | (x >>> 13)); x = (x + z) | 0;
  z = ((z - y) | 0) ^ ((y << 4) | (y >>> 28)); y = (y + x) | 0;
  y = (y + w4) | 0; z = (z + d) | 0;
  x = ((x - z) | 0) ^ ((z << 4) | (z >>> 28)); z = (z + y) | 0;
  y = ((y - x) | 0) ^ ((x << 6) | (x >>> 26)); x = (x + z) | 0;
  z = ((z - y) | 0) ^ ((y << 8) | (y >>> 24)); y = (y + x) | 0;
  x = ((x - z) | 0) ^ ((z << 16) | (z >>> 16)); z = (z + y) | 0;
  y = ((y - x) | 0) ^ ((x << 19) | (x >>> 13)); x = (x + z) | 0;
  z = ((z - y) | 0) ^ ((y << 4) | (y >>> 28)); y = (y + x) | 0;
  z = ((z ^ y) - ((y << 14) | (y >>> 18))) | 0;
  x = ((x ^ z) - ((z << 11) | (z >>> 21))) | 0;
  y = ((y ^ x) - ((x << 25) | (x >>> 7))) | 0;
  z = ((z ^ y) - ((y << 16) | (y >>> 16))) | 0;
  x = ((x ^ z) - ((z << 4) | (z >>> 28))) | 0;
  y = ((y ^ x) - ((x << 14) | (x >>> 18))) | 0;
  return ((z ^ y) - ((y << 24) | (y >>> 8))) | 0;
}

/**
 * reciprocal_scale(h, size) = (u32)(((u64)h * size) >> 32); h as a u32 or an int32. One multiply
 * in doubles, exact whenever h * size fits 53 significant bits, i.e. whenever the odd part of
 * `size` is below 2^21: every table size here (conntrack buckets are multiples of 512 up to 2^26,
 * RETA and CPU lists are small). One branch-free line on purpose: the lookup loops inline it, and
 * a version with a split path for other sizes cost find() ~25 ns a lookup in V8.
 */
export function reciprocalScale(hash: number, size: number): number {
  return Math.floor(((hash >>> 0) * size) / 4294967296);
}

/** Protocols whose first four L4 bytes are the ports: TCP, UDP, UDP-Lite, SCTP, DCCP. */
export function carriesPorts(proto: number): boolean {
  return proto === IPPROTO_TCP || proto === IPPROTO_UDP || proto === IPPROTO_UDPLITE || proto === 132 || proto === 33;
}

/** The ICMP reply type for a request type (icmp_invert_tuple's invmap); -1 when none. */
export function icmpReplyType(l3: number, type: number): number {
  if (l3 === 4) {
    switch (type) {
      case 8: return 0; case 0: return 8;
      case 13: return 14; case 14: return 13;
      case 15: return 16; case 16: return 15;
      case 17: return 18; case 18: return 17;
      default: return -1;
    }
  }
  switch (type) {
    case 128: return 129; case 129: return 128;
    case 139: return 140; case 140: return 139;
    default: return -1;
  }
}

/** Whether an ICMP type may create an entry (`valid_new[]` in nf_conntrack_proto_icmp/icmpv6.c). */
export function icmpMayCreate(l3: number, type: number): boolean {
  return l3 === 4 ? type === 8 || type === 13 || type === 15 || type === 17 : type === 128 || type === 139;
}

/**
 * The records tuple-hash.wat reads (a const enum: numbers in the per-packet code, see
 * PacketFlag): WORDS int32 each — source address words 0..3, destination words 0..3 (as
 * PacketBatch holds them; IPv4 uses word 0 only), sport | dport << 16, protonum | l3num << 8.
 */
const enum RunRecord {
  WORDS = 10,
  PORTS = 8,
  META = 9,
  L3NUM_IPV4 = 2 << 8,
  L3NUM_IPV6 = 10 << 8,
}
/** Tuples `TupleHasher.hashRun` takes at once. */
export const HASH_RUN_CAPACITY = 1024;
/** Words of one record of `TupleHasher.runInput` (RunRecord.WORDS, for other modules). */
export const HASH_RUN_RECORD_WORDS: number = RunRecord.WORDS;

/**
 * Writes one tuple as record `b` (its first word) of a tuple-hash.wat input. An IPv4 tuple's
 * address words 1..3 are not written: the kernels do not read them (they are zero in the tuple).
 */
export function putTupleRecord(input: Int32Array, b: number, l3: number, proto: number, s0: number, s1: number, s2: number, s3: number, d0: number, d1: number, d2: number, d3: number, sport: number, dport: number): void {
  input[b] = s0;
  input[b + 4] = d0;
  input[b + RunRecord.PORTS] = sport | (dport << 16);
  if (l3 === 6) {
    input[b + 1] = s1; input[b + 2] = s2; input[b + 3] = s3;
    input[b + 5] = d1; input[b + 6] = d2; input[b + 7] = d3;
    input[b + RunRecord.META] = proto | RunRecord.L3NUM_IPV6;
  } else {
    input[b + RunRecord.META] = proto | RunRecord.L3NUM_IPV4;
  }
}

/** Bytes of tuple-hash.wat's key block (key, message scratch, jhash2 seed). */
export const HASH_KEY_BYTES = 64;
/** Where a TupleHasher's own page holds its key block, input records and outputs. */
const RUN_INPUT_BYTE = HASH_KEY_BYTES;
const RUN_OUTPUT_BYTE = RUN_INPUT_BYTE + HASH_RUN_CAPACITY * RunRecord.WORDS * 4;

const tupleHashModule = new EmbeddedModule(TUPLE_HASH_WASM);

/** A tuple-hash.wat run over records and outputs at fixed places in one memory. */
export type HashRunKernel = (count: number) => void;

/**
 * An instance of tuple-hash.wat on `memory`, hashing `count` records at `recordsAt` into
 * `hashesAt` with the key block at `keyAt` (filled here from the hasher's key or seed). Only on
 * little-endian hosts for a memory whose records JavaScript writes through typed arrays.
 */
function hashRunOn(memory: WebAssembly.Memory, jhash: boolean, key: Uint32Array, jseed: number, keyAt: number, recordsAt: number, hashesAt: number): HashRunKernel {
  const instance = new WebAssembly.Instance(tupleHashModule.module, { env: { memory } });
  // WebAssembly memory is little-endian whatever the host.
  const block = new DataView(memory.buffer, keyAt, HASH_KEY_BYTES);
  for (let i = 0; i < 4; i++) block.setUint32(4 * i, key[i]!, true);
  block.setInt32(56, jseed, true);
  const kernel = instance.exports[jhash ? 'jhashRun' : 'hashRun'] as (count: number, records: number, hashes: number, keyBlock: number) => void;
  return (count: number): void => kernel(count, recordsAt, hashesAt, keyAt);
}

/**
 * An instance of tuple-hash.wat for one hasher, on a page of its own: its key block, the run's
 * records and outputs as views of that page.
 */
function runKernel(jhash: boolean, key: Uint32Array, jseed: number): { run: HashRunKernel; input: Int32Array; output: Int32Array } {
  const memory = new WebAssembly.Memory({ initial: 1 });
  const kernel = hashRunOn(memory, jhash, key, jseed, 0, RUN_INPUT_BYTE, RUN_OUTPUT_BYTE);
  const input = new Int32Array(memory.buffer, RUN_INPUT_BYTE, HASH_RUN_CAPACITY * RunRecord.WORDS);
  const output = new Int32Array(memory.buffer, RUN_OUTPUT_BYTE, HASH_RUN_CAPACITY);
  if (HOST_LITTLE_ENDIAN) return { run: kernel, input, output };
  // A big-endian host's typed arrays hold the words byte-swapped for the kernel: swap the
  // records in and back, and the hashes out.
  return {
    run: (count: number): void => {
      swapWords(input, count * RunRecord.WORDS);
      kernel(count);
      swapWords(input, count * RunRecord.WORDS);
      swapWords(output, count);
    },
    input,
    output,
  };
}

function swapWords(words: Int32Array, count: number): void {
  for (let i = 0; i < count; i++) words[i] = bswap32i(words[i]!);
}

/** Computes `hash_conntrack_raw` for a tuple given as numbers. One instance per table; no allocation per call. */
export class TupleHasher {
  readonly algorithm: HashAlgorithm;
  readonly seed: number;
  readonly zone: number;
  private readonly key = new Uint32Array(4);
  /** algorithm === 'jhash', as a boolean field the per-packet branch reads without a string compare. */
  private readonly jhash: boolean;
  private readonly jseed: number;
  /** hashRun's input: HASH_RUN_CAPACITY records of RunRecord.WORDS int32 (see RunRecord; written by setRunTuple). */
  readonly runInput: Int32Array;
  /** hashRun's output: the hash of each input record, as hashInt32 gives it. */
  readonly runHashes: Int32Array;
  /** tuple-hash.wat's hashRun (SipHash) or jhashRun of this hasher's instance. */
  private readonly runKernel: HashRunKernel;
  /**
   * A second instance for one SipHash at a time (hashInt32, hashIpv4), so that a single hash
   * never overwrites a run's records or hashes (a jhash2 hasher never calls it: the run's). One
   * tuple through it took ~120 ns against ~280 in JavaScript in the same minute; jhash2 gains
   * nothing from it (the call costs what it saves).
   */
  private readonly oneInput: Int32Array;
  private readonly oneHash: Int32Array;
  private readonly oneKernel: HashRunKernel;

  constructor(algorithm: HashAlgorithm = 'siphash', seed: number = DEFAULT_HASH_SEED, zone = 0) {
    if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`hash seed must be a whole number >= 0, got ${seed}`);
    if (!Number.isInteger(zone) || zone < 0 || zone > 0xffff) throw new RangeError(`zone must be 0..65535, got ${zone}`);
    this.algorithm = algorithm;
    this.jhash = algorithm === 'jhash';
    this.seed = seed;
    this.zone = zone;
    const lo = seed >>> 0;
    const hi = Math.floor(seed / 4294967296) >>> 0;
    // siphash key: k0 = k1 = seed as a u64; then key[0] ^= zone id (nf_conntrack_core.c).
    this.key[0] = (lo ^ zone) >>> 0;
    this.key[1] = hi;
    this.key[2] = lo;
    this.key[3] = hi;
    this.jseed = (lo ^ zone) | 0;
    const kernel = runKernel(this.jhash, this.key, this.jseed);
    this.runInput = kernel.input;
    this.runHashes = kernel.output;
    this.runKernel = kernel.run;
    // jhash2 hashes single tuples in JavaScript: no second instance for it.
    const one = this.jhash ? kernel : runKernel(false, this.key, this.jseed);
    this.oneInput = one.input;
    this.oneHash = one.output;
    this.oneKernel = one.run;
  }

  /** Bytes of WebAssembly memory this hasher holds (its run's page, and SipHash's single-tuple page). */
  get memoryBytes(): number {
    const run = this.runInput.buffer, one = this.oneInput.buffer;
    return run.byteLength + (one === run ? 0 : one.byteLength);
  }

  /**
   * Puts tuple k of the next run into `runInput` (address words as in setTuple; an IPv4 tuple's
   * words 1..3 are neither written nor read: zero in the tuple).
   */
  setRunTuple(k: number, l3: number, proto: number, s0: number, s1: number, s2: number, s3: number, d0: number, d1: number, d2: number, d3: number, sport: number, dport: number): void {
    putTupleRecord(this.runInput, Math.imul(k, RunRecord.WORDS), l3, proto, s0, s1, s2, s3, d0, d1, d2, d3, sport, dport);
  }

  /**
   * This hasher's run (hashRun) over records and outputs in another memory (a conntrack table's
   * chain-walk memory, so that a run is hashed where it is walked, nothing copied): `keyAt` a
   * HASH_KEY_BYTES block there, which this fills. Little-endian hosts only (see ChainWalk).
   */
  runKernelOn(memory: WebAssembly.Memory, keyAt: number, recordsAt: number, hashesAt: number): HashRunKernel {
    return hashRunOn(memory, this.jhash, this.key, this.jseed, keyAt, recordsAt, hashesAt);
  }

  /**
   * Hashes the first `count` tuples of `runInput` into `runHashes` (hashInt32 of each), in
   * WebAssembly (tuple-hash.wat): SipHash in 64-bit arithmetic there ran 3.8x the JavaScript
   * version (which works on 32-bit halves), jhash2 2.5x (runs of 128; 37 and 17 ns a tuple).
   */
  hashRun(count: number): void {
    if (count > HASH_RUN_CAPACITY) throw new RangeError(`hashRun takes at most ${HASH_RUN_CAPACITY} tuples, got ${count}`);
    this.runKernel(count);
  }

  /** hash_conntrack_raw(tuple) as a u32. `l3` is 4 or 6. */
  hash(l3: number, proto: number, s0: number, s1: number, s2: number, s3: number, d0: number, d1: number, d2: number, d3: number, sport: number, dport: number): number {
    return this.hashInt32(l3, proto, s0, s1, s2, s3, d0, d1, d2, d3, sport, dport) >>> 0;
  }

  /**
   * hash_conntrack_raw(tuple) as an int32 (the same 32 bits): what the table's per-packet path
   * carries, since V8 boxes a u32 above 2^31 that crosses a call that is not inlined.
   */
  hashInt32(l3: number, proto: number, s0: number, s1: number, s2: number, s3: number, d0: number, d1: number, d2: number, d3: number, sport: number, dport: number): number {
    if (l3 !== 6) return this.hashIpv4(proto, s0, d0, sport, dport);
    if (this.jhash) {
      // Bytes 16..19: src.u (network order) then l3num (host order, little-endian);
      // (__force u16)tuple->dst.u.all read natively on x86 = the port byte-swapped.
      return jhash2Words9(bswap32i(s0), bswap32i(s1), bswap32i(s2), bswap32i(s3), bswap16(sport) | (NFPROTO_IPV6 << 16),
        bswap32i(d0), bswap32i(d1), bswap32i(d2), bswap32i(d3), this.jseed ^ ((bswap16(dport) << 16) | proto));
    }
    return this.sipOne(6, proto, s0, s1, s2, s3, d0, d1, d2, d3, sport, dport);
  }

  /** One SipHash of a tuple in the second WebAssembly instance (see oneKernel). */
  private sipOne(l3: number, proto: number, s0: number, s1: number, s2: number, s3: number, d0: number, d1: number, d2: number, d3: number, sport: number, dport: number): number {
    putTupleRecord(this.oneInput, 0, l3, proto, s0, s1, s2, s3, d0, d1, d2, d3, sport, dport);
    this.oneKernel(1);
    return this.oneHash[0]!;
  }

  /** hashInt32() of an IPv4 tuple: address words 1..3 are zero in the tuple, so they are not swapped. */
  hashIpv4(proto: number, s0: number, d0: number, sport: number, dport: number): number {
    if (this.jhash) return jhash2Ipv4Tuple(bswap32i(s0), bswap16(sport) | (NFPROTO_IPV4 << 16), bswap32i(d0), this.jseed ^ ((bswap16(dport) << 16) | proto));
    return this.sipOne(4, proto, s0, 0, 0, 0, d0, 0, 0, 0, sport, dport);
  }
}

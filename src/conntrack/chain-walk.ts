/**
 * The chain walk in WebAssembly (chain-walk.wat): ConntrackTable's chain heads and node records
 * live in the kernel's memory (views `heads` and `nodes`), so that ConntrackInStage.prepare can
 * walk a whole run of tuples there and packet() take each result instead of walking again, while
 * nothing it saw has changed in between (see table.ts lookupRun and takeWalk).
 *
 * A run is hashed in the same memory (an instance of tuple-hash.wat on it, with the table's key):
 * the caller writes the run's tuples into `runRecords`, and lookupRun hashes and walks them,
 * nothing copied in between.
 *
 * Memory: the kernel's run area, then the heads from TABLE_AT, then the nodes, last, reserved for
 * the table's `max` (see the constructor); where only less could be had, a larger node array is
 * the same memory grown (nothing copied; the views are made anew, since a grow detaches the old
 * buffer). Only on little-endian hosts: the table's typed-array views must
 * see the numbers the kernel's little-endian loads see.
 */
import { EmbeddedModule, WASM_KERNELS_AVAILABLE } from '../wasm.js';
import { CHAIN_WALK_WASM } from './chain-walk-wasm.js';
import { HASH_RUN_RECORD_WORDS, type HashRunKernel, type TupleHasher } from './tuple.js';

type LookupRun = (count: number, nowMs: number, buckets: number, headsAt: number, nodesAt: number) => void;

const PAGE = 65536;
const walkModule = new EmbeddedModule(CHAIN_WALK_WASM);

export class ChainWalk {
  /** Bytes of the kernel's run area, before the table's heads (TABLE_AT). */
  static get runAreaBytes(): number {
    return walkModule.constant('TABLE_AT');
  }

  /** Whether this host can run the kernel (see the file comment). */
  static readonly available: boolean = WASM_KERNELS_AVAILABLE;

  heads: Int32Array;
  nodes: Int32Array;
  /** Tuples a run may hold. */
  readonly runCapacity: number;
  /** The run's tuples (HASH_RUN_RECORD_WORDS words each, as TupleHasher.setRunTuple writes them) and, after lookupRun, their hashes. */
  runRecords: Int32Array;
  runHashes: Int32Array;
  /** The run's results (see chain-walk.wat): node found, nodes visited, soonest expiry word, bucket. */
  runNode: Int32Array;
  runVisited: Int32Array;
  runExpiry: Int32Array;
  runBucket: Int32Array;
  private words: Int32Array;
  private readonly memory: WebAssembly.Memory;
  private readonly run: LookupRun;
  private readonly hashRun: HashRunKernel;
  private readonly constants: Record<'RUN_RECORDS' | 'RUN_HASHES' | 'RESULT_NODE' | 'RESULT_VISITED' | 'RESULT_EXPIRY' | 'RESULT_BUCKET' | 'WARM_SUM', number>;
  private readonly headsAt: number;
  private readonly nodesAt: number;

  /**
   * Memory for `buckets` heads and `nodeWords` words of node records, room reserved for
   * `maxNodeWords`, runs hashed with `hasher`'s function and key; throws RangeError when the
   * memory cannot be had.
   *
   * The whole table's memory is asked for at once (the system gives pages as they are first
   * touched), so that growing the table never grows the memory: a grow detaches the memory's old
   * ArrayBuffer under every view of it, and after the first detach in a thread V8 checks for
   * detachment at typed-array accesses anywhere in it (its ArrayBufferDetaching protector). Only
   * where that much cannot be had does it start small and grow.
   */
  constructor(readonly buckets: number, nodeWords: number, maxNodeWords: number, hasher: TupleHasher) {
    const constant = (name: string): number => walkModule.constant(name);
    this.constants = {
      RUN_RECORDS: constant('RUN_RECORDS'), RUN_HASHES: constant('RUN_HASHES'), RESULT_NODE: constant('RESULT_NODE'),
      RESULT_VISITED: constant('RESULT_VISITED'), RESULT_EXPIRY: constant('RESULT_EXPIRY'), RESULT_BUCKET: constant('RESULT_BUCKET'),
      WARM_SUM: constant('WARM_SUM'),
    };
    this.runCapacity = constant('RUN_CAPACITY');
    this.headsAt = constant('TABLE_AT');
    // Nodes start on the page after the heads.
    this.nodesAt = Math.ceil((this.headsAt + 4 * buckets) / PAGE) * PAGE;
    const pages = (words: number): number => Math.ceil((this.nodesAt + 4 * words) / PAGE);
    let memory: WebAssembly.Memory;
    try {
      memory = new WebAssembly.Memory({ initial: pages(Math.max(nodeWords, maxNodeWords)) });
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
      memory = new WebAssembly.Memory({ initial: pages(nodeWords) });
    }
    this.memory = memory;
    this.run = new WebAssembly.Instance(walkModule.module, { env: { memory: this.memory } }).exports['lookupRun'] as LookupRun;
    this.hashRun = hasher.runKernelOn(this.memory, constant('HASH_KEY'), this.constants.RUN_RECORDS, this.constants.RUN_HASHES);
    this.heads = new Int32Array(0);
    this.nodes = new Int32Array(0);
    this.words = new Int32Array(0);
    this.runRecords = this.runHashes = this.runNode = this.runVisited = this.runExpiry = this.runBucket = new Int32Array(0);
    this.view(nodeWords);
  }

  /** Makes room for `nodeWords` words of node records (the records kept); the views are new after it. */
  growNodes(nodeWords: number): void {
    const need = Math.ceil((this.nodesAt + 4 * nodeWords) / PAGE);
    const have = this.memory.buffer.byteLength / PAGE;
    if (need > have) this.memory.grow(need - have);
    this.view(nodeWords);
  }

  private view(nodeWords: number): void {
    const buffer = this.memory.buffer;
    const c = this.constants;
    this.heads = new Int32Array(buffer, this.headsAt, this.buckets);
    this.nodes = new Int32Array(buffer, this.nodesAt, nodeWords);
    this.words = new Int32Array(buffer, 0, this.headsAt >>> 2);
    this.runRecords = new Int32Array(buffer, c.RUN_RECORDS, this.runCapacity * HASH_RUN_RECORD_WORDS);
    this.runHashes = new Int32Array(buffer, c.RUN_HASHES, this.runCapacity);
    this.runBucket = new Int32Array(buffer, c.RESULT_BUCKET, this.runCapacity);
    this.runNode = new Int32Array(buffer, c.RESULT_NODE, this.runCapacity);
    this.runVisited = new Int32Array(buffer, c.RESULT_VISITED, this.runCapacity);
    this.runExpiry = new Int32Array(buffer, c.RESULT_EXPIRY, this.runCapacity);
  }

  /**
   * Hashes the first `count` tuples of runRecords into runHashes and walks their chains: results
   * in runNode/runVisited/runExpiry/runBucket; returns what the warming loads summed to.
   */
  lookupRun(count: number, nowMs: number): number {
    this.hashRun(count);
    this.run(count, nowMs | 0, this.buckets, this.headsAt, this.nodesAt);
    return this.words[this.constants.WARM_SUM >>> 2]!;
  }
}

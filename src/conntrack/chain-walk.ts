/**
 * The chain walk in WebAssembly (chain-walk.wat): ConntrackTable's chain heads and node records
 * live in the kernel's memory (views `heads` and `nodes`), so that ConntrackInStage.prepare can
 * walk a whole run of tuples there and packet() take each result instead of walking again, while
 * nothing it saw has changed in between (see table.ts lookupRun and takeWalk).
 *
 * Memory: the kernel's run area, then the heads from TABLE_AT, then the nodes, last, so that a
 * larger node array is the same memory grown (nothing copied; the views are made anew, since a
 * grow detaches the old buffer). Only on little-endian hosts: the table's typed-array views must
 * see the numbers the kernel's little-endian loads see.
 */
import { HOST_LITTLE_ENDIAN } from '../trace/batch.js';
import { EmbeddedModule } from '../wasm.js';
import { CHAIN_WALK_WASM } from './chain-walk-wasm.js';
import { HASH_RUN_RECORD_WORDS } from './tuple.js';

type LookupRun = (count: number, nowMs: number, buckets: number, headsAt: number, nodesAt: number) => void;

const PAGE = 65536;
const walkModule = new EmbeddedModule(CHAIN_WALK_WASM);

export class ChainWalk {
  /** Whether this host can run the kernel (see the file comment). */
  static readonly available: boolean = HOST_LITTLE_ENDIAN && typeof WebAssembly === 'object';

  heads: Int32Array;
  nodes: Int32Array;
  /** Tuples a run may hold. */
  readonly runCapacity: number;
  /** The run's results (see chain-walk.wat): node found, nodes visited, soonest expiry word. */
  runNode: Int32Array;
  runVisited: Int32Array;
  runExpiry: Int32Array;
  private words: Int32Array;
  private readonly memory: WebAssembly.Memory;
  private readonly run: LookupRun;
  private readonly constants: Record<'RUN_RECORDS' | 'RUN_HASHES' | 'RESULT_NODE' | 'RESULT_VISITED' | 'RESULT_EXPIRY' | 'WARM_SUM', number>;
  private readonly headsAt: number;
  private readonly nodesAt: number;

  /** Memory for `buckets` heads and `nodeWords` words of node records; throws RangeError when it cannot be had. */
  constructor(readonly buckets: number, nodeWords: number) {
    const constant = (name: string): number => walkModule.constant(name);
    this.constants = {
      RUN_RECORDS: constant('RUN_RECORDS'), RUN_HASHES: constant('RUN_HASHES'), RESULT_NODE: constant('RESULT_NODE'),
      RESULT_VISITED: constant('RESULT_VISITED'), RESULT_EXPIRY: constant('RESULT_EXPIRY'), WARM_SUM: constant('WARM_SUM'),
    };
    this.runCapacity = constant('RUN_CAPACITY');
    this.headsAt = constant('TABLE_AT');
    // Nodes start on the page after the heads.
    this.nodesAt = Math.ceil((this.headsAt + 4 * buckets) / PAGE) * PAGE;
    this.memory = new WebAssembly.Memory({ initial: Math.ceil((this.nodesAt + 4 * nodeWords) / PAGE) });
    this.run = new WebAssembly.Instance(walkModule.module, { env: { memory: this.memory } }).exports['lookupRun'] as LookupRun;
    this.heads = new Int32Array(0);
    this.nodes = new Int32Array(0);
    this.words = new Int32Array(0);
    this.runNode = this.runVisited = this.runExpiry = new Int32Array(0);
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
    this.runNode = new Int32Array(buffer, c.RESULT_NODE, this.runCapacity);
    this.runVisited = new Int32Array(buffer, c.RESULT_VISITED, this.runCapacity);
    this.runExpiry = new Int32Array(buffer, c.RESULT_EXPIRY, this.runCapacity);
  }

  /**
   * Walks the chains of `count` tuples: `records` as TupleHasher.runInput holds them (ten words
   * each), `hashes` their raw hashes. Results in runNode/runVisited/runExpiry; returns what the
   * warming loads summed to.
   */
  lookupRun(records: Int32Array, hashes: Int32Array, count: number, nowMs: number): number {
    const c = this.constants;
    this.words.set(records.subarray(0, count * HASH_RUN_RECORD_WORDS), c.RUN_RECORDS >>> 2);
    this.words.set(hashes.subarray(0, count), c.RUN_HASHES >>> 2);
    this.run(count, nowMs | 0, this.buckets, this.headsAt, this.nodesAt);
    return this.words[c.WARM_SUM >>> 2]!;
  }
}

/**
 * Stage registry: name -> factory. A pipeline configuration is plain data (a list of
 * { name, config }) that travels to the workers as msgpack; each worker builds its own stage
 * instances from it through the registry. The models (conntrack, rules, shaper) register their
 * stages here (see builtin.ts); a stage not registered is reported as unknown, never faked.
 */
import type { PipelineStage } from './stage.js';
import type { StageResult } from './result.js';

/** A stage whose counters can be read out and merged across workers. */
export interface MergeableStage extends PipelineStage {
  snapshot(): StageResult;
}

/** Where a stage instance runs. */
export interface StageContext {
  /** Index of this worker's shard (0 in a one-thread run). */
  readonly shard: number;
  readonly shards: number;
  /**
   * Memory shared by all shards, made once on the main thread by the factory's `createShared`
   * (e.g. the shared-table mode's one hash table); empty when the factory shares nothing.
   */
  readonly shared: readonly SharedArrayBuffer[];
}

/** One stage of a pipeline configuration: plain data only (msgpack-able). */
export interface StageSpec {
  readonly name: string;
  readonly config?: Record<string, unknown>;
}

export interface StageFactory {
  readonly name: string;
  /** One line for `--help` and errors. */
  readonly description: string;
  /** Checks and normalises the configuration on the main thread (throw RangeError when wrong). */
  validate?(config: Record<string, unknown>): void;
  /** Shared memory made once for all shards (shared-table mode); absent for per-shard stages. */
  createShared?(config: Record<string, unknown>, shards: number): SharedArrayBuffer[];
  create(config: Record<string, unknown>, context: StageContext): MergeableStage;
  /** Exact merge of the shards' results (see result.ts). */
  merge(results: readonly StageResult[]): StageResult;
}

export class StageRegistry {
  private readonly factories = new Map<string, StageFactory>();

  register(factory: StageFactory): void {
    if (this.factories.has(factory.name)) throw new Error(`stage ${factory.name} is registered twice`);
    this.factories.set(factory.name, factory);
  }

  get(name: string): StageFactory {
    const f = this.factories.get(name);
    if (!f) throw new RangeError(`unknown stage "${name}" (known: ${this.names().join(', ')})`);
    return f;
  }

  has(name: string): boolean {
    return this.factories.has(name);
  }

  names(): string[] {
    return [...this.factories.keys()];
  }

  /** Merges the per-shard results of a whole pipeline, stage by stage in pipeline order. */
  mergeAll(specs: readonly StageSpec[], perShard: readonly (readonly StageResult[])[]): StageResult[] {
    return specs.map((spec, k) => this.get(spec.name).merge(perShard.map((results) => {
      const r = results[k];
      if (!r || r.stage !== spec.name) throw new Error(`shard result ${k} is not from stage ${spec.name}`);
      return r;
    })));
  }
}

/**
 * A module that adds stages, loaded by name in every worker (`stageModules`): it exports
 * `registerStages(registry)`. The models add theirs to builtin.ts instead.
 */
export interface StageModule {
  registerStages(registry: StageRegistry): void;
}

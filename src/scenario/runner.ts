/**
 * The seam between the harness and the models: a ScenarioPointRunner takes one sweep point and
 * returns its measurements. `pktbench run` does everything around it (loading, sweep, shards,
 * progress, results files, resume); the implementation with the real models plugs in here.
 */
import { RunFailure } from '../errors.js';
import type { LoadedScenario } from './load.js';
import type { SweepPoint } from './sweep.js';

/** Counts of a histogram: `counts[i]` values fell into the bucket labelled `labels[i]`. */
export interface Histogram {
  readonly labels: readonly string[];
  readonly counts: readonly number[];
}

export interface PointMetric {
  /** A measurement name (schema MEASUREMENTS) or a more specific one such as `stage.conntrack.ns-per-packet`. */
  readonly name: string;
  readonly unit: string;
  readonly direction: 'higher' | 'lower';
  /** One value per repetition (the scenario's `repeat`). */
  readonly samples: readonly number[];
  /** e.g. chain lengths walked, rules evaluated per packet (pooled over the samples). */
  readonly histogram?: Histogram;
  /** Per simulated core (e.g. share of packets, busy share), index = core. */
  readonly perCore?: readonly number[];
}

export interface PointContext {
  readonly scenario: LoadedScenario;
  /** The run was interrupted (SIGINT): stop early by throwing. */
  readonly signal: AbortSignal;
  /** Progress within the point, 0..1 (drives the progress bar). */
  progress(fraction: number): void;
}

export interface ScenarioPointRunner {
  runPoint(point: SweepPoint, context: PointContext): Promise<readonly PointMetric[]>;
}

/** Used by `pktbench run` until the model-backed runner is wired in at merge. */
export const unwiredRunner: ScenarioPointRunner = {
  runPoint(): Promise<readonly PointMetric[]> {
    return Promise.reject(new RunFailure('the scenario runner is not wired to the models in this build (use --dry-run to list the points)'));
  },
};

/**
 * The results file: one JSON document per run (or per benchmark suite), schema-versioned. The
 * zod schema here and schema/results-v1.json describe the same format (a test keeps them in step).
 */
import { z } from 'zod';
import { InputError } from '../errors.js';

export const RESULTS_SCHEMA_VERSION = 1;
/** The `$schema` every results file carries; also the JSON Schema file's `$id`. */
export const RESULTS_SCHEMA_ID = 'https://pktbench.dev/schema/results-v1.json';

const finite = z.number().refine(Number.isFinite, 'must be a finite number');
const paramValue = z.union([z.string(), z.number(), z.boolean()]);

export const SummarySchema = z.strictObject({
  n: z.number().int().min(1),
  median: finite,
  mad: finite,
  min: finite,
  max: finite,
  mean: finite,
  ciLow: finite,
  ciHigh: finite,
  ciLevel: z.number().min(0).max(1),
});

export const MetricSchema = z.strictObject({
  name: z.string().min(1),
  unit: z.string().min(1),
  direction: z.enum(['higher', 'lower']),
  samples: z.array(finite).min(1),
  summary: SummarySchema,
  histogram: z
    .strictObject({ labels: z.array(z.string()), counts: z.array(z.number().nonnegative()) })
    .refine((h) => h.labels.length === h.counts.length, 'labels and counts differ in length')
    .optional(),
  perCore: z.array(finite).optional(),
});

export const PointSchema = z.strictObject({
  index: z.number().int().nonnegative(),
  id: z.string().min(1),
  params: z.record(z.string(), paramValue),
  startedAt: z.string(),
  durationMs: z.number().nonnegative(),
  metrics: z.array(MetricSchema),
});

export const EnvironmentSchema = z.strictObject({
  pktbenchVersion: z.string(),
  gitCommit: z.string().nullable(),
  gitDirty: z.boolean().nullable(),
  node: z.string(),
  v8: z.string(),
  cpuModel: z.string(),
  cores: z.number().int().min(1),
  memoryBytes: z.number().nonnegative(),
  os: z.string(),
  startedAt: z.string(),
});

export const ResultsSchema = z.strictObject({
  $schema: z.literal(RESULTS_SCHEMA_ID),
  schemaVersion: z.literal(RESULTS_SCHEMA_VERSION),
  kind: z.enum(['scenario', 'bench']),
  scenario: z.strictObject({
    name: z.string().min(1),
    description: z.string(),
    /** sha256 of the scenario file (bench: of the suite name). Compare refuses different hashes. */
    hash: z.string().min(1),
    file: z.string().nullable(),
    axes: z.array(z.strictObject({ name: z.string(), values: z.array(paramValue) })),
    totalPoints: z.number().int().nonnegative(),
    shard: z.strictObject({ index: z.number().int().min(1), count: z.number().int().min(1) }).nullable(),
  }),
  environment: EnvironmentSchema,
  points: z.array(PointSchema),
  extra: z.record(z.string(), z.unknown()).optional(),
});

export type ResultsFile = z.infer<typeof ResultsSchema>;
export type ResultPoint = z.infer<typeof PointSchema>;
export type ResultMetric = z.infer<typeof MetricSchema>;

function dotted(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i ? '.' : ''}${String(p)}`)).join('');
}

/** Parses a results file's text; every problem is an InputError naming the file (and the JSON path). */
export function parseResults(text: string, file: string): ResultsFile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    const m = /position (\d+)/.exec(String(err));
    throw new InputError(m ? `${file}: byte ${m[1]}` : file, `not JSON (${(err as Error).message.split('\n')[0]})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new InputError(file, 'not a pktbench results file (expected a JSON object)');
  const doc = json as Record<string, unknown>;
  if (doc.$schema !== RESULTS_SCHEMA_ID) {
    const v = /results-v(\d+)\.json$/.exec(String(doc.$schema ?? ''));
    if (v && typeof doc.$schema === 'string' && doc.$schema.startsWith('https://pktbench.dev/')) {
      throw new InputError(file, `results schema version ${v[1]}; this pktbench reads version ${RESULTS_SCHEMA_VERSION}`);
    }
    throw new InputError(file, `not a pktbench results file ($schema is ${JSON.stringify(doc.$schema ?? null)}, expected ${RESULTS_SCHEMA_ID})`);
  }
  const r = ResultsSchema.safeParse(json);
  if (!r.success) {
    const lines = r.error.issues.slice(0, 5).map((i) => `${dotted(i.path) || '(top level)'}: ${i.message}`);
    const more = r.error.issues.length > 5 ? ` (and ${r.error.issues.length - 5} more)` : '';
    throw new InputError(file, `not a valid results file: ${lines.join('; ')}${more}`);
  }
  return r.data;
}

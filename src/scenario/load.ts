/**
 * Loads a scenario file: YAML with line positions → schema → sweep points. Every mistake becomes an
 * InputError `file:line: message` naming the key (unknown keys at the key itself).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { isMap, isScalar, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import { InputError } from '../errors.js';
import { ScenarioSchema, SWEEP_ALIASES, type ScenarioConfig } from './schema.js';
import { expandSweep, type SweepAxis, type SweepPoint } from './sweep.js';

export interface LoadedScenario {
  /** Path as given (messages name it). */
  readonly file: string;
  readonly config: ScenarioConfig;
  /** sha256 of the file's bytes: results name it so that compare refuses different experiments. */
  readonly hash: string;
  readonly axes: readonly SweepAxis[];
  /** Every point of the sweep, in a fixed order (the cartesian product, last axis fastest). */
  readonly points: readonly SweepPoint[];
}

export interface LoadOptions {
  /** Check that referenced files (trace, ruleset, ipsets, tc script) exist. Default true. */
  checkFiles?: boolean;
}

type Path = readonly PropertyKey[];

class Locator {
  constructor(
    private readonly file: string,
    private readonly doc: Document.Parsed,
    private readonly lines: LineCounter,
  ) {}

  /** `file:line` of the node at `path` (or of its nearest existing ancestor). */
  at(path: Path, key?: string): string {
    for (let depth = path.length; depth >= 0; depth--) {
      const node = this.doc.getIn(path.slice(0, depth) as unknown[], true) as Node | undefined;
      if (depth === 0 && !node) return this.where(this.doc.contents?.range?.[0] ?? 0);
      if (!node) continue;
      if (key !== undefined && depth === path.length && isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && p.key.value === key);
        const range = pair && isScalar(pair.key) ? pair.key.range : undefined;
        if (range) return this.where(range[0]);
      }
      if (node.range) return this.where(node.range[0]);
    }
    return this.where(0);
  }

  where(offset: number): string {
    return `${this.file}:${this.lines.linePos(offset).line}`;
  }
}

function dotted(path: Path): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i ? '.' : ''}${String(p)}`)).join('');
}

/** The most useful leaf issues (unions report their branches). */
function flatten(issues: readonly z.core.$ZodIssue[], prefix: Path = []): { path: Path; issue: z.core.$ZodIssue }[] {
  const out: { path: Path; issue: z.core.$ZodIssue }[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      const best = [...issue.errors].sort((a, b) => a.length - b.length)[0]!;
      out.push(...flatten(best, path));
    } else out.push({ path, issue });
  }
  return out;
}

function message(path: Path, issue: z.core.$ZodIssue, raw: unknown): string {
  const name = dotted(path);
  if (issue.code === 'invalid_type' && issue.input === undefined) return `${name}: missing (required)`;
  if (issue.code === 'invalid_value') return `${name}: ${JSON.stringify(getIn(raw, path.map(String)))} is not one of ${issue.values.map((v) => String(v)).join(', ')}`;
  return name ? `${name}: ${issue.message}` : issue.message;
}

function issuesToErrors(locate: Locator, issues: readonly z.core.$ZodIssue[], raw: unknown): string[] {
  const out: string[] = [];
  for (const { path, issue } of flatten(issues)) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) out.push(`${locate.at(path, key)}: ${dotted([...path, key])}: unknown key`);
    } else out.push(`${locate.at(path)}: ${message(path, issue, raw)}`);
  }
  return out;
}

function setIn(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

function getIn(target: unknown, path: readonly string[]): unknown {
  let node = target;
  for (const key of path) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

function lineOf(error: string): number {
  return Number(/^[^\n]*?:(\d+): /.exec(error)?.[1] ?? 0);
}

/** Throws one InputError listing every problem, in file order. */
function failIfAny(unordered: readonly string[]): void {
  const errors = [...unordered].sort((a, b) => lineOf(a) - lineOf(b));
  if (errors.length > 0) throw new InputError('', errors.join('\n') + (errors.length > 1 ? `\n(${errors.length} problems)` : ''));
}

/** Parses and validates scenario text; `file` is used for messages and to resolve relative paths. */
export function parseScenario(text: string, file: string, options: LoadOptions = {}): LoadedScenario {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const locate = new Locator(file, doc, lines);
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    throw new InputError(`${file}:${lines.linePos(e.pos[0]).line}`, `not valid YAML: ${e.message.split('\n')[0]}`);
  }
  const raw: unknown = doc.toJS();
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new InputError(`${file}:1`, 'a scenario is a YAML mapping (name:, trace:, …)');
  }
  const parsed = ScenarioSchema.safeParse(raw);
  if (!parsed.success) {
    failIfAny(issuesToErrors(locate, parsed.error.issues, raw));
    throw new InputError(file, 'invalid scenario');
  }
  const config = parsed.data;
  const errors: string[] = [];

  // Sweep axes: resolve aliases, then validate every value by substituting it into the scenario.
  const axes: SweepAxis[] = [];
  for (const [name, values] of Object.entries(config.sweep)) {
    const target = SWEEP_ALIASES[name] ?? name;
    const path = target.split('.');
    const base = getIn(raw, path.slice(0, -1));
    if (path.length > 1 && (typeof base !== 'object' || base === null) && !['conntrack', 'cores'].includes(path[0]!)) {
      errors.push(`${locate.at(['sweep'], name)}: sweep.${name}: ${target} is not set in this scenario (sweep an axis of a section the scenario has)`);
      continue;
    }
    const parsedValues: unknown[] = [];
    values.forEach((value, i) => {
      const copy = structuredClone(raw) as Record<string, unknown>;
      delete copy.sweep;
      setIn(copy, path, value);
      const r = ScenarioSchema.safeParse(copy);
      if (!r.success) {
        const here = locate.at(['sweep', name, i]);
        for (const { path: p, issue } of flatten(r.error.issues)) {
          if (issue.code === 'unrecognized_keys' && p.length === path.length - 1 && issue.keys.includes(path[path.length - 1]!)) {
            errors.push(`${locate.at(['sweep'], name)}: sweep.${name}: ${target} is not a setting of the scenario`);
          } else errors.push(`${here}: sweep.${name}[${i}]: ${message(p, issue, copy)}`);
        }
        return;
      }
      parsedValues.push(getIn(r.data, path));
    });
    const seen = new Set(parsedValues.map((v) => JSON.stringify(v)));
    if (seen.size !== parsedValues.length && parsedValues.length === values.length) {
      errors.push(`${locate.at(['sweep', name])}: sweep.${name}: a value appears twice`);
    }
    axes.push({ name, path, values: parsedValues as SweepAxis['values'] });
  }
  const targets = axes.map((a) => a.path.join('.'));
  targets.forEach((t, i) => {
    if (targets.indexOf(t) !== i) errors.push(`${locate.at(['sweep'], axes[i]!.name)}: sweep.${axes[i]!.name}: sweeps ${t} a second time`);
  });

  if (options.checkFiles ?? true) {
    const dir = dirname(file);
    const check = (path: Path, rel: string | undefined): void => {
      if (rel !== undefined && !existsSync(resolve(dir, rel))) errors.push(`${locate.at(path)}: ${dotted(path)}: no such file: ${resolve(dir, rel)}`);
    };
    check(['trace', 'file'], config.trace.file);
    check(['ruleset', 'file'], config.ruleset?.file);
    config.ruleset?.ipsets.forEach((f, i) => check(['ruleset', 'ipsets', i], f));
    check(['tc', 'file'], config.tc?.file);
    for (const axis of axes) {
      if (axis.path.at(-1) === 'file') axis.values.forEach((v, i) => check(['sweep', axis.name, i], String(v)));
    }
  }
  failIfAny([...new Set(errors)]);

  const hash = `sha256:${createHash('sha256').update(text).digest('hex')}`;
  return { file, config, hash, axes, points: expandSweep(config, axes) };
}

/** Reads and parses a scenario file. */
export function loadScenario(file: string, options: LoadOptions = {}): LoadedScenario {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputError(file, code === 'ENOENT' ? 'no such scenario file' : code === 'EISDIR' ? 'is a directory, not a scenario file' : `cannot read: ${code ?? String(err)}`);
  }
  return parseScenario(text, file, options);
}

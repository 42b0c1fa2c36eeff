import { InvalidArgumentError } from 'commander';

/** Parses an integer flag value, accepting k/m suffixes (16k = 16384, 1m = 1048576) as sizes do. */
export function parseCount(value: string): number {
  const m = /^(\d+)([kKmMgG]?)$/.exec(value.trim());
  if (!m) throw new InvalidArgumentError(`not a whole number: ${value}`);
  const scale = { '': 1, k: 1024, m: 1024 * 1024, g: 1024 * 1024 * 1024 }[(m[2] ?? '').toLowerCase()] ?? 1;
  const n = Number(m[1]) * scale;
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`too large: ${value}`);
  return n;
}

/** Like parseCount but refuses 0. */
export function parsePositive(value: string): number {
  const n = parseCount(value);
  if (n === 0) throw new InvalidArgumentError(`must be at least 1: ${value}`);
  return n;
}

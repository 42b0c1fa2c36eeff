/**
 * Numbers with units as admins write them in scenario files. Each parser returns the value or a
 * message (never throws), so the schema can report `file:line: message` for the offending node.
 */

const BINARY: Record<string, number> = { '': 1, k: 1024, ki: 1024, m: 1024 ** 2, mi: 1024 ** 2, g: 1024 ** 3, gi: 1024 ** 3 };
const DECIMAL: Record<string, number> = { '': 1, k: 1e3, ki: 1024, m: 1e6, mi: 1024 ** 2, g: 1e9, gi: 1024 ** 3 };

function scaled(value: unknown, table: Record<string, number>, what: string, unitWord = ''): number | string {
  if (typeof value === 'number') {
    return Number.isSafeInteger(value) && value >= 0 ? value : `${value} is not a whole number ≥ 0`;
  }
  if (value === undefined) return 'missing (required)';
  if (typeof value !== 'string') return `expected ${what}, got ${describeValue(value)}`;
  const re = unitWord ? new RegExp(`^(\\d+(?:\\.\\d+)?)\\s*([a-z]*?)\\s*(?:${unitWord})?$`, 'i') : /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i;
  const m = re.exec(value.trim());
  const factor = m ? table[(m[2] ?? '').toLowerCase()] : undefined;
  if (!m || factor === undefined) {
    return `"${value}" is not ${what} (a whole number, optionally with k, M, G, Ki, Mi or Gi${unitWord ? ` and "${unitWord}"` : ''})`;
  }
  const exact = Number(m[1]) * factor;
  // 1.6M = 1.6 * 1e6 is 1600000.0000000002 in binary floating point.
  const n = Math.abs(exact - Math.round(exact)) < 1e-6 ? Math.round(exact) : exact;
  if (!Number.isSafeInteger(n)) return `"${value}" is not a whole number`;
  return n;
}

export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${JSON.stringify(value)}`;
}

/** Table sizes (buckets, max, batch): k = 1024 as the CLI's size flags and the kernel's docs use. */
export function parseSize(value: unknown): number | string {
  return scaled(value, BINARY, 'a size');
}

/** Quantities (flows, packets, connections, rules, classes): k = 1000. Ki = 1024 if wanted. */
export function parseQuantity(value: unknown): number | string {
  return scaled(value, DECIMAL, 'a count');
}

/** Packet rates: `700k`, `700kpps`, `1.2Mpps`, 700000. */
export function parsePacketRate(value: unknown): number | string {
  return scaled(value, DECIMAL, 'a packet rate', 'pps');
}

const DURATION_SECONDS: Record<string, number> = { ms: 1e-3, s: 1, m: 60, min: 60, h: 3600, d: 86400 };

/** Durations in seconds: `500ms`, `30s`, `5m`, `2h`, `5d`; a bare number is seconds (as sysctl takes). */
export function parseDuration(value: unknown): number | string {
  if (typeof value === 'number') return value >= 0 && Number.isFinite(value) ? value : `${value} is not a duration ≥ 0`;
  if (value === undefined) return 'missing (required)';
  if (typeof value !== 'string') return `expected a duration, got ${describeValue(value)}`;
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(value.trim());
  const unit = m ? (m[2] ?? '').toLowerCase() : '';
  const factor = unit === '' ? 1 : DURATION_SECONDS[unit];
  if (!m || factor === undefined) return `"${value}" is not a duration (a number with ms, s, m, h or d)`;
  return Number(m[1]) * factor;
}

/** A share in [0, 1]: 0.25 or "25%". */
export function parseShare(value: unknown): number | string {
  let n: number;
  if (typeof value === 'number') n = value;
  else if (typeof value === 'string' && /^\d+(\.\d+)?%$/.test(value.trim())) n = Number(value.trim().slice(0, -1)) / 100;
  else return `expected a share (0..1 or a percentage like "10%"), got ${describeValue(value)}`;
  return n >= 0 && n <= 1 ? n : `${String(value)} is not between 0 and 1 (0% and 100%)`;
}

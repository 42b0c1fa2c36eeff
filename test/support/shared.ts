import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * The project's shared material (real captures with tshark truth, kernel notes) lives beside the
 * checkout in development and CI, never on a user's machine. PKTBENCH_SHARED overrides the place.
 */
export const sharedDir = process.env.PKTBENCH_SHARED ?? resolve(repoRoot, '../shared');
export const hasShared = existsSync(resolve(sharedDir, 'fixtures/pcap/manifest.tsv'));
export const sharedSkipReason = `skipped: ${sharedDir} (the shared fixture corpus) is absent; set PKTBENCH_SHARED to run these tests`;

if (!hasShared) process.stderr.write(`${sharedSkipReason}\n`);

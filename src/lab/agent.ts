/**
 * The lab's helper inside the sender or receiver namespace (Node cannot enter a namespace, so the
 * controller starts one agent per side with `ip netns exec NS node agent.js ...`). It captures
 * what the firewall forwards to its side (every frame not sent by itself) and sends trace frames on request.
 *
 * Arguments: IFACE SRC_MAC DST_MAC TRACE IP_OFFSETS_FILE CAPTURE_OUT
 * stdin:  `s N` (send frame N, 1-based)  → stdout `ok N`;  `q` → `done COUNT`, exit.
 * The first stdout line is `ready` once the capture is open.
 */
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { capture, FrameSender, parseMac } from '../trace/capture.js';
import { readPcap } from './pcapfile.js';

const QUIET_MS = 300;

async function main(): Promise<void> {
  const [iface, srcMac, dstMac, tracePath, offsetsPath, capturePath] = process.argv.slice(2);
  if (!iface || !srcMac || !dstMac || !tracePath || !offsetsPath || !capturePath) throw new Error('usage: agent IFACE SRC_MAC DST_MAC TRACE OFFSETS OUT');
  const trace = readPcap(tracePath);
  const offsets = readFileSync(offsetsPath, 'utf8').split(',').map(Number);
  let sender: FrameSender | undefined;
  let stop: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => {
    stop = resolve;
  });
  let lastPacket = Date.now();
  const captured = capture({
    onPacket: () => {
      lastPacket = Date.now();
    },
    iface,
    output: capturePath,
    // Not our own injected frames. (The `inbound` direction filter lost the first frame of every
    // capture on this kernel, so the agent filters on its own MAC instead.)
    filter: `not ether src ${srcMac}`,
    stop: stopped,
    onOpen: (handle) => {
      sender = new FrameSender(iface, parseMac(srcMac), parseMac(dstMac), handle);
      process.stdout.write('ready\n');
    },
  });
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (line.startsWith('s ')) {
      const n = Number(line.slice(2));
      const record = trace.records[n - 1];
      const offset = offsets[n - 1];
      if (!sender || !record || offset === undefined || offset < 0) {
        process.stdout.write(`err ${n} no such frame\n`);
        continue;
      }
      sender.sendIp(record.data, offset);
      process.stdout.write(`ok ${n}\n`);
    } else if (line === 'q') {
      break;
    }
  }
  // On a loaded machine the capture can trail the replay: stop only once the link has been quiet
  // for QUIET_MS (at most 10 s), so that no forwarded frame is mistaken for a drop.
  const deadline = Date.now() + 10_000;
  while (Date.now() - lastPacket < QUIET_MS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  stop();
  const result = await captured;
  process.stdout.write(`done ${result.packets}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`agent: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);

/**
 * Live capture to pcap and frame injection with `cap` (libpcap bindings, an optional dependency).
 * cap opens with a 65535-byte snapshot and no timestamps of its own, so records are stamped with
 * the wall clock when the event arrives (immediate mode: within microseconds of the kernel's) and
 * cut to --snaplen here.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { RunFailure, UsageError } from '../errors.js';
import { LINKTYPE_ETHERNET, LINKTYPE_RAW, PcapWriter } from '../lab/pcapfile.js';

/** The part of cap's API the project uses (cap ships no types). */
export interface CapHandle {
  open(device: string, filter: string, bufSize: number, buffer: Buffer): string;
  close(): void;
  send(buffer: Buffer, nBytes?: number): void;
  on(event: 'packet', listener: (nbytes: number, truncated: boolean) => void): void;
  removeAllListeners(event?: string): void;
}
interface CapModule {
  Cap: new () => CapHandle;
}

const require = createRequire(import.meta.url);
let capModule: CapModule | undefined;

/** Loads cap or explains what is missing. */
export function loadCap(): CapModule {
  if (capModule) return capModule;
  try {
    capModule = require('cap') as CapModule;
    return capModule;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (/Cannot find module 'cap'/.test(message)) {
      throw new RunFailure('live capture needs the optional package `cap`, which is not installed: install libpcap-dev, then `npm install cap`');
    }
    throw new RunFailure(`cap (libpcap bindings) failed to load: ${message.split('\n')[0]}; is libpcap installed (apt-get install libpcap-dev) and cap built for this Node?`);
  }
}

/** Throws a usage error naming the interface when it does not exist in this namespace. */
export function checkInterface(iface: string): void {
  if (!/^[^/\s]{1,15}$/.test(iface) || (process.platform === 'linux' && !existsSync(`/sys/class/net/${iface}`))) {
    throw new UsageError(`no network interface named "${iface}" here${process.platform === 'linux' ? ' (see `ip link`)' : ''}`);
  }
}

function linkTypeNumber(name: string): number {
  switch (name) {
    case 'ETHERNET': return LINKTYPE_ETHERNET;
    case 'NULL': return 0;
    case 'RAW': return LINKTYPE_RAW;
    case 'LINKTYPE_LINUX_SLL': return 113;
    case 'IEEE802_11_RADIO': return 127;
    default: throw new RunFailure(`cap reports a link type pktbench cannot record: ${name}`);
  }
}

/**
 * Kernel capture buffer: libpcap's ring (TPACKET_V2 in immediate mode) gives every frame a slot
 * the size of cap's 65535-byte snapshot, so 4 MiB held only ~60 frames, and a 10 ms pause of the
 * event loop lost runs of frames (the lab saw 7-22 of 2,000 missing that the kernel had forwarded).
 * 64 MiB holds ~1,000.
 */
export const DEFAULT_CAPTURE_BUFFER_BYTES = 64 * 1024 * 1024;

export interface CaptureOptions {
  readonly iface: string;
  /** Kernel capture buffer in bytes (default DEFAULT_CAPTURE_BUFFER_BYTES). */
  readonly bufferBytes?: number;
  readonly output: string;
  /** Stop after this many packets. */
  readonly count?: number;
  /** Stop after this many seconds. */
  readonly durationS?: number;
  /** A pcap-filter expression ('' for everything). */
  readonly filter?: string;
  readonly snaplen?: number;
  /** Stop when this resolves (the lab's agent, Ctrl-C). */
  readonly stop?: Promise<void>;
  /** Called for every captured frame (the lab's agent watches for the link going quiet). */
  readonly onPacket?: () => void;
  /** Called once the capture is open (the lab waits for it before sending, and sends on it). */
  readonly onOpen?: (handle: CapHandle) => void;
}

export interface CaptureResult {
  readonly packets: number;
  readonly linkType: number;
  /** Frames longer than cap's 65535-byte buffer (recorded truncated). */
  readonly truncated: number;
}

/** Captures from an interface into a pcap until count, duration or stop. */
export function capture(options: CaptureOptions): Promise<CaptureResult> {
  checkInterface(options.iface);
  const { Cap } = loadCap();
  const cap = new Cap();
  const buffer = Buffer.alloc(65535);
  let linkName: string;
  try {
    linkName = cap.open(options.iface, options.filter ?? '', options.bufferBytes ?? DEFAULT_CAPTURE_BUFFER_BYTES, buffer);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (/syntax|filter/i.test(message)) throw new UsageError(`bad capture filter "${options.filter}": ${message}`);
    throw new RunFailure(`cannot capture on ${options.iface}: ${message}`);
  }
  const linkType = linkTypeNumber(linkName);
  const writer = new PcapWriter(options.output, linkType, options.snaplen ?? 262144);
  return new Promise<CaptureResult>((resolve) => {
    let truncated = 0;
    let timer: NodeJS.Timeout | undefined;
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      cap.removeAllListeners('packet');
      cap.close();
      writer.close();
      process.removeListener('SIGINT', finish);
      resolve({ packets: writer.count, linkType, truncated });
    };
    cap.on('packet', (nbytes, isTruncated) => {
      if (done) return;
      if (isTruncated) truncated++;
      const now = Date.now();
      writer.write(buffer, Math.min(nbytes, buffer.length), nbytes, Math.floor(now / 1000), (now % 1000) * 1_000_000);
      options.onPacket?.();
      if (options.count !== undefined && writer.count >= options.count) finish();
    });
    if (options.durationS !== undefined) timer = setTimeout(finish, options.durationS * 1000);
    options.stop?.then(finish, finish);
    process.once('SIGINT', finish);
    options.onOpen?.(cap);
  });
}

/** Parses aa:bb:cc:dd:ee:ff. */
export function parseMac(text: string): Uint8Array {
  const m = /^([0-9a-fA-F]{2})(?::([0-9a-fA-F]{2})){5}$/.test(text) ? text.split(':').map((h) => parseInt(h, 16)) : undefined;
  if (!m) throw new UsageError(`not a MAC address: ${text}`);
  return Uint8Array.from(m);
}

/**
 * Injects frames on an interface, rewriting the Ethernet addresses and keeping everything from
 * the IP header on. Raw-IP frames get an Ethernet header; VLAN tags are removed.
 */
export class FrameSender {
  private readonly cap: CapHandle;
  private readonly ownsHandle: boolean;
  private readonly out = Buffer.alloc(65535 + 14);
  sent = 0;

  /** `handle`: send on an already open capture handle (the lab's agent uses one per interface). */
  constructor(readonly iface: string, private readonly srcMac: Uint8Array, private readonly dstMac: Uint8Array, handle?: CapHandle) {
    checkInterface(iface);
    this.ownsHandle = handle === undefined;
    if (handle) {
      this.cap = handle;
      return;
    }
    const { Cap } = loadCap();
    this.cap = new Cap();
    try {
      // Capture nothing ("less 0" matches no frame); the handle is only for sending.
      this.cap.open(iface, 'less 1', 65536, Buffer.alloc(64));
    } catch (err) {
      throw new RunFailure(`cannot open ${iface} for sending: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** Sends the IP packet at `ip[ipOffset..]` in a fresh Ethernet header; ethertype from the IP version. */
  sendIp(frame: Uint8Array, ipOffset: number): void {
    const len = frame.length - ipOffset;
    if (len <= 0 || len > 65535) throw new RangeError(`cannot send a ${len}-byte packet`);
    this.out.set(this.dstMac, 0);
    this.out.set(this.srcMac, 6);
    const v6 = frame[ipOffset]! >> 4 === 6;
    this.out[12] = v6 ? 0x86 : 0x08;
    this.out[13] = v6 ? 0xdd : 0x00;
    this.out.set(frame.subarray(ipOffset), 14);
    try {
      this.cap.send(this.out, 14 + len);
    } catch (err) {
      throw new RunFailure(`sending on ${this.iface} failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    this.sent++;
  }

  close(): void {
    if (this.ownsHandle) this.cap.close();
  }
}

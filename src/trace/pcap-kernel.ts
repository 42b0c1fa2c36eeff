/**
 * The pcap and pcapng fast path in WebAssembly (pcap-kernel.wat): the record loop and common-case
 * decoder of TraceParser.parseFast for a run of pcap records or pcapng enhanced packet blocks,
 * 1.5-1.9x the JavaScript loop (README → Benchmarks). The reader's window lives in the kernel's
 * memory, so file bytes are read straight into it; the kernel writes a run's fields into staging
 * columns there, which copyInto moves into the packet batch one column at a time (a memcpy each).
 *
 * Only on little-endian hosts: the staging columns are copied as bytes into the batch's typed
 * arrays, which hold numbers in the host's order, and WebAssembly memory is little-endian.
 */
import { MAX_VLAN_TAGS, type PacketBatch } from './batch.js';
import { EmbeddedModule, WASM_KERNELS_AVAILABLE } from '../wasm.js';
import { PCAP_KERNEL_WASM } from './pcap-kernel-wasm.js';

/** The batch fields the kernel stages, each with its column's export name and bytes per slot. */
const COLUMNS = [
  ['tsSec', 'COL_TS_SEC', 8],
  ['frameNo', 'COL_FRAME_NO', 8],
  ['src', 'COL_SRC', 16],
  ['dst', 'COL_DST', 16],
  ['tsNsec', 'COL_TS_NSEC', 4],
  ['caplen', 'COL_CAPLEN', 4],
  ['wireLen', 'COL_WIRE_LEN', 4],
  ['ipLen', 'COL_IP_LEN', 4],
  ['ipId', 'COL_IP_ID', 4],
  ['tcpSeq', 'COL_TCP_SEQ', 4],
  ['tcpAck', 'COL_TCP_ACK', 4],
  ['flags', 'COL_FLAGS', 2],
  ['sport', 'COL_SPORT', 2],
  ['dport', 'COL_DPORT', 2],
  ['tcpFlags', 'COL_TCP_FLAGS', 2],
  ['tcpWindow', 'COL_TCP_WINDOW', 2],
  ['icmpId', 'COL_ICMP_ID', 2],
  ['l3', 'COL_L3', 1],
  ['proto', 'COL_PROTO', 1],
  ['ttl', 'COL_TTL', 1],
  ['icmpType', 'COL_ICMP_TYPE', 1],
  ['icmpCode', 'COL_ICMP_CODE', 1],
  ['vlanCount', 'COL_VLAN_COUNT', 1],
  ['headLen', 'COL_HEAD_LEN', 1],
  ['linkType', 'COL_LINK_TYPE', 4],
  ['ifIndex', 'COL_IF_INDEX', 2],
] as const satisfies readonly (readonly [keyof PacketBatch, string, number])[];

type DecodeRun = (start: number, end: number, room: number, stage: number, pcapng: number, recordHeader: number, nsPerUnit: number, link: number, linkType: number,
  interfaces: number, ifBase: number, swap: number, headBytes: number, packets: number) => number;

/** A pcapng interface as the kernel needs it (parser.ts InterfaceState). */
export interface KernelInterface {
  /** parser.ts FastLink (0: never the fast path). */
  readonly fast: number;
  readonly linkType: number;
  readonly unitsPerSecond: number;
  readonly offsetSeconds: number;
}

const pcapKernelModule = new EmbeddedModule(PCAP_KERNEL_WASM);

export class PcapKernel {
  /** Whether this host can run the kernel (see the file comment). */
  static readonly available: boolean = WASM_KERNELS_AVAILABLE;

  /** The reader's window: the first bytes of the kernel's memory. */
  readonly window: Uint8Array;
  /** Records a call may take at most (the staging columns' length). */
  readonly slots: number;
  private readonly run: DecodeRun;
  private readonly nextGlobal: WebAssembly.Global;
  private readonly slowGlobal: WebAssembly.Global;
  private readonly taggedGlobal: WebAssembly.Global;
  /** Where the staging columns start in memory. */
  private readonly stage: number;
  private readonly memory8: Uint8Array;
  /** Byte offsets of COLUMNS' staging columns in memory, in COLUMNS' order. */
  private readonly columnAt: Int32Array;
  private readonly headAt: number;
  private readonly vlan: Uint16Array;
  private readonly vlanCount: Uint8Array;
  /** (slot, frame offset) pairs of the records left to the general decoder. */
  private readonly slow: Uint32Array;
  /** pcapng interfaces in the kernel's table (syncInterfaces), and the table as words and f64s. */
  private interfaceCount = 0;
  private readonly interfaceWords: Int32Array;
  private readonly interfaceOffsets: Float64Array;
  /** The list the table was last filled from, and its length then. */
  private interfacesOf: readonly KernelInterface[] | null = null;
  private interfacesLength = 0;
  /** Interfaces the table holds at most. */
  private readonly maxInterfaces: number;
  /** The batch copyInto last wrote, and the byte offsets of COLUMNS' fields in its buffer. */
  private target: PacketBatch | null = null;
  private readonly targetAt = new Int32Array(COLUMNS.length);

  constructor(windowBytes: number) {
    // Staging starts 8-aligned after the window; the memory never grows, so views stay valid.
    const stage = (windowBytes + 7) & ~7;
    const constant = (name: string): number => pcapKernelModule.constant(name);
    const pages = Math.ceil((stage + constant('STAGE_BYTES')) / 65536);
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
    const exports = new WebAssembly.Instance(pcapKernelModule.module, { env: { memory } }).exports;
    this.run = exports['decodeRun'] as DecodeRun;
    this.nextGlobal = exports['next'] as WebAssembly.Global;
    this.slowGlobal = exports['slowCount'] as WebAssembly.Global;
    this.taggedGlobal = exports['tagged'] as WebAssembly.Global;
    this.stage = stage;
    this.slots = constant('SLOTS');
    this.window = new Uint8Array(memory.buffer, 0, windowBytes);
    this.memory8 = new Uint8Array(memory.buffer);
    this.columnAt = Int32Array.from(COLUMNS, ([, column]) => stage + constant(column));
    this.headAt = stage + constant('COL_HEAD');
    this.vlan = new Uint16Array(memory.buffer, stage + constant('COL_VLAN'), this.slots);
    this.vlanCount = new Uint8Array(memory.buffer, stage + constant('COL_VLAN_COUNT'), this.slots);
    this.slow = new Uint32Array(memory.buffer, stage + constant('COL_SLOW'), 2 * this.slots);
    this.maxInterfaces = constant('MAX_INTERFACES');
    this.interfaceWords = new Int32Array(memory.buffer, stage + constant('COL_IFACES'), 8 * this.maxInterfaces);
    this.interfaceOffsets = new Float64Array(memory.buffer, stage + constant('COL_IFACES'), 4 * this.maxInterfaces);
  }

  /**
   * The pcapng section's interfaces, for decodePcapng (the table is filled again when the list is
   * another, a new section's, or has grown). An interface is left to JavaScript (FastLink 0 in the
   * table) unless its link type has a fast path and its timestamp unit divides a second into a
   * whole number of nanoseconds (10^0..10^9 per second: the split is then exact integer
   * arithmetic, as setUnitsTimestamp's); interfaces past the table's size are left too.
   */
  syncInterfaces(interfaces: readonly KernelInterface[]): void {
    if (interfaces === this.interfacesOf && interfaces.length === this.interfacesLength) return;
    this.interfacesOf = interfaces;
    this.interfacesLength = interfaces.length;
    const n = Math.min(interfaces.length, this.maxInterfaces);
    const words = this.interfaceWords;
    for (let i = 0; i < n; i++) {
      const iface = interfaces[i]!;
      const ups = iface.unitsPerSecond;
      const whole = Number.isInteger(ups) && ups >= 1 && ups <= 1e9 && 1e9 % ups === 0;
      words[8 * i] = whole ? iface.fast : 0;
      words[8 * i + 1] = iface.linkType;
      words[8 * i + 2] = whole ? ups : 1;
      words[8 * i + 3] = whole ? 1e9 / ups : 0;
      this.interfaceOffsets[4 * i + 2] = iface.offsetSeconds;
    }
    this.interfaceCount = n;
  }

  /**
   * Decodes the pcap records whole in window[start, end) into staging, at most `room` (<= slots)
   * of them; returns how many it took (see pcap-kernel.wat for where it stops).
   */
  decodePcap(start: number, end: number, room: number, recordHeader: number, nsPerUnit: number, bigEndian: boolean, link: number, linkType: number, headBytes: number, packetsBefore: number): number {
    return this.run(start, end, room, this.stage, 0, recordHeader, nsPerUnit, link, linkType, 0, 0, bigEndian ? 1 : 0, headBytes, packetsBefore);
  }

  /** decodePcap for pcapng enhanced packet blocks of the interfaces syncInterfaces gave (ids from `ifBase`). */
  decodePcapng(start: number, end: number, room: number, bigEndian: boolean, ifBase: number, headBytes: number, packetsBefore: number): number {
    return this.run(start, end, room, this.stage, 1, 0, 0, 0, 0, this.interfaceCount, ifBase, bigEndian ? 1 : 0, headBytes, packetsBefore);
  }

  /** Window offset after the last record the last decode took. */
  get next(): number {
    return this.nextGlobal.value;
  }

  /** Records of the last decode left to the general decoder (slowSlot/slowFrame 0..slowCount-1). */
  get slowCount(): number {
    return this.slowGlobal.value;
  }

  /** The run-relative slot of the k-th record left to the general decoder. */
  slowSlot(k: number): number {
    return this.slow[2 * k]!;
  }

  /** Window offset of the k-th such record's frame. */
  slowFrame(k: number): number {
    return this.slow[2 * k + 1]!;
  }

  /**
   * Copies the last decode's `n` records into batch slots first..first+n-1: every staged column,
   * the head bytes and VLAN ids where tagged.
   */
  copyInto(batch: PacketBatch, first: number, n: number): void {
    const all8 = batch.all8;
    const memory8 = this.memory8;
    const targetAt = this.targetAt;
    if (this.target !== batch) {
      this.target = batch;
      for (let c = 0; c < COLUMNS.length; c++) targetAt[c] = (batch[COLUMNS[c]![0]] as ArrayBufferView).byteOffset;
    }
    for (let c = 0; c < COLUMNS.length; c++) {
      const size = COLUMNS[c]![2];
      const from = this.columnAt[c]!;
      all8.set(memory8.subarray(from, from + n * size), targetAt[c]! + first * size);
    }
    const headBytes = batch.headBytes;
    if (headBytes > 0) batch.head.set(memory8.subarray(this.headAt, this.headAt + n * headBytes), first * headBytes);
    if (this.taggedGlobal.value > 0) {
      const vlan = batch.vlan;
      for (let i = 0; i < n; i++) if (this.vlanCount[i] !== 0) vlan[(first + i) * MAX_VLAN_TAGS] = this.vlan[i]!;
    }
  }
}

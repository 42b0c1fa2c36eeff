import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PacketBatch, PacketFlag } from '../../src/trace/batch.js';
import { minimumPackets, PATTERNS, resolveGenerateOptions, TraceGenerator, type GenerateOptions } from '../../src/trace/generate.js';
import { readTraceBytes } from '../../src/trace/reader.js';
import { MemoryTraceWriter, type TraceFormat, type TimePrecision } from '../../src/trace/write.js';

/** Per packet: what the generator says it wrote, as one comparable row. */
type Row = (number | string)[];

function generate(options: GenerateOptions, format: TraceFormat, precision: TimePrecision): { bytes: Uint8Array; rows: Row[] } {
  const gen = new TraceGenerator(options);
  const w = new MemoryTraceWriter({ format, precision, interfaces: [{ linkType: gen.linkType }] });
  const enc = w.encoder;
  const rows: Row[] = [];
  for (;;) {
    const at = enc.frameSlot(gen.maxFrameBytes);
    const len = gen.next(enc.buffer, at);
    if (len === 0) break;
    enc.commitFrame(gen.tsSec, gen.tsNsec, gen.caplen, len);
    const icmp = gen.proto === 1 || gen.proto === 58;
    // Microsecond files keep the time to the microsecond.
    const nsec = precision === 'us' ? Math.floor(gen.tsNsec / 1000) * 1000 : gen.tsNsec;
    rows.push([gen.tsSec, nsec, len, gen.l3, gen.proto, [...gen.src].join('.'), [...gen.dst].join('.'), icmp ? 0 : gen.sport, icmp ? 0 : gen.dport,
      gen.proto === 6 ? gen.tcpFlags : -1, gen.proto === 6 ? gen.tcpSeq : -1, gen.proto === 6 ? gen.tcpAck : -1, icmp ? gen.icmpType : -1, icmp ? gen.icmpId : -1, gen.ipLen]);
  }
  return { bytes: w.bytes(), rows };
}

function read(bytes: Uint8Array): Row[] {
  const rows: Row[] = [];
  readTraceBytes(bytes, new PacketBatch(257), (b) => {
    for (let i = 0; i < b.count; i++) {
      const w = i * 4;
      const l3 = b.l3[i]!;
      const addr = (a: Uint32Array): string => (l3 === 4 ? [a[w]!, 0, 0, 0] : [a[w]!, a[w + 1]!, a[w + 2]!, a[w + 3]!]).join('.');
      const f = b.flags[i]!;
      const proto = b.proto[i]!;
      const icmp = proto === 1 || proto === 58;
      expect(f & (PacketFlag.IP | (icmp ? PacketFlag.ICMP : PacketFlag.PORTS))).toBe(PacketFlag.IP | (icmp ? PacketFlag.ICMP : PacketFlag.PORTS));
      rows.push([b.tsSec[i]!, b.tsNsec[i]!, b.wireLen[i]!, l3, proto, addr(b.src), addr(b.dst), icmp ? 0 : b.sport[i]!, icmp ? 0 : b.dport[i]!,
        proto === 6 ? b.tcpFlags[i]! : -1, proto === 6 ? b.tcpSeq[i]! : -1, proto === 6 ? b.tcpAck[i]! : -1, icmp ? b.icmpType[i]! : -1, icmp ? b.icmpId[i]! : -1, b.ipLen[i]!]);
    }
  });
  return rows;
}

const options: fc.Arbitrary<GenerateOptions> = fc.record({
  seed: fc.nat(),
  pattern: fc.constantFrom(...PATTERNS),
  flows: fc.integer({ min: 1, max: 30 }),
  packets: fc.integer({ min: 1, max: 400 }),
  pps: fc.integer({ min: 1, max: 2_000_000 }),
  ipv6: fc.constantFrom(0, 0.5, 1),
  mix: fc.record({ tcp: fc.nat(5), udp: fc.nat(5), icmp: fc.nat(5) }).filter((m) => m.tcp + m.udp + m.icmp > 0),
  payloadMin: fc.constant(0),
  payloadMax: fc.integer({ min: 0, max: 1440 }),
  concurrent: fc.integer({ min: 1, max: 20 }),
}).map((o) => {
  // The generator wants enough packets for complete lifecycles.
  const need = minimumPackets(resolveGenerateOptions(o));
  return { ...o, packets: Math.max(o.packets, need) };
});

describe('generate -> write -> read round trip', () => {
  it('pcap (us, ns) and pcapng give back the tuples, flags, times and lengths the generator wrote', () => {
    fc.assert(
      fc.property(options, fc.constantFrom<[TraceFormat, TimePrecision]>(['pcap', 'us'], ['pcap', 'ns'], ['pcapng', 'ns'], ['pcapng', 'us']), (o, [format, precision]) => {
        const { bytes, rows } = generate(o, format, precision);
        expect(rows.length).toBe(o.packets);
        expect(read(bytes)).toEqual(rows);
      }),
      { numRuns: 40 },
    );
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PATTERNS, TraceGenerator, type GenerateOptions } from '../../src/trace/generate.js';
import { MemoryTraceWriter, type TimePrecision, type TraceFormat } from '../../src/trace/write.js';
import { parseFrame, readPcap, readPcapng } from './frames.js';

function addrText(family: number, w: Uint32Array): string {
  if (family === 4) return `${w[0]! >>> 24}.${(w[0]! >>> 16) & 255}.${(w[0]! >>> 8) & 255}.${w[0]! & 255}`;
  const g: string[] = [];
  for (let k = 0; k < 4; k++) g.push((w[k]! >>> 16).toString(16), (w[k]! & 0xffff).toString(16));
  return g.join(':');
}

// The tuple the generator says it wrote, and the one an independent parser reads from the file.
describe('generate → write → read (property)', () => {
  it('reads back the tuples, timestamps and lengths the generator reported, with valid checksums', () => {
    const options = fc.record({
      seed: fc.integer({ min: 0, max: 2 ** 31 }),
      pattern: fc.constantFrom(...PATTERNS),
      flows: fc.integer({ min: 1, max: 25 }),
      extra: fc.integer({ min: 0, max: 250 }),
      ipv6: fc.constantFrom(0, 0.3, 1),
      tcp: fc.integer({ min: 0, max: 3 }),
      udp: fc.integer({ min: 0, max: 3 }),
      icmp: fc.integer({ min: 1, max: 3 }),
      pps: fc.integer({ min: 1, max: 5_000_000 }),
      payloadMax: fc.integer({ min: 0, max: 1440 }),
      snaplen: fc.oneof(fc.constant(262144), fc.integer({ min: 78, max: 1600 })),
      format: fc.constantFrom<TraceFormat>('pcap', 'pcapng'),
      precision: fc.constantFrom<TimePrecision>('us', 'ns'),
    });
    fc.assert(
      fc.property(options, (o) => {
        const gen: GenerateOptions = {
          seed: o.seed, pattern: o.pattern, flows: o.flows, packets: o.flows * 4 + o.extra, ipv6: o.ipv6,
          mix: { tcp: o.tcp, udp: o.udp, icmp: o.icmp }, pps: o.pps, payloadMin: 0, payloadMax: o.payloadMax, snaplen: o.snaplen,
        };
        const g = new TraceGenerator(gen);
        const w = new MemoryTraceWriter({ format: o.format, precision: o.precision, interfaces: [{ linkType: 1, snaplen: o.snaplen }] });
        const expected: string[] = [];
        const times: number[][] = [];
        const buf = new Uint8Array(g.maxFrameBytes);
        let len: number;
        while ((len = g.next(buf, 0)) > 0) {
          w.writePacket(g.tsSec, g.tsNsec, buf, 0, g.caplen, len);
          const ports = g.proto === 6 || g.proto === 17 ? `${g.sport}>${g.dport}` : `icmp ${g.icmpType} id ${g.icmpId}`;
          expected.push(`${g.l3} ${addrText(g.l3, g.src)}>${addrText(g.l3, g.dst)} p${g.proto} ${ports} f${g.tcpFlags} ${g.caplen}/${len}`);
          times.push([g.tsSec, o.precision === 'ns' ? g.tsNsec : Math.floor(g.tsNsec / 1000)]);
        }
        expect(expected).toHaveLength(gen.packets!);
        const bytes = w.bytes();
        const unit = o.precision === 'ns' ? 1_000_000_000n : 1_000_000n;
        const frames = o.format === 'pcap'
          ? readPcap(bytes).frames
          : readPcapng(bytes).frames.map((f) => ({ ...f, tsSec: Number(f.ts / unit), tsFrac: Number(f.ts % unit) }));
        const got = frames.map((f) => {
          const p = parseFrame(f.data);
          if (f.caplen === f.wireLen && !p.checksumsOk) return `bad checksum in ${Buffer.from(f.data).toString('hex')}`;
          const ports = p.proto === 6 || p.proto === 17 ? `${p.sport}>${p.dport}` : `icmp ${p.icmpType} id ${p.icmpId}`;
          return `${p.family} ${p.src}>${p.dst} p${p.proto} ${ports} f${p.tcpFlags} ${f.caplen}/${f.wireLen}`;
        });
        expect(got).toEqual(expected);
        expect(frames.map((f) => [f.tsSec, f.tsFrac])).toEqual(times);
      }),
      { numRuns: 40 },
    );
  });
});

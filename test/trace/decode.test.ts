import { describe, expect, it } from 'vitest';
import { PacketBatch, PacketFlag } from '../../src/trace/batch.js';
import { decodeFrame, linkTypeName } from '../../src/trace/decode.js';
import { formatIPv6, tupleFields } from '../../src/trace/format.js';
import { ETH_HEADER, IPV4_TCP_SYN, IPV6_UDP } from './build.js';

const batch = new PacketBatch(4);

/** Decodes one frame into slot 1 and returns the truth columns 6..14 (l3 .. ip_frag). */
function decode(linkType: number, frame: readonly number[]): string {
  batch.resetSlot(1);
  batch.linkType[1] = linkType;
  decodeFrame(Uint8Array.from(frame), 0, frame.length, linkType, batch, 1);
  return tupleFields(batch, 1, []).slice(5).join(' ');
}

const SYN = '4 192.0.2.1 198.51.100.7 6 1234 80 0x0002';
const V6 = '6 2001:db8::1 ff02::fb 17 5353 53 -';

describe('link layers', () => {
  it('NULL in both byte orders (AF_INET 2, AF_INET6 24/28/30/10) and OpenBSD LOOP', () => {
    expect(decode(0, [2, 0, 0, 0, ...IPV4_TCP_SYN])).toBe(`${SYN} - 0`);
    expect(decode(0, [0, 0, 0, 2, ...IPV4_TCP_SYN])).toBe(`${SYN} - 0`);
    expect(decode(0, [30, 0, 0, 0, ...IPV6_UDP])).toBe(`${V6} - 0`);
    expect(decode(0, [0, 0, 0, 24, ...IPV6_UDP])).toBe(`${V6} - 0`);
    expect(decode(108, [0, 0, 0, 2, ...IPV4_TCP_SYN])).toBe(`${SYN} - 0`);
    expect(decode(0, [7, 0, 0, 0, ...IPV4_TCP_SYN])).toBe('- - - - - - - - -');
  });

  it('Linux SLL and SLL2', () => {
    const sll = [0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x86, 0xdd];
    expect(decode(113, [...sll, ...IPV6_UDP])).toBe(`${V6} - 0`);
    const sll2 = [0x08, 0x00, 0, 0, 0, 0, 0, 3, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0];
    expect(decode(276, [...sll2, ...IPV4_TCP_SYN])).toBe(`${SYN} - 0`);
    expect(linkTypeName(276)).toBe('Linux cooked-mode capture v2');
  });

  it('802.1Q, 802.1ad + 802.1Q (QinQ), PPPoE session, MPLS', () => {
    const eth = ETH_HEADER(0x88a8);
    expect(decode(1, [...eth, 0x00, 0xc8, 0x81, 0x00, 0x27, 0xd1, 0x08, 0x00, ...IPV4_TCP_SYN])).toBe(`${SYN} 200,2001 0`);
    expect(decode(1, [...ETH_HEADER(0x8100), 0x20, 0x0a, 0x86, 0xdd, ...IPV6_UDP])).toBe(`${V6} 10 0`);
    expect(decode(1, [...ETH_HEADER(0x8864), 0x11, 0x00, 0x12, 0x34, 0x00, 0x2a, 0x00, 0x21, ...IPV4_TCP_SYN])).toBe(`${SYN} - 0`);
    // Two labels, the second with bottom-of-stack, then IPv6 (first nibble 6).
    expect(decode(1, [...ETH_HEADER(0x8847), 0x00, 0x01, 0x00, 0x40, 0x00, 0x02, 0x01, 0x40, ...IPV6_UDP])).toBe(`${V6} - 0`);
  });

  it('PPP with and without HDLC address/control, protocol-field compression', () => {
    expect(decode(9, [0xff, 0x03, 0x00, 0x21, ...IPV4_TCP_SYN])).toBe(`${SYN} - 0`);
    expect(decode(50, [0x00, 0x57, ...IPV6_UDP])).toBe(`${V6} - 0`);
    expect(decode(9, [0x21, ...IPV4_TCP_SYN])).toBe(`${SYN} - 0`);
  });

  it('NFLOG: skips TLVs to NFULA_PAYLOAD, family from the nfgenmsg header', () => {
    const prefix = [2, 0, 0, 1, /* NFULA_PACKET_HDR len 8 */ 8, 0, 1, 0, 0x08, 0x00, 3, 0, /* NFULA_PREFIX "ab\0" len 7 */ 7, 0, 10, 0, 0x61, 0x62, 0, 0];
    const payload = [IPV4_TCP_SYN.length + 4, 0, 9, 0, ...IPV4_TCP_SYN];
    expect(decode(239, [...prefix, ...payload])).toBe(`${SYN} - 0`);
  });

  it('Linux ARCNET (RFC 1051 and RFC 1201 framing), ATM CLIP, Apple PKTAP', () => {
    expect(decode(129, [0xbe, 0x50, 0xab, 0x08, 0xf0, ...IPV4_TCP_SYN])).toBe(`${SYN} - 0`);
    expect(decode(129, [0xbe, 0x50, 0xab, 0x08, 0xd4, 0x00, 0x00, 0x01, ...IPV4_TCP_SYN])).toBe(`${SYN} - 0`);
    // Exception packet: protocol, split flag 0xff, 2 pad bytes, then protocol, split flag, sequence again.
    expect(decode(129, [0xbe, 0x50, 0xab, 0x08, 0xd4, 0xff, 0xff, 0xff, 0xd4, 0x00, 0x00, 0x01, ...IPV4_TCP_SYN])).toBe(`${SYN} - 0`);
    expect(decode(106, [0xaa, 0xaa, 0x03, 0, 0, 0, 0x86, 0xdd, ...IPV6_UDP])).toBe(`${V6} - 0`);
    expect(decode(106, IPV4_TCP_SYN)).toBe(`${SYN} - 0`);
    const pktapHeader = [12, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0];
    expect(decode(258, [...pktapHeader, ...ETH_HEADER(0x0800), ...IPV4_TCP_SYN])).toBe(`${SYN} - 0`);
  });

  it('other link types are LINK_NOT_DECODED, not an error', () => {
    expect(decode(127, [0, 0, 8, 0, 0, 0, 0, 0, ...IPV4_TCP_SYN])).toBe('- - - - - - - - -');
    expect(batch.flags[1]).toBe(PacketFlag.LINK_NOT_DECODED);
  });
});

describe('IP and transport', () => {
  it('fills TCP seq/ack/window, ttl, id, ipLen and the head bytes', () => {
    const syn = [...IPV4_TCP_SYN];
    syn[24] = 0xde; syn[25] = 0xad; syn[26] = 0xbe; syn[27] = 0xef; // seq
    syn[33] = 0xd7; // flags low byte; the AE bit comes from byte 12's low nibble
    syn[32] = 0x51;
    decode(101, syn);
    expect(batch.tcpSeq[1]).toBe(0xdeadbeef);
    expect(batch.tcpFlags[1]).toBe(0x1d7);
    expect(batch.tcpWindow[1]).toBe(0x7210);
    expect(batch.ttl[1]).toBe(64);
    expect(batch.ipId[1]).toBe(0x1c46);
    expect(batch.ipLen[1]).toBe(40);
    expect(batch.headLen[1]).toBe(40);
    expect([...batch.head.subarray(batch.headBytes, batch.headBytes + 4)]).toEqual([0x45, 0x00, 0x00, 0x28]);
  });

  it('IPv4 options and fragments: the first fragment has ports, later ones do not', () => {
    const withOptions = [0x46, 0, 0, 44, 0, 1, 0x20, 0x00, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 1, 1, 1, 0, 0x00, 0x35, 0x30, 0x39, 0, 8, 0, 0];
    expect(decode(101, withOptions)).toBe('4 10.0.0.1 10.0.0.2 17 53 12345 - - 1');
    const later = [0x45, 0, 0, 28, 0, 1, 0x00, 0x10, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 0x00, 0x35, 0x30, 0x39, 0, 8, 0, 0];
    expect(decode(101, later)).toBe('4 10.0.0.1 10.0.0.2 17 - - - - 1');
    expect(batch.flags[1]! & PacketFlag.LATER_FRAGMENT).toBeTruthy();
    expect(batch.fragOffset[1]).toBe(16);
  });

  it('IPv6 extension chain: hop-by-hop, destination options, then AH is the protocol', () => {
    const base = IPV6_UDP.slice(0, 40);
    base[6] = 0; // next: hop-by-hop
    const hbh = [60, 0, 1, 4, 0, 0, 0, 0];
    const dst = [51, 0, 1, 4, 0, 0, 0, 0];
    const ah = [17, 4, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    const frame = [...base, ...hbh, ...dst, ...ah];
    frame[5] = frame.length - 40;
    expect(decode(229, frame)).toBe('6 2001:db8::1 ff02::fb 51 - - - - 0');
  });

  it('IPv6 fragment header: first fragment decoded down to UDP, later fragment without ports', () => {
    const base = IPV6_UDP.slice(0, 40);
    base[6] = 44;
    const first = [...base, 17, 0, 0x00, 0x01, 0, 0, 0, 9, ...IPV6_UDP.slice(40)];
    first[5] = first.length - 40;
    expect(decode(229, first)).toBe('6 2001:db8::1 ff02::fb 17 5353 53 - - 1');
    expect(batch.ipId[1]).toBe(9);
    const later = [...base, 17, 0, 0x00, 0xb8, 0, 0, 0, 9, ...IPV6_UDP.slice(40)];
    later[5] = later.length - 40;
    expect(decode(229, later)).toBe('6 2001:db8::1 ff02::fb 17 - - - - 1');
    expect(batch.fragOffset[1]).toBe(23);
  });

  it('ICMP echo type/code/id; SCTP ports', () => {
    const icmp = [0x45, 0, 0, 28, 0, 1, 0, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 8, 0, 0, 0, 0x12, 0x34, 0, 1];
    expect(decode(228, icmp)).toBe('4 10.0.0.1 10.0.0.2 1 - - - - 0');
    expect([batch.icmpType[1], batch.icmpCode[1], batch.icmpId[1]]).toEqual([8, 0, 0x1234]);
    const sctp = [0x45, 0, 0, 32, 0, 1, 0, 0, 64, 132, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 0x0b, 0x59, 0x0b, 0x59, 0, 0, 0, 0, 0, 0, 0, 0];
    expect(decode(228, sctp)).toBe('4 10.0.0.1 10.0.0.2 132 2905 2905 - - 0');
  });

  it('a cut IPv4 header yields the fields before the cut, as tshark shows them', () => {
    expect(decode(101, IPV4_TCP_SYN.slice(0, 15))).toBe('4 - - 6 - - - - 0');
    expect(decode(101, IPV4_TCP_SYN.slice(0, 19))).toBe('4 192.0.2.1 - 6 - - - - 0');
    expect(decode(101, [0x43, ...IPV4_TCP_SYN.slice(1)])).toBe('4 - - - - - - - -');
  });
});

describe('IPv6 text (RFC 5952 / inet_ntop)', () => {
  it.each([
    [[0x20010db8, 0, 0, 1], '2001:db8::1'],
    [[0, 0, 0, 1], '::1'],
    [[0, 0, 0, 0], '::'],
    [[0x20010db8, 0, 1, 0], '2001:db8::1:0:0'],
    [[0x20010db8, 0x00000001, 0, 1], '2001:db8:0:1::1'],
    [[0x20010db8, 0x00010000, 0x00010001, 0x00010001], '2001:db8:1:0:1:1:1:1'],
    [[0, 0, 0xffff, 0xc0000201], '::ffff:192.0.2.1'],
    [[0xfe800000, 0, 0x021122ff, 0xfe334455], 'fe80::211:22ff:fe33:4455'],
    [[0x20010000, 0, 0x00010000, 0], '2001::1:0:0:0'],
  ])('%j → %s', (w, text) => {
    expect(formatIPv6(w[0]!, w[1]!, w[2]!, w[3]!)).toBe(text);
  });
});

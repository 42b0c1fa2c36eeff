/**
 * Per-frame decoder: link layer → outermost IP header → transport header, written straight into
 * one PacketBatch slot. Like gopacket's DecodingLayerParser it works in place on the caller's
 * bytes and allocates nothing; problems become flags (TRUNCATED, MALFORMED, IP_PARTIAL), never
 * exceptions.
 *
 * What counts as "outermost IP" and which fields are readable follow tshark 4.0 (the corpus
 * truth): e.g. an IPv4 header with a bad version or total length starts the IP layer (l3 set) but
 * yields no addresses; TCP ports are read before the header length is checked, the flags after.
 */
import { HOST_LITTLE_ENDIAN, MAX_VLAN_TAGS, PacketFlag, type PacketBatch } from './batch.js';

/** LINKTYPE_* values (https://www.tcpdump.org/linktypes.html) the decoder understands. */
export const enum LinkType {
  NULL = 0,
  ETHERNET = 1,
  PPP = 9,
  RAW_OPENBSD = 12,
  RAW_BSDOS = 14,
  PPP_HDLC = 50,
  RAW = 101,
  C_HDLC = 104,
  ATM_CLIP = 106,
  FRELAY = 107,
  LOOP = 108,
  LINUX_SLL = 113,
  ARCNET_LINUX = 129,
  IPNET = 226,
  IPV4 = 228,
  IPV6 = 229,
  NFLOG = 239,
  IPOIB = 242,
  PKTAP = 258,
  LINUX_SLL2 = 276,
}

/** Link types decodeFrame handles (others get LINK_NOT_DECODED). */
export function isDecodedLinkType(linkType: number): boolean {
  switch (linkType) {
    case LinkType.NULL: case LinkType.ETHERNET: case LinkType.PPP: case LinkType.RAW_OPENBSD:
    case LinkType.RAW_BSDOS: case LinkType.PPP_HDLC: case LinkType.RAW: case LinkType.C_HDLC:
    case LinkType.FRELAY: case LinkType.LOOP: case LinkType.LINUX_SLL: case LinkType.IPNET:
    case LinkType.IPV4: case LinkType.IPV6: case LinkType.NFLOG: case LinkType.IPOIB:
    case LinkType.LINUX_SLL2: case LinkType.ATM_CLIP: case LinkType.ARCNET_LINUX: case LinkType.PKTAP:
      return true;
    default:
      return false;
  }
}

/** tshark's encapsulation names (frame.encap_type as text) for the link types of the corpus and ours. */
const LINK_TYPE_NAMES: ReadonlyMap<number, string> = new Map([
  [0, 'NULL/Loopback'], [1, 'Ethernet'], [8, 'SLIP'], [9, 'PPP'], [12, 'Raw IP'], [14, 'Raw IP'],
  [50, 'PPP'], [100, 'RFC 1483 ATM'], [101, 'Raw IP'], [104, 'Cisco HDLC'],
  [105, 'IEEE 802.11 Wireless LAN'], [106, 'Linux ATM CLIP'], [107, 'Frame Relay'],
  [108, 'OpenBSD loopback'], [113, 'Linux cooked-mode capture v1'], [123, 'ATM PDUs'],
  [127, 'IEEE 802.11 plus radiotap radio header'], [129, 'Linux ARCNET'], [137, 'Juniper ATM1'],
  [147, 'USER 0'], [148, 'USER 1'], [149, 'USER 2'], [150, 'USER 3'], [151, 'USER 4'], [152, 'USER 5'],
  [153, 'USER 6'], [154, 'USER 7'], [155, 'USER 8'], [156, 'USER 9'], [157, 'USER 10'], [158, 'USER 11'],
  [159, 'USER 12'], [160, 'USER 13'], [161, 'USER 14'], [162, 'USER 15'],
  [178, 'Juniper Ethernet'], [195, 'IEEE 802.15.4 Wireless PAN'], [226, 'Solaris IPNET'],
  [228, 'Raw IPv4'], [229, 'Raw IPv6'], [231, 'D-Bus'], [239, 'NFLOG'], [242, 'IP over IB'],
  [258, 'Apple PKTAP'], [271, 'Linux vsock'], [276, 'Linux cooked-mode capture v2'],
]);

export function linkTypeName(linkType: number): string {
  return LINK_TYPE_NAMES.get(linkType) ?? `LINKTYPE ${linkType}`;
}

const ETH_IPV4 = 0x0800;
const ETH_IPV6 = 0x86dd;
const ETH_VLAN = 0x8100;
const ETH_QINQ_OLD = 0x9100;
const ETH_8021AD = 0x88a8;
const ETH_PPPOE_SESSION = 0x8864;
const ETH_MPLS = 0x8847;
const ETH_MPLS_MC = 0x8848;
const ETH_MACSEC = 0x88e5;
const ETH_NSH = 0x894f;
const ETH_ARISTA = 0xd28b;

/** Bound on chained headers (VLAN tags, MPLS labels, IPv6 extensions) so hostile input cannot loop. */
const MAX_CHAIN = 16;

/**
 * A DataView over the bytes being decoded, for 16/32-bit fields (one load instead of two or
 * four). Rebuilt only when the caller passes a different buffer (a reader reuses one window).
 */
let viewBytes: Uint8Array | null = null;
let dv: DataView = new DataView(new ArrayBuffer(0));

/**
 * Decodes one frame of `caplen` bytes at `offset` of `bytes` into slot `slot` (which the caller
 * has reset). Returns the flags written.
 */
export function decodeFrame(bytes: Uint8Array, offset: number, caplen: number, linkType: number, batch: PacketBatch, slot: number): number {
  if (bytes !== viewBytes) {
    viewBytes = bytes;
    dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  const flags = decodeLink(bytes, offset, offset + caplen, linkType, batch, slot, 0);
  batch.flags[slot] = flags;
  return flags;
}

function decodeLink(bytes: Uint8Array, offset: number, end: number, linkType: number, batch: PacketBatch, slot: number, depth: number): number {
  // The common case first: untagged Ethernet carrying IPv4.
  if (linkType === LinkType.ETHERNET && end - offset >= 14 && bytes[offset + 12] === 0x08 && bytes[offset + 13] === 0x00) {
    return decodeIPv4(bytes, offset + 14, end, batch, slot);
  }
  let flags = 0;
  switch (linkType) {
    case LinkType.ETHERNET:
      flags = decodeEthernet(bytes, offset, end, batch, slot);
      break;
    case LinkType.RAW: case LinkType.RAW_OPENBSD: case LinkType.RAW_BSDOS:
      flags = decodeRawIp(bytes, offset, end, batch, slot);
      break;
    case LinkType.IPV4:
      flags = decodeIPv4(bytes, offset, end, batch, slot);
      break;
    case LinkType.IPV6:
      flags = decodeIPv6(bytes, offset, end, batch, slot);
      break;
    case LinkType.NULL:
      flags = decodeNull(bytes, offset, end, batch, slot, false);
      break;
    case LinkType.LOOP:
      flags = decodeNull(bytes, offset, end, batch, slot, true);
      break;
    case LinkType.LINUX_SLL:
      // sll_header: pkttype(2) hatype(2) halen(2) addr(8) protocol(2); net/packet/af_packet.c
      flags = end - offset < 16 ? PacketFlag.TRUNCATED : decodeSllProtocol(bytes, offset + 16, end, (bytes[offset + 14]! << 8) | bytes[offset + 15]!, batch, slot);
      break;
    case LinkType.LINUX_SLL2:
      // sll2_header: protocol(2) reserved(2) ifindex(4) hatype(2) pkttype(1) halen(1) addr(8)
      flags = end - offset < 20 ? PacketFlag.TRUNCATED : decodeSllProtocol(bytes, offset + 20, end, (bytes[offset]! << 8) | bytes[offset + 1]!, batch, slot);
      break;
    case LinkType.PPP: case LinkType.PPP_HDLC:
      flags = decodePpp(bytes, offset, end, batch, slot, true);
      break;
    case LinkType.C_HDLC:
      // address(1) control(1) protocol(2, an EtherType)
      flags = end - offset < 4 ? PacketFlag.TRUNCATED : decodeEtherType(bytes, offset + 4, end, (bytes[offset + 2]! << 8) | bytes[offset + 3]!, batch, slot, 0);
      break;
    case LinkType.FRELAY:
      flags = decodeFrameRelay(bytes, offset, end, batch, slot);
      break;
    case LinkType.NFLOG:
      flags = decodeNflog(bytes, offset, end, batch, slot);
      break;
    case LinkType.IPOIB:
      // 20-byte destination and source hardware addresses, then RFC 4391's type(2) reserved(2)
      flags = end - offset < 44 ? PacketFlag.TRUNCATED : decodeEtherType(bytes, offset + 44, end, (bytes[offset + 40]! << 8) | bytes[offset + 41]!, batch, slot, 0);
      break;
    case LinkType.IPNET:
      flags = decodeIpnet(bytes, offset, end, batch, slot);
      break;
    case LinkType.ATM_CLIP:
      // Linux ATM Classical IP: an 802.2 LLC/SNAP header (RFC 2684) when it starts with aa aa 03,
      // else a bare IPv4 datagram (what tshark assumes).
      flags = end - offset >= 3 && bytes[offset] === 0xaa && bytes[offset + 1] === 0xaa && bytes[offset + 2] === 0x03
        ? decodeLlc(bytes, offset, end, batch, slot, 0)
        : decodeIPv4(bytes, offset, end, batch, slot);
      break;
    case LinkType.ARCNET_LINUX:
      flags = decodeArcnet(bytes, offset, end, batch, slot);
      break;
    case LinkType.PKTAP: {
      // Apple PKTAP: header length (u32, little-endian) and the inner DLT (u32) lead the header.
      if (end - offset < 8) return PacketFlag.TRUNCATED;
      const headerLen = dv.getUint32(offset, true);
      const inner = dv.getUint32(offset + 4, true);
      if (headerLen < 8 || offset + headerLen > end) return PacketFlag.MALFORMED;
      if (depth > 0 || inner === LinkType.PKTAP || !isDecodedLinkType(inner)) return 0;
      return decodeLink(bytes, offset + headerLen, end, inner, batch, slot, depth + 1);
    }
    default:
      flags = PacketFlag.LINK_NOT_DECODED;
  }
  return flags;
}

function decodeRawIp(b: Uint8Array, o: number, end: number, batch: PacketBatch, slot: number): number {
  if (o >= end) return PacketFlag.TRUNCATED;
  const version = b[o]! >> 4;
  if (version === 4) return decodeIPv4(b, o, end, batch, slot);
  if (version === 6) return decodeIPv6(b, o, end, batch, slot);
  return PacketFlag.MALFORMED;
}

/** Ethernet II / 802.3; net/ethernet/eth.c eth_type_trans. */
function decodeEthernet(b: Uint8Array, o: number, end: number, batch: PacketBatch, slot: number): number {
  if (end - o < 14) return PacketFlag.TRUNCATED;
  const type = (b[o + 12]! << 8) | b[o + 13]!;
  return decodeEtherType(b, o + 14, end, type, batch, slot, 0);
}

/** 802.2 LLC after an 802.3 length field: SNAP with an EtherType, or SAP 0x06 (IP). */
function decodeLlc(b: Uint8Array, o: number, end: number, batch: PacketBatch, slot: number, depth: number): number {
  if (end - o < 3) return PacketFlag.TRUNCATED;
  const dsap = b[o]!;
  const ssap = b[o + 1]!;
  if (dsap === 0xaa && ssap === 0xaa && b[o + 2] === 0x03) {
    if (end - o < 8) return PacketFlag.TRUNCATED;
    if (b[o + 3] === 0 && b[o + 4] === 0 && b[o + 5] === 0) {
      return decodeEtherType(b, o + 8, end, (b[o + 6]! << 8) | b[o + 7]!, batch, slot, depth + 1);
    }
    return 0;
  }
  if (dsap === 0x06 && ssap === 0x06) return decodeIPv4(b, o + 3, end, batch, slot);
  return 0;
}

/** Dispatches on an EtherType: IP, VLAN tags, PPPoE session, MPLS; anything else is "no IP". */
function decodeEtherType(b: Uint8Array, o: number, end: number, type: number, batch: PacketBatch, slot: number, depth: number): number {
  for (let guard = 0; guard < MAX_CHAIN; guard++) {
    switch (type) {
      case ETH_IPV4:
        return decodeIPv4(b, o, end, batch, slot);
      case ETH_IPV6:
        return decodeIPv6(b, o, end, batch, slot);
      case ETH_VLAN: case ETH_QINQ_OLD: case ETH_8021AD: {
        if (end - o < 4) return PacketFlag.TRUNCATED;
        const n = batch.vlanCount[slot]!;
        if (n < MAX_VLAN_TAGS) {
          batch.vlan[slot * MAX_VLAN_TAGS + n] = ((b[o]! << 8) | b[o + 1]!) & 0x0fff;
          batch.vlanCount[slot] = n + 1;
        }
        type = (b[o + 2]! << 8) | b[o + 3]!;
        o += 4;
        if (type <= 1500) return decodeLlc(b, o, end, batch, slot, depth);
        continue;
      }
      case ETH_PPPOE_SESSION:
        // ver/type(1) code(1) session(2) length(2), then a PPP protocol field; RFC 2516
        if (end - o < 6) return PacketFlag.TRUNCATED;
        return decodePpp(b, o + 6, end, batch, slot, false);
      case ETH_MPLS: case ETH_MPLS_MC:
        return decodeMpls(b, o, end, batch, slot);
      case ETH_MACSEC: {
        // IEEE 802.1AE SecTAG: TCI/AN(1) SL(1) PN(4) [SCI(8) when TCI.SC]; the user data of an
        // integrity-only frame (E = 0) begins with the protected frame's EtherType.
        if (end - o < 6) return PacketFlag.TRUNCATED;
        const tci = b[o]!;
        if (tci & 0x0c) return 0; // encrypted or changed text: tshark shows data
        o += tci & 0x20 ? 14 : 6;
        if (end - o < 2) return PacketFlag.TRUNCATED;
        type = (b[o]! << 8) | b[o + 1]!;
        o += 2;
        continue;
      }
      case ETH_NSH: {
        // RFC 8300: base header (length in 4-byte words in the low 6 bits of byte 1), next protocol in byte 3.
        if (end - o < 8) return PacketFlag.TRUNCATED;
        const length = (b[o + 1]! & 0x3f) * 4;
        const nextProtocol = b[o + 3]!;
        if (length < 8) return PacketFlag.MALFORMED;
        o += length;
        if (nextProtocol === 1) return decodeIPv4(b, o, end, batch, slot);
        if (nextProtocol === 2) return decodeIPv6(b, o, end, batch, slot);
        if (nextProtocol === 3) return decodeEthernet(b, o, end, batch, slot);
        if (nextProtocol === 5) return decodeMpls(b, o, end, batch, slot);
        return 0;
      }
      case ETH_ARISTA: {
        // Arista vendor-specific protocol: subtype(2) version(2), timestamp (64-bit for versions
        // 0x0010 TAI / 0x0110 UTC, 48-bit for 0x0020 / 0x0120), then the EtherType; tshark
        // decodes no further for the other versions.
        if (end - o < 4) return PacketFlag.TRUNCATED;
        const subtype = (b[o]! << 8) | b[o + 1]!;
        const version = (b[o + 2]! << 8) | b[o + 3]!;
        if (subtype !== 1) return 0;
        const tsBytes = version === 0x10 || version === 0x110 ? 8 : version === 0x20 || version === 0x120 ? 6 : -1;
        if (tsBytes < 0) return 0;
        o += 4 + tsBytes;
        if (end - o < 2) return PacketFlag.TRUNCATED;
        type = (b[o]! << 8) | b[o + 1]!;
        o += 2;
        continue;
      }
      default:
        if (type <= 1500 && depth === 0) return decodeLlc(b, o, end, batch, slot, depth);
        return 0;
    }
  }
  return PacketFlag.MALFORMED;
}

/** A Linux cooked-capture protocol field: an EtherType, or one of the ETH_P_802_* pseudo types. */
function decodeSllProtocol(b: Uint8Array, o: number, end: number, protocol: number, batch: PacketBatch, slot: number): number {
  if (protocol === 0x0004) return decodeLlc(b, o, end, batch, slot, 0); // ETH_P_802_2
  if (protocol < 0x0600) return 0;
  return decodeEtherType(b, o, end, protocol, batch, slot, 1);
}

/** MPLS label stack up to bottom of stack, then IPv4/IPv6 guessed from the first nibble as tshark does. */
function decodeMpls(b: Uint8Array, o: number, end: number, batch: PacketBatch, slot: number): number {
  for (let guard = 0; guard < MAX_CHAIN; guard++) {
    if (end - o < 4) return PacketFlag.TRUNCATED;
    const bottom = b[o + 2]! & 1;
    o += 4;
    if (bottom) {
      if (o >= end) return PacketFlag.TRUNCATED;
      const nibble = b[o]! >> 4;
      if (nibble === 4) return decodeIPv4(b, o, end, batch, slot);
      if (nibble === 6) return decodeIPv6(b, o, end, batch, slot);
      return 0;
    }
  }
  return PacketFlag.MALFORMED;
}

/** PPP: optional HDLC address/control (ff 03), 1- or 2-byte protocol (RFC 1661 PFC). */
function decodePpp(b: Uint8Array, o: number, end: number, batch: PacketBatch, slot: number, hdlc: boolean): number {
  if (hdlc && end - o >= 2 && b[o] === 0xff && b[o + 1] === 0x03) o += 2;
  if (o >= end) return PacketFlag.TRUNCATED;
  let protocol: number;
  if (b[o]! & 1) {
    protocol = b[o]!;
    o += 1;
  } else {
    if (end - o < 2) return PacketFlag.TRUNCATED;
    protocol = (b[o]! << 8) | b[o + 1]!;
    o += 2;
  }
  if (protocol === 0x21) return decodeIPv4(b, o, end, batch, slot);
  if (protocol === 0x57) return decodeIPv6(b, o, end, batch, slot);
  if (protocol === 0x281 || protocol === 0x283) return decodeMpls(b, o, end, batch, slot);
  return 0;
}

/**
 * NULL (host-order AF_ value of the capturing machine, either byte order) and OpenBSD LOOP
 * (network order). AF_INET is 2 everywhere; AF_INET6 is 10 (Linux), 24, 28 or 30 (BSDs, macOS).
 */
function decodeNull(b: Uint8Array, o: number, end: number, batch: PacketBatch, slot: number, bigEndian: boolean): number {
  if (end - o < 4) return PacketFlag.TRUNCATED;
  if (!bigEndian && b[o] === 0xff && b[o + 1] === 0x03) return decodePpp(b, o, end, batch, slot, true);
  let family = bigEndian
    ? ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0
    : (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
  if (!bigEndian && (family & 0xffff0000) !== 0) family = ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
  o += 4;
  if (family === 2) return decodeIPv4(b, o, end, batch, slot);
  if (family === 10 || family === 24 || family === 28 || family === 30) return decodeIPv6(b, o, end, batch, slot);
  return 0;
}

/** Frame Relay (Q.922 address, then RFC 2427 UI + NLPID, or Cisco's EtherType encapsulation). */
function decodeFrameRelay(b: Uint8Array, o: number, end: number, batch: PacketBatch, slot: number): number {
  // Address field: 2..4 bytes, the last one has the EA bit (0x01) set.
  let a = 0;
  while (a < 4 && o + a < end && (b[o + a]! & 1) === 0) a++;
  if (a === 0 || a >= 4 || o + a >= end) return PacketFlag.TRUNCATED;
  o += a + 1;
  if (o >= end) return PacketFlag.TRUNCATED;
  if (b[o] !== 0x03) {
    if (end - o < 2) return PacketFlag.TRUNCATED;
    return decodeEtherType(b, o + 2, end, (b[o]! << 8) | b[o + 1]!, batch, slot, 1);
  }
  o += 1;
  if (o < end && b[o] === 0x00) o += 1; // padding before the NLPID
  if (o >= end) return PacketFlag.TRUNCATED;
  const nlpid = b[o]!;
  if (nlpid === 0xcc) return decodeIPv4(b, o + 1, end, batch, slot);
  if (nlpid === 0x8e) return decodeIPv6(b, o + 1, end, batch, slot);
  if (nlpid === 0x80) {
    if (end - o < 6) return PacketFlag.TRUNCATED;
    if (b[o + 1] === 0 && b[o + 2] === 0 && b[o + 3] === 0) return decodeEtherType(b, o + 6, end, (b[o + 4]! << 8) | b[o + 5]!, batch, slot, 1);
  }
  return 0;
}

/**
 * NFLOG (what `tcpdump -i nflog:N` writes): nfgenmsg family(1) version(1) res_id(2), then TLVs
 * length(2) type(2) in the capturing host's byte order, padded to 4; NFULA_PAYLOAD (9) holds the
 * packet from its network header. net/netfilter/nfnetlink_log.c __build_packet_message.
 */
function decodeNflog(b: Uint8Array, o: number, end: number, batch: PacketBatch, slot: number): number {
  if (end - o < 4) return PacketFlag.TRUNCATED;
  const family = b[o]!;
  let p = o + 4;
  for (let guard = 0; guard < 64 && end - p >= 4; guard++) {
    let len = b[p]! | (b[p + 1]! << 8);
    let type = b[p + 2]! | (b[p + 3]! << 8);
    if (len < 4 || p + len > end) {
      // Big-endian capture host.
      len = (b[p]! << 8) | b[p + 1]!;
      type = (b[p + 2]! << 8) | b[p + 3]!;
    }
    if (len < 4) return PacketFlag.MALFORMED;
    if ((type & 0x7fff) === 9) {
      const payloadEnd = Math.min(end, p + len);
      if (family === 2) return decodeIPv4(b, p + 4, payloadEnd, batch, slot);
      if (family === 10) return decodeIPv6(b, p + 4, payloadEnd, batch, slot);
      return 0;
    }
    p += (len + 3) & ~3;
  }
  return 0;
}

/**
 * Linux ARCNET: source(1) destination(1) offset(2) protocol(1); RFC 1201 protocols (IP 0xd4,
 * ARP 0xd5, IPv6 0xc4 per RFC 2497) add split flag(1) sequence(2), and 4 more bytes for an
 * exception packet (split flag 0xff); RFC 1051 IP is 0xf0.
 */
function decodeArcnet(b: Uint8Array, o: number, end: number, batch: PacketBatch, slot: number): number {
  if (end - o < 5) return PacketFlag.TRUNCATED;
  const protocol = b[o + 4]!;
  let p = o + 5;
  if (protocol === 0xf0) return decodeIPv4(b, p, end, batch, slot);
  if (protocol !== 0xd4 && protocol !== 0xc4) return 0;
  if (end - p < 3) return PacketFlag.TRUNCATED;
  if (b[p] === 0xff) p += 4;
  p += 3;
  return protocol === 0xd4 ? decodeIPv4(b, p, end, batch, slot) : decodeIPv6(b, p, end, batch, slot);
}

/** Solaris IPNET: version(1) family(1) htype(2) pktlen(4) ifindex(4) grifindex(4) zsrc(4) zdst(4). */
function decodeIpnet(b: Uint8Array, o: number, end: number, batch: PacketBatch, slot: number): number {
  if (end - o < 24) return PacketFlag.TRUNCATED;
  const family = b[o + 1]!;
  if (family === 2) return decodeIPv4(b, o + 24, end, batch, slot);
  if (family === 26) return decodeIPv6(b, o + 24, end, batch, slot);
  return 0;
}

/** A 32-bit word view over the batch's head bytes, rebuilt only when the batch changes. */
let headOf: Uint8Array | null = null;
let headWords: Uint32Array = new Uint32Array(0);

/**
 * Copies the first headBytes of the IP header onwards into the slot's head. When slots are
 * word-aligned (headBytes a multiple of 4; the head array starts 8-aligned) it moves 32-bit words,
 * read unaligned in host byte order so that the stored bytes are the frame's bytes, 16 bytes per
 * round; a plain byte loop does the rest. No subarray/set: that allocates per packet.
 */
function copyHead(b: Uint8Array, o: number, end: number, batch: PacketBatch, slot: number): void {
  const headBytes = batch.headBytes;
  const avail = end - o;
  const n = avail < headBytes ? avail : headBytes;
  if (n <= 0) return;
  const head = batch.head;
  const base = slot * headBytes;
  let i = 0;
  // Word copies on a little-endian host only, so that the reads' byte order is a constant for V8
  // (as in the parser's fast path); elsewhere the byte loop copies.
  if (HOST_LITTLE_ENDIAN && (headBytes & 3) === 0) {
    if (head !== headOf) {
      headOf = head;
      headWords = new Uint32Array(head.buffer, head.byteOffset, head.byteLength >>> 2);
    }
    const words = headWords;
    const view = dv;
    let w = base >>> 2;
    for (; i + 16 <= n; i += 16, w += 4) {
      const s = o + i;
      words[w] = view.getUint32(s, true);
      words[w + 1] = view.getUint32(s + 4, true);
      words[w + 2] = view.getUint32(s + 8, true);
      words[w + 3] = view.getUint32(s + 12, true);
    }
    for (; i + 4 <= n; i += 4, w++) words[w] = view.getUint32(o + i, true);
  }
  for (; i < n; i++) head[base + i] = b[o + i]!;
  batch.headLen[slot] = n;
}

const IP_ALL = PacketFlag.IP | PacketFlag.IP_HAS_SRC | PacketFlag.IP_HAS_DST | PacketFlag.IP_HAS_PROTO | PacketFlag.IP_HAS_FRAG;
const IP_CUT = PacketFlag.IP_PARTIAL | PacketFlag.TRUNCATED;

/**
 * IPv4 (net/ipv4/ip_input.c ip_rcv_core checks the same things). Mirrors tshark's order: version
 * and header length, total length (0 = TSO/BIG TCP: use what was captured), then the fields in
 * header order, so a cut header still yields the fields before the cut.
 */
function decodeIPv4(b: Uint8Array, o: number, end: number, batch: PacketBatch, slot: number): number {
  batch.l3[slot] = 4;
  const avail = end - o;
  if (avail < 1) return IP_CUT;
  const ihl = (b[o]! & 0x0f) * 4;
  if (b[o]! >> 4 !== 4 || ihl < 20) return PacketFlag.MALFORMED | PacketFlag.IP_PARTIAL;
  if (avail < 4) return IP_CUT;
  let totalLen = (b[o + 2]! << 8) | b[o + 3]!;
  if (totalLen === 0) totalLen = avail;
  else if (totalLen < ihl) return PacketFlag.MALFORMED | PacketFlag.IP_PARTIAL;
  copyHead(b, o, end, batch, slot);
  batch.ipLen[slot] = totalLen;
  if (avail < 6) return IP_CUT;
  batch.ipId[slot] = (b[o + 4]! << 8) | b[o + 5]!;
  if (avail < 8) return IP_CUT;
  const fragField = (b[o + 6]! << 8) | b[o + 7]!;
  const fragOffset = fragField & 0x1fff;
  batch.fragOffset[slot] = fragOffset;
  let flags: number = PacketFlag.IP_HAS_FRAG;
  if (fragOffset !== 0 || (fragField & 0x2000) !== 0) flags |= PacketFlag.FRAGMENT;
  if (fragOffset !== 0) flags |= PacketFlag.LATER_FRAGMENT;
  if (avail < 9) return flags | IP_CUT;
  batch.ttl[slot] = b[o + 8]!;
  if (avail < 10) return flags | IP_CUT;
  const proto = b[o + 9]!;
  batch.proto[slot] = proto;
  flags |= PacketFlag.IP_HAS_PROTO;
  const w = slot * 4;
  if (avail < 16) return flags | IP_CUT;
  batch.src[w] = dv.getUint32(o + 12);
  flags |= PacketFlag.IP_HAS_SRC;
  if (avail < 20) return flags | IP_CUT;
  batch.dst[w] = dv.getUint32(o + 16);
  flags |= IP_ALL;
  if (fragOffset !== 0) return flags;
  if (avail < ihl) return flags | PacketFlag.TRUNCATED;
  // The transport header lies within the datagram as its header states it.
  const payloadEnd = Math.min(end, o + totalLen);
  return flags | decodeTransport(b, o + ihl, payloadEnd, proto, batch, slot);
}

/** Whether a hop-by-hop header at p (whole, within end) holds a Jumbo Payload option (RFC 2675). */
function hasJumboOption(b: Uint8Array, p: number, end: number): boolean {
  const hdrEnd = Math.min(end, p + (b[p + 1]! + 1) * 8);
  let q = p + 2;
  while (q < hdrEnd) {
    const type = b[q]!;
    if (type === 0xc2) return true;
    if (type === 0) {
      q += 1;
      continue;
    }
    if (q + 1 >= hdrEnd) break;
    q += 2 + b[q + 1]!;
  }
  return false;
}

/**
 * IPv6 with the extension headers tshark walks (hop-by-hop, routing, fragment, destination
 * options); net/ipv6/ip6_input.c ipv6_rcv, net/ipv6/exthdrs.c. A version other than 6 is no
 * IPv6 layer at all for tshark (unlike IPv4).
 */
function decodeIPv6(b: Uint8Array, o: number, end: number, batch: PacketBatch, slot: number): number {
  const avail = end - o;
  if (avail < 1) return PacketFlag.TRUNCATED;
  if (b[o]! >> 4 !== 6) return PacketFlag.MALFORMED;
  batch.l3[slot] = 6;
  copyHead(b, o, end, batch, slot);
  if (avail < 7) return IP_CUT;
  const payloadLen = (b[o + 4]! << 8) | b[o + 5]!;
  batch.ipLen[slot] = 40 + payloadLen;
  let next = b[o + 6]!;
  batch.proto[slot] = next;
  // The fragment columns are known once the chain is walked; for a cut header that has none, 0.
  let flags: number = PacketFlag.IP_HAS_PROTO | PacketFlag.IP_HAS_FRAG;
  if (avail < 8) return flags | IP_CUT;
  batch.ttl[slot] = b[o + 7]!;
  const w = slot * 4;
  if (avail < 24) return flags | IP_CUT;
  for (let k = 0; k < 4; k++) {
    const s = o + 8 + k * 4;
    batch.src[w + k] = dv.getUint32(s);
  }
  flags |= PacketFlag.IP_HAS_SRC;
  if (avail < 40) return flags | IP_CUT;
  for (let k = 0; k < 4; k++) {
    const d = o + 24 + k * 4;
    batch.dst[w + k] = dv.getUint32(d);
  }
  flags |= PacketFlag.IP_HAS_DST;
  let p = o + 40;
  let payloadEnd: number;
  if (payloadLen !== 0) {
    payloadEnd = Math.min(end, p + payloadLen);
  } else if (next === 0 && end - p >= 2 && end - p >= (b[p + 1]! + 1) * 8 && hasJumboOption(b, p, end)) {
    payloadEnd = end; // jumbogram: the Jumbo option holds the length; decode what was captured
  } else {
    // Payload length 0 without a Jumbo option: tshark 4.0 decodes nothing after the header.
    // A fragment header that is not read leaves the fragment columns unknown too.
    if (next === 44) return (flags & ~(PacketFlag.IP_HAS_PROTO | PacketFlag.IP_HAS_FRAG)) | PacketFlag.IP_PARTIAL;
    if (next === 0 || next === 43 || next === 60) return (flags & ~PacketFlag.IP_HAS_PROTO) | PacketFlag.IP_PARTIAL;
    return flags | IP_ALL;
  }
  let laterFragment = false;
  for (let guard = 0; guard < MAX_CHAIN; guard++) {
    if (next !== 0 && next !== 43 && next !== 44 && next !== 60) break;
    if (next === 44) {
      // tshark adds the fragment header's fields only when all 8 bytes are there.
      if (payloadEnd - p < 8) return (flags & ~(PacketFlag.IP_HAS_PROTO | PacketFlag.IP_HAS_FRAG)) | IP_CUT;
      const fo = ((b[p + 2]! << 8) | b[p + 3]!) >> 3;
      const more = b[p + 3]! & 1;
      batch.ipId[slot] = ((b[p + 4]! << 24) | (b[p + 5]! << 16) | (b[p + 6]! << 8) | b[p + 7]!) >>> 0;
      batch.fragOffset[slot] = fo;
      if (fo !== 0 || more) flags |= PacketFlag.FRAGMENT;
      if (fo !== 0) laterFragment = true;
      next = b[p]!;
      p += 8;
    } else {
      // Options headers: the next-header byte is readable on its own; the length decides the rest.
      // Not a byte of it: tshark shows the previous next-header value as the protocol.
      if (payloadEnd - p < 1) return flags | IP_ALL | PacketFlag.TRUNCATED;
      next = b[p]!;
      batch.proto[slot] = next;
      if (payloadEnd - p < 2) return flags | IP_ALL | PacketFlag.TRUNCATED;
      p += (b[p + 1]! + 1) * 8;
      if (p > payloadEnd) return flags | IP_ALL | PacketFlag.TRUNCATED;
    }
    batch.proto[slot] = next;
  }
  flags |= IP_ALL;
  if (laterFragment) return flags | PacketFlag.LATER_FRAGMENT;
  return flags | decodeTransport(b, p, payloadEnd, next, batch, slot);
}

/** TCP, UDP, SCTP ports (and TCP fields, ICMP type/code/id) of the header right after the IP header(s). */
function decodeTransport(b: Uint8Array, o: number, end: number, proto: number, batch: PacketBatch, slot: number): number {
  const avail = end - o;
  switch (proto) {
    case 6: {
      if (avail < 4) return PacketFlag.TRUNCATED;
      batch.sport[slot] = dv.getUint16(o);
      batch.dport[slot] = dv.getUint16(o + 2);
      if (avail < 14) return PacketFlag.PORTS | PacketFlag.TRUNCATED;
      // tshark reads seq/ack, then refuses a data offset below 5 words before adding the flags.
      if (b[o + 12]! >> 4 < 5) return PacketFlag.PORTS | PacketFlag.MALFORMED;
      batch.tcpSeq[slot] = dv.getUint32(o + 4);
      batch.tcpAck[slot] = dv.getUint32(o + 8);
      batch.tcpFlags[slot] = ((b[o + 12]! & 0x0f) << 8) | b[o + 13]!;
      if (avail < 16) return PacketFlag.PORTS | PacketFlag.TCP | PacketFlag.TRUNCATED;
      batch.tcpWindow[slot] = (b[o + 14]! << 8) | b[o + 15]!;
      return PacketFlag.PORTS | PacketFlag.TCP;
    }
    case 17: case 132: case 136: {
      if (avail < 4) return PacketFlag.TRUNCATED;
      batch.sport[slot] = dv.getUint16(o);
      batch.dport[slot] = dv.getUint16(o + 2);
      return PacketFlag.PORTS;
    }
    case 1: case 58: {
      if (avail < 2) return PacketFlag.TRUNCATED;
      const type = b[o]!;
      batch.icmpType[slot] = type;
      batch.icmpCode[slot] = b[o + 1]!;
      const echo = proto === 1 ? type === 0 || type === 8 || type === 13 || type === 14 : type === 128 || type === 129;
      if (echo && avail >= 6) batch.icmpId[slot] = (b[o + 4]! << 8) | b[o + 5]!;
      return PacketFlag.ICMP;
    }
    default:
      return 0;
  }
}

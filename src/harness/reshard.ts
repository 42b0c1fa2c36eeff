/**
 * Column-wise re-sharding: copies the packets listed in `index[from .. from+count)` of `src` into
 * consecutive slots of `dst` starting at `at`, field by field. Same result as calling
 * PacketBatch.copySlotFrom per packet (a test checks every field), but each loop touches one
 * typed array, which is several times faster than ~45 scattered field copies per packet.
 */
import { MAX_VLAN_TAGS, type PacketBatch } from '../trace/batch.js';

type F64Column = 'tsSec' | 'frameNo';
type U32Column = 'tsNsec' | 'caplen' | 'wireLen' | 'linkType' | 'ipLen' | 'ipId' | 'tcpSeq' | 'tcpAck' | 'mark' | 'priority' | 'classId' | 'flowHash' | 'ctId';
type U16Column = 'ifIndex' | 'flags' | 'fragOffset' | 'sport' | 'dport' | 'tcpFlags' | 'tcpWindow' | 'icmpId' | 'core';
type U8Column = 'l3' | 'proto' | 'ttl' | 'icmpType' | 'icmpCode' | 'vlanCount' | 'ctState' | 'ctReply' | 'verdict';

/** Every one-element-per-packet field of PacketBatch, by element type (one loop function per type keeps each monomorphic). */
export const F64_COLUMNS: readonly F64Column[] = ['tsSec', 'frameNo'];
export const U32_COLUMNS: readonly U32Column[] = ['tsNsec', 'caplen', 'wireLen', 'linkType', 'ipLen', 'ipId', 'tcpSeq', 'tcpAck', 'mark', 'priority', 'classId', 'flowHash', 'ctId'];
export const U16_COLUMNS: readonly U16Column[] = ['ifIndex', 'flags', 'fragOffset', 'sport', 'dport', 'tcpFlags', 'tcpWindow', 'icmpId', 'core'];
export const U8_COLUMNS: readonly U8Column[] = ['l3', 'proto', 'ttl', 'icmpType', 'icmpCode', 'vlanCount', 'ctState', 'ctReply', 'verdict'];

function copyF64(s: Float64Array, d: Float64Array, index: Uint32Array, from: number, count: number, at: number): void {
  for (let j = 0; j < count; j++) d[at + j] = s[index[from + j]!]!;
}
function copyU32(s: Uint32Array, d: Uint32Array, index: Uint32Array, from: number, count: number, at: number): void {
  for (let j = 0; j < count; j++) d[at + j] = s[index[from + j]!]!;
}
function copyU16(s: Uint16Array, d: Uint16Array, index: Uint32Array, from: number, count: number, at: number): void {
  for (let j = 0; j < count; j++) d[at + j] = s[index[from + j]!]!;
}
function copyU8(s: Uint8Array, d: Uint8Array, index: Uint32Array, from: number, count: number, at: number): void {
  for (let j = 0; j < count; j++) d[at + j] = s[index[from + j]!]!;
}

export function copySlots(src: PacketBatch, dst: PacketBatch, index: Uint32Array, from: number, count: number, at: number): void {
  for (const c of F64_COLUMNS) copyF64(src[c], dst[c], index, from, count, at);
  for (const c of U32_COLUMNS) copyU32(src[c], dst[c], index, from, count, at);
  for (const c of U16_COLUMNS) copyU16(src[c], dst[c], index, from, count, at);
  for (const c of U8_COLUMNS) copyU8(src[c], dst[c], index, from, count, at);
  const ss = src.src;
  const sd = src.dst;
  const ds = dst.src;
  const dd = dst.dst;
  for (let j = 0; j < count; j++) {
    const f = index[from + j]! * 4;
    const t = (at + j) * 4;
    ds[t] = ss[f]!; ds[t + 1] = ss[f + 1]!; ds[t + 2] = ss[f + 2]!; ds[t + 3] = ss[f + 3]!;
    dd[t] = sd[f]!; dd[t + 1] = sd[f + 1]!; dd[t + 2] = sd[f + 2]!; dd[t + 3] = sd[f + 3]!;
  }
  const sv = src.vlan;
  const dv = dst.vlan;
  for (let j = 0; j < count; j++) {
    const f = index[from + j]! * MAX_VLAN_TAGS;
    const t = (at + j) * MAX_VLAN_TAGS;
    for (let k = 0; k < MAX_VLAN_TAGS; k++) dv[t + k] = sv[f + k]!;
  }
  const sh = src.head;
  const dh = dst.head;
  const shb = src.headBytes;
  const dhb = dst.headBytes;
  for (let j = 0; j < count; j++) {
    const f = index[from + j]!;
    const n = Math.min(src.headLen[f]!, dhb);
    dst.headLen[at + j] = n;
    const fo = f * shb;
    const to = (at + j) * dhb;
    for (let k = 0; k < n; k++) dh[to + k] = sh[fo + k]!;
  }
}

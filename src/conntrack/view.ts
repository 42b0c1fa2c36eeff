/**
 * What later pipeline stages (the rule hooks) may see and change of a packet's connection. The
 * conntrack table implements it; the batch's `ctId` slot names the entry.
 */
export interface ConntrackView {
  /** The connection's mark (CONNMARK --save-mark writes it, --restore-mark reads it). */
  getMark(ctId: number): number;
  setMark(ctId: number, mark: number): void;
  /**
   * Records a NAT binding for a connection on its first packet: the kernel rewrites the reply
   * tuple so that replies are recognised. `isSource` for SNAT/MASQUERADE (the reply's destination
   * becomes the new address), otherwise DNAT/REDIRECT (the reply's source). Address as four words
   * (IPv4 in a0), port 0 keeps the port.
   */
  setNat(ctId: number, isSource: boolean, a0: number, a1: number, a2: number, a3: number, port: number): void;
  /**
   * IPS_SRC_NAT / IPS_DST_NAT of the connection as NAT_STATUS_* bits (`--ctstate SNAT,DNAT`):
   * set when a binding changed the tuple. Views without NAT bindings leave it out (never NAT-ed).
   */
  natStatus?(ctId: number): number;
}

/** natStatus bits. */
export const NAT_STATUS_SRC = 1;
export const NAT_STATUS_DST = 2;

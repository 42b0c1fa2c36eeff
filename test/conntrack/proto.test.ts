import { describe, expect, it } from 'vitest';
import { CtStatus } from '../../src/conntrack/table.js';
import { TcpState, Timeouts } from '../../src/conntrack/timeouts.js';
import { CtState, NO_CONNECTION, PacketFlag } from '../../src/trace/batch.js';
import { formatTable } from '../../src/conntrack/format.js';
import { ACK, FIN, fillSlot, Harness, ipv4, PSH, RST, SYN } from './helpers.js';

const A = '10.0.0.1';
const B = '192.0.2.80';
const orig = (tcp: number) => ({ src: A, dst: B, sport: 40000, dport: 80, tcp });
const reply = (tcp: number) => ({ src: B, dst: A, sport: 80, dport: 40000, tcp });

/** Runs packets and records [ctstate, TCP state, seconds left, assured] after each. */
function run(h: Harness, steps: [number, { src: string; dst: string; sport: number; dport: number; tcp: number; seq?: number; ack?: number; payload?: number }][]) {
  return steps.map(([sec, p]) => {
    const r = h.send(sec, p);
    const live = r.id !== NO_CONNECTION && h.table.isLive(r.id);
    return [r.state, live ? h.table.protoState[r.id]! : -1, live ? h.left(r.id, sec) : -1, live ? (h.table.status[r.id]! & CtStatus.ASSURED) !== 0 : false];
  });
}

const NEW = CtState.NEW, ESTABLISHED = CtState.ESTABLISHED, INVALID = CtState.INVALID;
const SYN_SENT = TcpState.SYN_SENT, SYN_RECV = TcpState.SYN_RECV, FIN_WAIT = TcpState.FIN_WAIT, CLOSE_WAIT = TcpState.CLOSE_WAIT;
const LAST_ACK = TcpState.LAST_ACK, TIME_WAIT = TcpState.TIME_WAIT, CLOSE = TcpState.CLOSE, SYN_SENT2 = TcpState.SYN_SENT2;
const EST = TcpState.ESTABLISHED;

describe('TCP (nf_conntrack_proto_tcp.c)', () => {
  it('normal open and close: states, ASSURED and timeouts after each packet', () => {
    const h = new Harness();
    expect(run(h, [
      [0, orig(SYN)],
      [0.01, reply(SYN | ACK)],
      [0.02, orig(ACK)],
      [1, orig(ACK | PSH)],
      [2, orig(FIN | ACK)],
      [2.01, reply(ACK)],
      [2.02, reply(FIN | ACK)],
      [2.03, orig(ACK)],
    ])).toEqual([
      [NEW, SYN_SENT, 120, false],
      [ESTABLISHED, SYN_RECV, 60, false],
      [ESTABLISHED, EST, 432000, true],
      [ESTABLISHED, EST, 432000, true],
      [ESTABLISHED, FIN_WAIT, 120, true],
      [ESTABLISHED, CLOSE_WAIT, 60, true],
      [ESTABLISHED, LAST_ACK, 30, true],
      [ESTABLISHED, TIME_WAIT, 120, true],
    ]);
    expect(h.table.count).toBe(1);
  });

  it('unacknowledged data caps ESTABLISHED at tcp_timeout_unacknowledged until the other side acks it', () => {
    // The kernel lab's stateful scenario: after the handshake the client sends 100 bytes the
    // server never acknowledges; the kernel lists the entry with 299 s left, not 431999 s
    // (tcp_in_window sets IP_CT_TCP_FLAG_DATA_UNACKNOWLEDGED when td_end advances and clears it
    // when the receiver acks exactly td_end). A SYN's sequence number is not unacknowledged data.
    const h = new Harness();
    const o = (tcp: number, seq: number, ack: number, payload = 0) => ({ ...orig(tcp), seq, ack, payload });
    const r = (tcp: number, seq: number, ack: number, payload = 0) => ({ ...reply(tcp), seq, ack, payload });
    expect(run(h, [
      [0, o(SYN, 1000, 0)],
      [0, r(SYN | ACK, 5000, 1001)],
      [0, o(ACK, 1001, 5001)],
      [0, o(PSH | ACK, 1001, 5001, 100)],
      [1, r(ACK, 5001, 1050)], // acks part of it: still unacknowledged
      [2, r(ACK, 5001, 1101)], // acks all of it
      [3, r(PSH | ACK, 5001, 1101, 50)], // the server's data, unacknowledged
      [4, o(ACK, 1101, 5051)],
    ])).toEqual([
      [NEW, SYN_SENT, 120, false],
      [ESTABLISHED, SYN_RECV, 60, false],
      [ESTABLISHED, EST, 432000, true],
      [ESTABLISHED, EST, 300, true],
      [ESTABLISHED, EST, 300, true],
      [ESTABLISHED, EST, 432000, true],
      [ESTABLISHED, EST, 300, true],
      [ESTABLISHED, EST, 432000, true],
    ]);
  });

  it('a FIN counts as data: FIN_WAIT keeps 120 s (below the cap), an acked close reaches TIME_WAIT 120 s', () => {
    const h = new Harness();
    const o = (tcp: number, seq: number, ack: number) => ({ ...orig(tcp), seq, ack });
    const r = (tcp: number, seq: number, ack: number) => ({ ...reply(tcp), seq, ack });
    expect(run(h, [
      [0, o(SYN, 100, 0)], [0, r(SYN | ACK, 900, 101)], [0, o(ACK, 101, 901)],
      [1, o(FIN | ACK, 101, 901)], [1, r(FIN | ACK, 901, 102)], [1, o(ACK, 102, 902)],
    ]).map((x) => x.slice(1, 3))).toEqual([[SYN_SENT, 120], [SYN_RECV, 60], [EST, 432000], [FIN_WAIT, 120], [LAST_ACK, 30], [TIME_WAIT, 120]]);
  });

  it('RST closes an established connection with the CLOSE timeout (10 s)', () => {
    const h = new Harness();
    expect(run(h, [[0, orig(SYN)], [0, reply(SYN | ACK)], [0, orig(ACK)], [5, reply(RST)]]).at(-1)).toEqual([ESTABLISHED, CLOSE, 10, true]);
  });

  it('an RST as the only reply deletes the entry at once', () => {
    const h = new Harness();
    h.send(0, orig(SYN));
    const r = h.send(0.001, reply(RST | ACK));
    expect(r.state).toBe(ESTABLISHED);
    expect(h.table.count).toBe(0);
    expect(h.send(1, orig(SYN)).state).toBe(NEW);
  });

  it('simultaneous open: SYN both ways, then SYN/ACKs, then ACK', () => {
    const h = new Harness();
    expect(run(h, [
      [0, orig(SYN)],
      [0, reply(SYN)],
      [0, orig(SYN | ACK)],
      [0, reply(SYN | ACK)],
      [0, orig(ACK)],
    ])).toEqual([
      [NEW, SYN_SENT, 120, false],
      [ESTABLISHED, SYN_SENT2, 120, false],
      [ESTABLISHED, SYN_RECV, 60, false],
      // REPLY SYN/ACK in SYN_RECV is ignored: accepted, state and timeout unchanged.
      [ESTABLISHED, SYN_RECV, 60, false],
      [ESTABLISHED, EST, 432000, true],
    ]);
  });

  it('a retransmitted SYN stays NEW and restarts the SYN_SENT timeout', () => {
    const h = new Harness();
    expect(run(h, [[0, orig(SYN)], [3, orig(SYN)], [9, orig(SYN)]])).toEqual([
      [NEW, SYN_SENT, 120, false],
      [NEW, SYN_SENT, 120, false],
      [NEW, SYN_SENT, 120, false],
    ]);
    expect(h.table.remainingMs(0, 9000)).toBe(120_000);
  });

  it('mid-stream pickup with tcp_loose=1: ESTABLISHED capped at the unacknowledged timeout until a reply', () => {
    const h = new Harness();
    expect(run(h, [[0, orig(ACK)], [0.1, reply(ACK)], [0.2, orig(ACK)]])).toEqual([
      [NEW, EST, 300, false],
      [ESTABLISHED, EST, 300, false],
      [ESTABLISHED, EST, 432000, true],
    ]);
  });

  it('mid-stream pickup with tcp_loose=0 is INVALID and creates nothing', () => {
    const h = new Harness({ tcpLoose: false });
    const r = h.send(0, orig(ACK));
    expect([r.state, r.id, h.table.count, h.table.stats.invalid]).toEqual([INVALID, NO_CONNECTION, 0, 1]);
  });

  it('a SYN into TIME_WAIT reopens: the old entry dies and a new one starts', () => {
    const h = new Harness();
    run(h, [[0, orig(SYN)], [0, reply(SYN | ACK)], [0, orig(ACK)], [1, orig(FIN | ACK)], [1, reply(FIN | ACK)], [1, orig(ACK)]]);
    const r = h.send(2, orig(SYN));
    expect([r.state, h.table.protoState[r.id], h.left(r.id, 2), h.table.count]).toEqual([NEW, SYN_SENT, 120, 1]);
    expect(h.table.status[r.id]! & CtStatus.ASSURED).toBe(0);
  });

  it('invalid flag combinations and invalid transitions are INVALID', () => {
    const h = new Harness();
    expect(h.send(0, orig(SYN | FIN)).state).toBe(INVALID); // tcp_error
    expect(h.send(0, orig(SYN | ACK)).state).toBe(INVALID); // ORIG SYN/ACK from NONE
    h.send(1, orig(SYN));
    expect(h.send(1, orig(FIN | ACK)).state).toBe(INVALID); // ORIG FIN in SYN_SENT
    expect(h.table.stats.invalid).toBe(3);
    expect(h.table.count).toBe(1);
  });

  it('honours an overridden ESTABLISHED timeout (Selfnet: 12 h)', () => {
    const h = new Harness({ timeouts: new Timeouts({ tcp_timeout_established: 43200 }) });
    expect(run(h, [[0, orig(SYN)], [0, reply(SYN | ACK)], [0, orig(ACK)]]).at(-1)).toEqual([ESTABLISHED, EST, 43200, true]);
  });
});

describe('UDP (nf_conntrack_proto_udp.c)', () => {
  const q = { src: A, dst: '198.51.100.53', proto: 17, sport: 5353, dport: 53 };
  const a = { src: '198.51.100.53', dst: A, proto: 17, sport: 53, dport: 5353 };
  it('unreplied, replied, then stream with ASSURED after 2 s', () => {
    const h = new Harness();
    const r1 = h.send(10, q);
    expect([r1.state, h.left(r1.id, 10)]).toEqual([NEW, 30]);
    const r2 = h.send(10.5, a);
    expect([r2.state, r2.reply, h.left(r2.id, 10.5), h.table.status[r2.id]! & CtStatus.ASSURED]).toEqual([ESTABLISHED, 1, 30, 0]);
    const r3 = h.send(11.5, q); // within 2 s of creation: still 30 s
    expect([r3.state, h.left(r3.id, 11.5), h.table.status[r3.id]! & CtStatus.ASSURED]).toEqual([ESTABLISHED, 30, 0]);
    const r4 = h.send(12.5, q);
    expect([r4.state, h.left(r4.id, 12.5), h.table.status[r4.id]! & CtStatus.ASSURED]).toEqual([ESTABLISHED, 120, CtStatus.ASSURED]);
  });

  it('keeps its clock when a capture runs backwards (out-of-order timestamps)', () => {
    const h = new Harness();
    const r1 = h.send(10, q);
    // A packet stamped 5 s earlier is handled at the latest time seen: refreshed to 10 + 30 s.
    const r2 = h.send(5, q);
    expect([r2.id, r2.state, h.left(r2.id, 10)]).toEqual([r1.id, NEW, 30]);
    // The entry still expires 30 s after 10 s, not after 5 s.
    expect(h.send(39.9, q).id).toBe(r1.id);
  });

  it('expires at exactly its timeout in trace time', () => {
    const h = new Harness();
    const first = h.send(0, q);
    expect(h.send(29.999, q).id).toBe(first.id); // refreshed: now expires at 59.999
    expect(h.send(59.998, q).state).toBe(NEW);
    const before = h.table.stats.expired;
    const r = h.send(89.998, q); // (s32)(timeout - now) <= 0: expired at 89.998
    expect(r.state).toBe(NEW);
    expect(h.table.stats.expired).toBe(before + 1);
    expect(h.table.stats.created).toBe(2);
  });
});

describe('ICMP (nf_conntrack_proto_icmp.c)', () => {
  const req = { src: A, dst: B, proto: 1, icmpType: 8, icmpId: 77 };
  const rep = { src: B, dst: A, proto: 1, icmpType: 0, icmpId: 77 };
  it('echo request NEW, echo reply ESTABLISHED in the reply direction, 30 s', () => {
    const h = new Harness();
    const r1 = h.send(0, req);
    const r2 = h.send(0.01, rep);
    expect([r1.state, r2.state, r2.reply, r2.id === r1.id, h.left(r2.id, 0.01)]).toEqual([NEW, ESTABLISHED, 1, true, 30]);
  });

  it('an unsolicited echo reply is INVALID and leaves nothing', () => {
    const h = new Harness();
    const r = h.send(0, rep);
    expect([r.state, h.table.count, h.table.stats.invalid]).toEqual([INVALID, 0, 1]);
  });

  /** An ICMPv4 error from `from` to `to` quoting the first 28 bytes of a TCP packet src:sport -> dst:dport. */
  function icmpError(type: number, from: string, to: string, qs: string, qd: string, sport: number, dport: number): Uint8Array {
    const b = new Uint8Array(56);
    b[0] = 0x45; b[9] = 1;
    new DataView(b.buffer).setUint32(12, ipv4(from));
    new DataView(b.buffer).setUint32(16, ipv4(to));
    b[20] = type;
    const inner = 28;
    b[inner] = 0x45; b[inner + 9] = 6;
    new DataView(b.buffer).setUint32(inner + 12, ipv4(qs));
    new DataView(b.buffer).setUint32(inner + 16, ipv4(qd));
    new DataView(b.buffer).setUint16(inner + 20, sport);
    new DataView(b.buffer).setUint16(inner + 22, dport);
    return b;
  }

  it('an error quoting a tracked flow is RELATED (reply direction); an unknown quote counts error', () => {
    const h = new Harness();
    const conn = h.send(0, orig(SYN));
    const router = '203.0.113.1';
    const e = h.send(0.1, { src: router, dst: A, proto: 1, icmpType: 11, head: icmpError(11, router, A, A, B, 40000, 80) });
    expect([e.state, e.id, e.reply]).toEqual([CtState.RELATED, conn.id, 1]);
    const u = h.send(0.2, { src: router, dst: A, proto: 1, icmpType: 3, head: icmpError(3, router, A, A, B, 40001, 80) });
    expect([u.state, h.table.stats.error, h.table.count]).toEqual([INVALID, 1, 1]);
  });
});

describe('packets the model cannot track', () => {
  it('malformed, truncated-before-ports, non-IP and later fragments: counted, never thrown', () => {
    const h = new Harness();
    const tcp = { src: A, dst: B, sport: 1, dport: 2, tcp: SYN };
    expect(h.send(0, { ...tcp, flags: PacketFlag.IP | PacketFlag.MALFORMED }).state).toBe(INVALID);
    expect(h.send(0, { ...tcp, flags: PacketFlag.IP | PacketFlag.TRUNCATED }).state).toBe(INVALID); // no ports
    expect(h.send(0, { ...tcp, flags: PacketFlag.IP | PacketFlag.FRAGMENT | PacketFlag.LATER_FRAGMENT }).state).toBe(INVALID);
    h.batch.resetSlot(0);
    h.stage.packet(h.batch, 0, 0); // an ARP frame: no IP layer at all
    expect(h.batch.ctState[0]).toBe(CtState.NONE);
    const s = h.table.stats;
    expect([s.invalid, s.laterFragments, s.notIp, h.table.count]).toEqual([2, 1, 1, 0]);
  });

  it('tracks IPv6 and prints it as conntrack -L does', () => {
    const h = new Harness();
    const b = h.batch;
    const v6 = (src: number[], dst: number[], sport: number, dport: number, tcp: number) => {
      fillSlot(b, 0, { src: '0.0.0.0', dst: '0.0.0.0', sport, dport, tcp });
      b.l3[0] = 6;
      b.src.set(src, 0);
      b.dst.set(dst, 0);
      h.stage.packet(b, 0, 1e9);
      return b.ctState[0];
    };
    const a = [0x20010db8, 0, 0, 1];
    const z = [0x20010db8, 0, 0, 0x80];
    expect([v6(a, z, 50000, 443, SYN), v6(z, a, 443, 50000, SYN | ACK), v6(a, z, 50000, 443, ACK)]).toEqual([NEW, ESTABLISHED, ESTABLISHED]);
    expect(formatTable(h.table, 1000)).toEqual(['tcp      6 432000 ESTABLISHED src=2001:db8::1 dst=2001:db8::80 sport=50000 dport=443 src=2001:db8::80 dst=2001:db8::1 sport=443 dport=50000 [ASSURED] mark=0 use=1']);
  });
});

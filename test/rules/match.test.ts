import { describe, expect, it } from 'vitest';
import { CtState } from '../../src/trace/batch.js';
import { TestConntrack, matches, run, parse, filterForward } from './helpers.js';

describe('fixed header fields (ip_packet_match)', () => {
  it('-s/-d with CIDR, masks and !', () => {
    expect(matches('-s 10.0.0.0/8 -j ACCEPT', { src: '10.200.1.1' })).toBe(true);
    expect(matches('-s 10.0.0.0/8 -j ACCEPT', { src: '11.0.0.1' })).toBe(false);
    expect(matches('! -s 10.0.0.0/8 -j ACCEPT', { src: '11.0.0.1' })).toBe(true);
    expect(matches('-d 192.0.2.1/32 -j ACCEPT', { dst: '192.0.2.1' })).toBe(true);
    expect(matches('-d 192.0.2.1/32 -j ACCEPT', { dst: '192.0.2.2' })).toBe(false);
    expect(matches('-d 192.0.2.0/255.255.255.0 -j ACCEPT', { dst: '192.0.2.77' })).toBe(true);
    expect(matches('-s 10.1.2.3 -j ACCEPT', { src: '10.1.2.3' })).toBe(true);
  });
  it('-p names, numbers, all and !', () => {
    expect(matches('-p tcp -j ACCEPT', { proto: 6 })).toBe(true);
    expect(matches('-p udp -j ACCEPT', { proto: 6 })).toBe(false);
    expect(matches('-p 47 -j ACCEPT', { proto: 47 })).toBe(true);
    expect(matches('-p all -j ACCEPT', { proto: 47 })).toBe(true);
    expect(matches('! -p tcp -j ACCEPT', { proto: 17 })).toBe(true);
    expect(matches('! -p tcp -j ACCEPT', { proto: 6 })).toBe(false);
  });
  it('-i/-o exact, + wildcard and !', () => {
    expect(matches('-i eth0 -j ACCEPT', {})).toBe(true);
    expect(matches('-i eth1 -j ACCEPT', {})).toBe(false);
    expect(matches('-i eth+ -j ACCEPT', {}, undefined, { inIface: 'eth7' })).toBe(true);
    expect(matches('-i eth+ -j ACCEPT', {}, undefined, { inIface: 'wlan0' })).toBe(false);
    expect(matches('! -o eth1 -j ACCEPT', {})).toBe(false);
    expect(matches('-o eth1 -j ACCEPT', {})).toBe(true);
    expect(matches('-i eth -j ACCEPT', {}, undefined, { inIface: 'eth0' })).toBe(false);
  });
  it('-f matches only non-first fragments', () => {
    expect(matches('-f -j ACCEPT', { laterFragment: true })).toBe(true);
    expect(matches('-f -j ACCEPT', {})).toBe(false);
    expect(matches('! -f -j ACCEPT', {})).toBe(true);
  });
  it('IPv6 addresses (ip6tables-save)', () => {
    expect(matches('-s 2001:db8::/32 -j ACCEPT', { src: '2001:db8:1::5', dst: '2001:db8::2' })).toBe(true);
    expect(matches('-s 2001:db8::/32 -j ACCEPT', { src: '2001:db9::5', dst: '2001:db8::2' })).toBe(false);
    expect(matches('-d 2001:db8::2/128 -j ACCEPT', { src: '2001:db9::5', dst: '2001:db8::2' })).toBe(true);
  });
});

describe('tcp/udp/multiport/icmp', () => {
  it('--sport/--dport single and ranges, with !', () => {
    expect(matches('-p tcp -m tcp --dport 22 -j ACCEPT', { dport: 22 })).toBe(true);
    expect(matches('-p tcp -m tcp --dport 22 -j ACCEPT', { dport: 23 })).toBe(false);
    expect(matches('-p tcp -m tcp --dport 1000:2000 -j ACCEPT', { dport: 2000 })).toBe(true);
    expect(matches('-p tcp -m tcp --dport 1000:2000 -j ACCEPT', { dport: 2001 })).toBe(false);
    expect(matches('-p tcp -m tcp ! --dport 22 -j ACCEPT', { dport: 80 })).toBe(true);
    expect(matches('-p udp -m udp --sport 53 -j ACCEPT', { proto: 17, sport: 53 })).toBe(true);
    expect(matches('-p tcp --dport 1024: -j ACCEPT', { dport: 65535 })).toBe(true);
    // Non-first fragments have no ports: even the inverted match fails (tcp_mt returns false).
    expect(matches('-p tcp -m tcp ! --dport 22 -j ACCEPT', { laterFragment: true })).toBe(false);
  });
  it('--tcp-flags and --syn', () => {
    expect(matches('-p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -j ACCEPT', { tcp: 'SYN' })).toBe(true);
    expect(matches('-p tcp -m tcp --syn -j ACCEPT', { tcp: 'SYN' })).toBe(true);
    expect(matches('-p tcp -m tcp --syn -j ACCEPT', { tcp: 'SYN,ACK' })).toBe(false);
    expect(matches('-p tcp -m tcp ! --syn -j ACCEPT', { tcp: 'SYN,ACK' })).toBe(true);
    expect(matches('-p tcp -m tcp --tcp-flags ALL NONE -j DROP', { tcp: 'FIN' })).toBe(false);
    expect(matches('-p tcp -m tcp --tcp-flags SYN,FIN SYN,FIN -j DROP', { tcp: 'SYN,FIN,ACK' })).toBe(true);
  });
  it('multiport lists with ranges', () => {
    expect(matches('-p tcp -m multiport --dports 80,443,8000:8080 -j ACCEPT', { dport: 8042 })).toBe(true);
    expect(matches('-p tcp -m multiport --dports 80,443,8000:8080 -j ACCEPT', { dport: 444 })).toBe(false);
    expect(matches('-p tcp -m multiport --ports 53 -j ACCEPT', { sport: 53, dport: 9 })).toBe(true);
    expect(matches('-p tcp -m multiport ! --sports 1:1023 -j ACCEPT', { sport: 40000 })).toBe(true);
  });
  it('icmp types by number, name and type/code', () => {
    expect(matches('-p icmp -m icmp --icmp-type 8 -j ACCEPT', { icmp: [8, 0] })).toBe(true);
    expect(matches('-p icmp -m icmp --icmp-type echo-request -j ACCEPT', { icmp: [0, 0] })).toBe(false);
    expect(matches('-p icmp -m icmp --icmp-type 3/4 -j ACCEPT', { icmp: [3, 4] })).toBe(true);
    expect(matches('-p icmp -m icmp --icmp-type 3/4 -j ACCEPT', { icmp: [3, 3] })).toBe(false);
    expect(matches('-p icmp -m icmp --icmp-type any -j ACCEPT', { icmp: [13, 0] })).toBe(true);
    expect(matches('-p ipv6-icmp -m icmp6 --icmpv6-type 128 -j ACCEPT', { src: '2001:db8::1', icmp: [128, 0] })).toBe(true);
  });
});

describe('conntrack, state, mark, connmark', () => {
  it('--ctstate and --state against the conntrack model\'s ctState', () => {
    const spec = '-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT';
    expect(matches(spec, { ct: CtState.ESTABLISHED })).toBe(true);
    expect(matches(spec, { ct: CtState.RELATED })).toBe(true);
    expect(matches(spec, { ct: CtState.NEW })).toBe(false);
    expect(matches('-m state --state NEW -j ACCEPT', { ct: CtState.NEW })).toBe(true);
    expect(matches('-m conntrack --ctstate INVALID -j DROP', { ct: CtState.INVALID })).toBe(true);
    // No conntrack information at all reads as INVALID, as a packet without an entry does.
    expect(matches('-m conntrack --ctstate INVALID -j DROP', { ct: CtState.NONE })).toBe(true);
    expect(matches('-m conntrack --ctstate UNTRACKED -j ACCEPT', { ct: CtState.UNTRACKED })).toBe(true);
    expect(matches('-m conntrack ! --ctstate NEW -j ACCEPT', { ct: CtState.ESTABLISHED })).toBe(true);
  });
  it('--ctdir, --ctorigdst, --ctproto, --ctorigdstport', () => {
    expect(matches('-m conntrack --ctdir REPLY -j ACCEPT', { ct: CtState.ESTABLISHED, reply: true })).toBe(true);
    expect(matches('-m conntrack --ctdir REPLY -j ACCEPT', { ct: CtState.ESTABLISHED })).toBe(false);
    expect(matches('-m conntrack --ctorigdst 192.0.2.0/24 -j ACCEPT', { dst: '192.0.2.9' })).toBe(true);
    // In the reply direction the original destination is the reply's source.
    expect(matches('-m conntrack --ctorigdst 192.0.2.0/24 -j ACCEPT', { src: '192.0.2.9', dst: '10.0.0.1', ct: CtState.ESTABLISHED, reply: true })).toBe(true);
    expect(matches('-m conntrack --ctproto udp -j ACCEPT', { proto: 17 })).toBe(true);
    expect(matches('-m conntrack --ctorigdstport 443 -j ACCEPT', { dport: 443 })).toBe(true);
    // Without a connection only a pure --ctstate can match (conntrack_mt).
    expect(matches('-m conntrack ! --ctdir REPLY -j ACCEPT', { ct: CtState.INVALID })).toBe(false);
  });
  it('-m mark value/mask and -m connmark through the ConntrackView', () => {
    expect(matches('-m mark --mark 0x10/0xf0 -j ACCEPT', { mark: 0x1f })).toBe(true);
    expect(matches('-m mark --mark 0x10/0xf0 -j ACCEPT', { mark: 0x2f })).toBe(false);
    expect(matches('-m mark ! --mark 0x1 -j ACCEPT', { mark: 0x2 })).toBe(true);
    const ct = new TestConntrack();
    ct.marks.set(1, 7);
    expect(matches('-m connmark --mark 0x7 -j ACCEPT', { ctId: 1 }, undefined, { conntrack: ct })).toBe(true);
    expect(matches('-m connmark --mark 0x6 -j ACCEPT', { ctId: 1 }, undefined, { conntrack: ct })).toBe(false);
  });
});

describe('comment, iprange, limit, addrtype', () => {
  it('comment always matches; quoted text with spaces parses', () => {
    expect(matches('-m comment --comment "allow web \\"x\\"" -j ACCEPT', {})).toBe(true);
  });
  it('iprange inclusive bounds', () => {
    expect(matches('-m iprange --src-range 10.0.0.5-10.0.0.9 -j ACCEPT', { src: '10.0.0.9' })).toBe(true);
    expect(matches('-m iprange --src-range 10.0.0.5-10.0.0.9 -j ACCEPT', { src: '10.0.0.10' })).toBe(false);
    expect(matches('-m iprange --src-range 10.0.0.5-10.0.0.9 -j ACCEPT', { src: '10.0.0.4' })).toBe(false);
    expect(matches('-m iprange ! --dst-range 192.0.2.0-192.0.2.255 -j ACCEPT', { dst: '192.0.3.0' })).toBe(true);
  });
  it('limit: burst 3 at 1/second over trace time (xt_limit credits)', () => {
    const rs = parse(filterForward(['-m limit --limit 1/sec --limit-burst 3 -j ACCEPT'], 'DROP'));
    // Five packets at t=0, then one at t=1.0 s (one token back), one at t=1.5 s (half a token).
    const times = [0, 0, 0, 0, 0, 1, 1.5, 3];
    const { verdicts } = run(rs, times.map((t) => ({ tsSec: t })));
    expect(verdicts).toEqual([1, 1, 1, 2, 2, 1, 2, 1]);
  });
  it('addrtype LOCAL, MULTICAST, BROADCAST, UNICAST', () => {
    const local = Uint32Array.of(0xc0000201, 0, 0, 0); // 192.0.2.1
    expect(matches('-m addrtype --dst-type LOCAL -j ACCEPT', { dst: '192.0.2.1' }, undefined, { localAddrs: local })).toBe(true);
    expect(matches('-m addrtype --dst-type LOCAL -j ACCEPT', { dst: '192.0.2.2' }, undefined, { localAddrs: local })).toBe(false);
    expect(matches('-m addrtype --dst-type MULTICAST -j ACCEPT', { dst: '239.1.1.1' })).toBe(true);
    expect(matches('-m addrtype --dst-type BROADCAST -j ACCEPT', { dst: '255.255.255.255' })).toBe(true);
    expect(matches('-m addrtype --src-type UNICAST -j ACCEPT', { src: '10.0.0.1' })).toBe(true);
    expect(matches('-m addrtype ! --dst-type LOCAL -j ACCEPT', { dst: '192.0.2.2' }, undefined, { localAddrs: local })).toBe(true);
  });
});

describe('-m set with ipset save', () => {
  const sets = [
    'create hosts hash:ip family inet hashsize 1024 maxelem 65536',
    'add hosts 10.0.0.1',
    'add hosts 10.0.1.0/30',
    'create nets hash:net family inet hashsize 1024 maxelem 65536',
    'add nets 10.0.0.0/8',
    'add nets 10.9.0.0/16 nomatch',
    'add nets 10.9.9.0/24',
    'create svc hash:ip,port family inet hashsize 1024 maxelem 65536',
    'add svc 192.0.2.1,tcp:443',
    'add svc 192.0.2.1,udp:53',
    'create ports bitmap:port range 0-1024',
    'add ports 22',
    'add ports 100-110',
    'create six hash:ip family inet6 hashsize 1024 maxelem 65536',
    'add six 2001:db8::1',
  ].join('\n');
  it('hash:ip (entries, CIDR expansion)', () => {
    expect(matches('-m set --match-set hosts src -j ACCEPT', { src: '10.0.0.1' }, sets)).toBe(true);
    expect(matches('-m set --match-set hosts src -j ACCEPT', { src: '10.0.1.3' }, sets)).toBe(true);
    expect(matches('-m set --match-set hosts src -j ACCEPT', { src: '10.0.1.4' }, sets)).toBe(false);
    expect(matches('-m set --match-set hosts dst -j ACCEPT', { src: '10.0.0.1' }, sets)).toBe(false);
    expect(matches('-m set ! --match-set hosts src -j ACCEPT', { src: '10.0.0.2' }, sets)).toBe(true);
  });
  it('hash:net most specific first, nomatch excludes', () => {
    expect(matches('-m set --match-set nets src -j ACCEPT', { src: '10.1.2.3' }, sets)).toBe(true);
    expect(matches('-m set --match-set nets src -j ACCEPT', { src: '10.9.1.1' }, sets)).toBe(false);
    expect(matches('-m set --match-set nets src -j ACCEPT', { src: '10.9.9.1' }, sets)).toBe(true);
    expect(matches('-m set --match-set nets src -j ACCEPT', { src: '11.0.0.1' }, sets)).toBe(false);
  });
  it('hash:ip,port with protocol', () => {
    expect(matches('-m set --match-set svc dst,dst -j ACCEPT', { dst: '192.0.2.1', dport: 443 }, sets)).toBe(true);
    expect(matches('-m set --match-set svc dst,dst -j ACCEPT', { dst: '192.0.2.1', dport: 53 }, sets)).toBe(false);
    expect(matches('-m set --match-set svc dst,dst -j ACCEPT', { dst: '192.0.2.1', dport: 53, proto: 17 }, sets)).toBe(true);
  });
  it('bitmap:port', () => {
    expect(matches('-m set --match-set ports dst -j ACCEPT', { dport: 22 }, sets)).toBe(true);
    expect(matches('-m set --match-set ports dst -j ACCEPT', { dport: 105 }, sets)).toBe(true);
    expect(matches('-m set --match-set ports dst -j ACCEPT', { dport: 111 }, sets)).toBe(false);
    expect(matches('-m set --match-set ports src -j ACCEPT', { sport: 22, dport: 9 }, sets)).toBe(true);
  });
  it('IPv6 hash:ip', () => {
    expect(matches('-m set --match-set six src -j ACCEPT', { src: '2001:db8::1' }, sets)).toBe(true);
    expect(matches('-m set --match-set six src -j ACCEPT', { src: '2001:db8::3' }, sets)).toBe(false);
  });
});

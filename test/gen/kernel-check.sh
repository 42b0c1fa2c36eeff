#!/usr/bin/env bash
# Manual check (root, not part of npm test): replays a trace from `pktbench gen` through a real
# Linux router in a network namespace with a stateful conntrack ruleset and prints the FORWARD
# counters. A generated trace should give 0 INVALID, NEW = one per flow, the rest ESTABLISHED.
#   sudo test/gen/kernel-check.sh fixtures/traces/default.pcap
# Client-side frames (source MAC 02:00:00:00:00:01) go in on r0, server-side ones on r1; the
# router's MACs are set to the frames' destination MACs so the kernel takes them as its own.
set -euo pipefail
trace=${1:?usage: kernel-check.sh TRACE.pcap (microsecond pcap, as pktbench gen writes by default)}
ns=pktbench-gencheck-$$
cleanup() { ip netns del "$ns" 2>/dev/null || true; ip link del gc$$ 2>/dev/null || true; ip link del gs$$ 2>/dev/null || true; }
trap cleanup EXIT
ip netns add "$ns"
ip link add gc$$ type veth peer name r0 netns "$ns"
ip link add gs$$ type veth peer name r1 netns "$ns"
ip link set gc$$ up; ip link set gs$$ up
sysctl -qw "net.ipv6.conf.gc$$.disable_ipv6=1" "net.ipv6.conf.gs$$.disable_ipv6=1"
ip netns exec "$ns" sh -ec '
  ip link set lo up
  ip link set r0 address 02:00:00:00:00:02; ip link set r1 address 02:00:00:00:00:01
  ip link set r0 up; ip link set r1 up
  sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
    net.ipv4.conf.r0.rp_filter=0 net.ipv4.conf.r1.rp_filter=0 net.ipv6.conf.all.forwarding=1
  ip route add 10.0.0.0/16 dev r0; ip route add 198.51.100.0/24 dev r1
  ip -6 route add fd00::/64 dev r0; ip -6 route add 2001:db8::/64 dev r1
  for t in iptables ip6tables; do
    $t -A FORWARD -m conntrack --ctstate INVALID -j DROP
    $t -A FORWARD -m conntrack --ctstate NEW -j ACCEPT
    $t -A FORWARD -m conntrack --ctstate ESTABLISHED -j ACCEPT
    $t -A FORWARD -j DROP
  done'
python3 - "$trace" "gc$$" "gs$$" <<'PY'
import socket, struct, sys, time
data = open(sys.argv[1], 'rb').read()
if data[:4] != b'\xd4\xc3\xb2\xa1': sys.exit('need a little-endian microsecond pcap')
client = socket.socket(socket.AF_PACKET, socket.SOCK_RAW); client.bind((sys.argv[2], 0))
server = socket.socket(socket.AF_PACKET, socket.SOCK_RAW); server.bind((sys.argv[3], 0))
p, n = 24, 0
while p < len(data):
    _, _, cap, _ = struct.unpack_from('<IIII', data, p)
    frame = data[p + 16:p + 16 + cap]; p += 16 + cap
    (client if frame[11] == 1 else server).send(frame)
    n += 1
    if n % 50 == 0: time.sleep(0.002)  # let the router keep up so no packet is lost
print(f'sent {n} frames')
PY
sleep 1
for t in iptables ip6tables; do echo "== $t FORWARD"; ip netns exec "$ns" $t -nvxL FORWARD | awk 'NR>2 {print $1, $3, $NF}'; done
echo "== conntrack entries by protocol and TCP state"
ip netns exec "$ns" conntrack -L 2>/dev/null | awk '{print $1, ($1=="tcp"?$4:"")}' | sort | uniq -c

/*
 * C reference for bench/trace-decode.ts: a plain libpcap loop (pcap_open_offline +
 * pcap_next_ex) that counts packets and extracts the 5-tuple of Ethernet (one optional 802.1Q /
 * 802.1ad tag), LINKTYPE_RAW and Raw IPv4/IPv6 frames carrying TCP, UDP or SCTP over IPv4 (any
 * header length, first fragments only) or IPv6 (no extension headers), folding it into the same
 * checksum the TypeScript side computes. It repeats the whole file `rounds` times in one process
 * and prints one line per round: "packets checksum cpu_seconds wall_seconds".
 *
 * Build: cc -O2 -o pcap-decode pcap-decode.c -lpcap
 * Run:   ./pcap-decode FILE.pcap [rounds]
 */
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double clock_seconds(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint32_t be32(const u_char *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static uint32_t be16(const u_char *p) {
  return ((uint32_t)p[0] << 8) | (uint32_t)p[1];
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s FILE.pcap [rounds]\n", argv[0]);
    return 2;
  }
  int rounds = argc > 2 ? atoi(argv[2]) : 1;
  if (rounds < 1) rounds = 1;
  for (int r = 0; r < rounds; r++) {
    char err[PCAP_ERRBUF_SIZE];
    double cpu0 = clock_seconds(CLOCK_PROCESS_CPUTIME_ID);
    double wall0 = clock_seconds(CLOCK_MONOTONIC);
    pcap_t *p = pcap_open_offline(argv[1], err);
    if (p == NULL) {
      fprintf(stderr, "%s\n", err);
      return 3;
    }
    int dlt = pcap_datalink(p);
    struct pcap_pkthdr *h;
    const u_char *d;
    uint64_t packets = 0;
    uint32_t checksum = 0;
    int rc;
    while ((rc = pcap_next_ex(p, &h, &d)) == 1) {
      packets++;
      uint32_t len = h->caplen;
      uint32_t o = 0;
      uint32_t type;
      if (dlt == DLT_EN10MB) {
        if (len < 14) continue;
        type = be16(d + 12);
        o = 14;
        if (type == 0x8100 || type == 0x88a8) {
          if (len < 18) continue;
          type = be16(d + 16);
          o = 18;
        }
      } else if (dlt == DLT_RAW || dlt == 12 || dlt == 14 || dlt == 228 || dlt == 229) {
        if (len < 1) continue;
        type = (d[0] >> 4) == 6 ? 0x86dd : 0x0800;
      } else {
        continue;
      }
      uint32_t src, dst, proto, l4;
      if (type == 0x0800) {
        if (len < o + 20 || (d[o] >> 4) != 4) continue;
        if ((be16(d + o + 6) & 0x1fff) != 0) continue; /* later fragment: no ports */
        proto = d[o + 9];
        src = be32(d + o + 12);
        dst = be32(d + o + 16);
        l4 = o + (d[o] & 0x0f) * 4;
      } else if (type == 0x86dd) {
        if (len < o + 40 || (d[o] >> 4) != 6) continue;
        proto = d[o + 6];
        src = be32(d + o + 8);
        dst = be32(d + o + 24);
        l4 = o + 40;
      } else {
        continue;
      }
      if ((proto == 6 || proto == 17 || proto == 132) && len >= l4 + 4) {
        checksum += src + dst + be16(d + l4) + be16(d + l4 + 2) + proto;
      }
    }
    if (rc == -1) {
      fprintf(stderr, "%s\n", pcap_geterr(p));
      pcap_close(p);
      return 3;
    }
    pcap_close(p);
    printf("%llu %u %.6f %.6f\n", (unsigned long long)packets, checksum,
           clock_seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu0, clock_seconds(CLOCK_MONOTONIC) - wall0);
    fflush(stdout);
  }
  return 0;
}

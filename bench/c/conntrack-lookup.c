/*
 * C reference for bench/conntrack-lookup.ts: the same established-flow lookup (jhash2 over the
 * 9-word IPv4 tuple as the kernel lays it out, reciprocal_scale to a bucket, walk the chain of
 * 40-byte two-node records comparing the tuple) over the same shape of table (200k connections
 * inserted in both directions, 1M or 64k buckets), lookups in a random order of flows, half in the
 * reply direction, read front to back. Two orders, as in the TypeScript bench: per packet, and
 * prepared (hash a run of 128 ahead, touch the chains two nodes deep in lockstep, then walk).
 * It tells what a compiled lookup does on the machine the bench runs on.
 *
 * Build: cc -O2 -o conntrack-lookup conntrack-lookup.c
 * Run:   ./conntrack-lookup BUCKETS [rounds]  -> one line per round: "mode lookups cpu_seconds"
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define CONNECTIONS 200000u
#define LOOKUPS 400000u
#define RUN 128u
#define NO_NODE 0xffffffffu

struct node { uint32_t next, src, dst, ports, word; };

static uint32_t rol32(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }
static uint32_t bswap32(uint32_t x) { return __builtin_bswap32(x); }
static uint32_t bswap16(uint32_t x) { return ((x & 0xff) << 8) | ((x >> 8) & 0xff); }

static uint32_t jhash2_9(const uint32_t *k, uint32_t initval) {
  uint32_t a, b, c;
  a = b = c = 0xdeadbeef + (9u << 2) + initval;
  for (int i = 0; i < 6; i += 3) {
    a += k[i]; b += k[i + 1]; c += k[i + 2];
    a -= c; a ^= rol32(c, 4); c += b;
    b -= a; b ^= rol32(a, 6); a += c;
    c -= b; c ^= rol32(b, 8); b += a;
    a -= c; a ^= rol32(c, 16); c += b;
    b -= a; b ^= rol32(a, 19); a += c;
    c -= b; c ^= rol32(b, 4); b += a;
  }
  a += k[6]; b += k[7]; c += k[8];
  c ^= b; c -= rol32(b, 14);
  a ^= c; a -= rol32(c, 11);
  b ^= a; b -= rol32(a, 25);
  c ^= b; c -= rol32(b, 16);
  a ^= c; a -= rol32(c, 4);
  b ^= a; b -= rol32(a, 14);
  c ^= b; c -= rol32(b, 24);
  return c;
}

/* hash_conntrack_raw of an IPv4 TCP tuple (addresses as numbers, ports in host value), seed 1. */
static uint32_t tuple_hash(uint32_t src, uint32_t dst, uint32_t sport, uint32_t dport) {
  uint32_t k[9] = { bswap32(src), 0, 0, 0, bswap16(sport) | (2u << 16), bswap32(dst), 0, 0, 0 };
  return jhash2_9(k, 1u ^ ((bswap16(dport) << 16) | 6u));
}

static uint32_t bucket_of(uint32_t h, uint32_t buckets) { return (uint32_t)(((uint64_t)h * buckets) >> 32); }

static uint32_t *heads;
static struct node *nodes;
static uint32_t nbuckets;

static uint32_t find(uint32_t h, uint32_t src, uint32_t dst, uint32_t ports, uint64_t *visited) {
  for (uint32_t n = heads[bucket_of(h, nbuckets)]; n != NO_NODE; n = nodes[n].next) {
    ++*visited;
    const struct node *x = &nodes[n];
    if ((int32_t)(nodes[n & ~1u].word - 1000u) > 0 && x->src == src && x->dst == dst && x->ports == ports && nodes[n | 1u].word == ((4u << 8) | 6u)) return n;
  }
  return NO_NODE;
}

static double cpu_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint32_t xs = 12345;
static uint32_t rnd(void) { xs ^= xs << 13; xs ^= xs >> 17; xs ^= xs << 5; return xs; }

int main(int argc, char **argv) {
  nbuckets = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 1048576u;
  int rounds = argc > 2 ? atoi(argv[2]) : 5;
  if (nbuckets < 1) return 2;
  heads = malloc(sizeof(uint32_t) * nbuckets);
  nodes = malloc(sizeof(struct node) * 2 * CONNECTIONS);
  uint32_t *fs = malloc(4 * CONNECTIONS), *fd = malloc(4 * CONNECTIONS), *fp = malloc(4 * CONNECTIONS);
  uint32_t *ks = malloc(4 * LOOKUPS), *kd = malloc(4 * LOOKUPS), *kp = malloc(4 * LOOKUPS), *kh = malloc(4 * RUN), *cur = malloc(4 * RUN);
  for (uint32_t b = 0; b < nbuckets; b++) heads[b] = NO_NODE;
  for (uint32_t c = 0; c < CONNECTIONS; c++) {
    /* Clients in 10/8, 1000 servers, ports 443/80 (duplicates are harmless: the first one is found). */
    fs[c] = 0x0a000000u | (rnd() & 0xffffff);
    fd[c] = 0xc6120000u + rnd() % 1000;
    uint32_t sport = 1024 + rnd() % 64000, dport = rnd() & 1 ? 443 : 80;
    fp[c] = (sport << 16) | dport;
    struct node *o = &nodes[2 * c], *r = &nodes[2 * c + 1];
    o->src = fs[c]; o->dst = fd[c]; o->ports = fp[c]; o->word = 432000000u;
    r->src = fd[c]; r->dst = fs[c]; r->ports = (dport << 16) | sport; r->word = (4u << 8) | 6u;
    uint32_t bo = bucket_of(tuple_hash(fs[c], fd[c], sport, dport), nbuckets);
    uint32_t br = bucket_of(tuple_hash(fd[c], fs[c], dport, sport), nbuckets);
    o->next = heads[bo]; heads[bo] = 2 * c;
    r->next = heads[br]; heads[br] = 2 * c + 1;
  }
  for (uint32_t k = 0; k < LOOKUPS; k++) {
    uint32_t j = rnd() % (2 * CONNECTIONS), i = j >> 1;
    if (j & 1) { ks[k] = fd[i]; kd[k] = fs[i]; kp[k] = (fp[i] << 16) | (fp[i] >> 16); }
    else { ks[k] = fs[i]; kd[k] = fd[i]; kp[k] = fp[i]; }
  }
  uint64_t visited = 0, misses = 0, sink = 0;
  for (int round = 0; round < rounds; round++) {
    double t0 = cpu_seconds();
    for (uint32_t k = 0; k < LOOKUPS; k++) {
      uint32_t h = tuple_hash(ks[k], kd[k], kp[k] >> 16, kp[k] & 0xffff);
      if (find(h, ks[k], kd[k], kp[k], &visited) == NO_NODE) misses++;
    }
    double t1 = cpu_seconds();
    printf("per-packet %u %.6f\n", LOOKUPS, t1 - t0);
    t0 = cpu_seconds();
    for (uint32_t from = 0; from < LOOKUPS; from += RUN) {
      uint32_t n = LOOKUPS - from < RUN ? LOOKUPS - from : RUN;
      for (uint32_t k = 0; k < n; k++) kh[k] = tuple_hash(ks[from + k], kd[from + k], kp[from + k] >> 16, kp[from + k] & 0xffff);
      for (uint32_t k = 0; k < n; k++) cur[k] = heads[bucket_of(kh[k], nbuckets)];
      for (int depth = 0; depth < 2; depth++)
        /* The record's first and last words: a 40-byte record may straddle two cache lines. */
        for (uint32_t k = 0; k < n; k++) if (cur[k] != NO_NODE) { sink += nodes[cur[k] & ~1u].next + nodes[cur[k] | 1u].word; cur[k] = nodes[cur[k]].next; }
      for (uint32_t k = 0; k < n; k++) if (find(kh[k], ks[from + k], kd[from + k], kp[from + k], &visited) == NO_NODE) misses++;
    }
    t1 = cpu_seconds();
    printf("prepared %u %.6f\n", LOOKUPS, t1 - t0);
  }
  fprintf(stderr, "misses %llu nodes %llu sink %llu\n", (unsigned long long)misses, (unsigned long long)visited, (unsigned long long)sink);
  return misses ? 1 : 0;
}

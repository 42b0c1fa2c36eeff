;; ____nf_conntrack_find for a run of tuples whose hashes are known (ConntrackInStage.prepare):
;; bucket (reciprocal_scale), chain head, then the walk comparing each node's tuple, for up to
;; RUN_CAPACITY tuples a call. The source of src/conntrack/chain-walk-wasm.ts (assembled by
;; test/conntrack/chain-walk-wasm.test.ts, which holds the two equal).
;;
;; Why: the same walk in JavaScript re-checks each typed array's map, length and data pointer
;; inside the loop, so fewer cache misses overlap; here a node is a base pointer and immediates.
;;
;; Memory (imported; ConntrackTable keeps its chain heads and node records in it, see table.ts):
;; RUN_RECORDS: the run's tuples as tuple-hash.wat reads them (ten i32 each: src words 0..3, dst
;; words 0..3, sport | dport << 16, protonum | l3num << 8 with NFPROTO_IPV4 2; an IPv4 tuple's
;; address words 1..3 unwritten); RUN_HASHES: their hashes, which a tuple-hash.wat instance on the
;; same memory writes first (its key block at HASH_KEY); then the results, per tuple: RESULT_NODE (the node found, -1 none, -2 not decided here: an
;; IPv6 tuple, whose other address words live outside this memory, or an expired node on the way,
;; which find() must reap), RESULT_VISITED (nodes walked), RESULT_EXPIRY (the expiry word of the
;; walked node that expires first, for the caller's check that none has expired since),
;; RESULT_BUCKET (the tuple's bucket: which chain's changes the result depends on).
;; The table: `heads` (i32 per bucket) and `nodes` (table.ts NodeLayout: 20 bytes a node, the
;; connection record of node n at (n & ~1) * 20, its expiry at +16 and l3 << 8 | proto at +36).
(module
  (import "env" "memory" (memory 1))

  (global (export "RUN_CAPACITY") i32 (i32.const 1024))
  (global (export "RUN_RECORDS") i32 (i32.const 0))
  (global (export "RUN_HASHES") i32 (i32.const 40960))
  (global (export "RESULT_NODE") i32 (i32.const 45056))
  (global (export "RESULT_VISITED") i32 (i32.const 49152))
  (global (export "RESULT_EXPIRY") i32 (i32.const 53248))
  (global (export "RESULT_BUCKET") i32 (i32.const 57344))
  ;; Scratch: each tuple's next node while the chains are warmed.
  (global (export "CURSOR") i32 (i32.const 61440))
  ;; tuple-hash.wat's key block (64 bytes), then what the warming loads summed to.
  (global (export "HASH_KEY") i32 (i32.const 65536))
  (global (export "WARM_SUM") i32 (i32.const 65600))
  ;; Where the table may start.
  (global (export "TABLE_AT") i32 (i32.const 131072))

  (func (export "lookupRun") (param $count i32) (param $now i32) (param $buckets i32) (param $heads i32) (param $nodes i32)
    (local $k i32) (local $n i32) (local $p i32) (local $b i32) (local $cb i32) (local $x i32) (local $rel i32)
    (local $minRel i32) (local $minWord i32) (local $visited i32) (local $src i32) (local $dst i32)
    (local $ports i32) (local $meta i32) (local $rec i32) (local $found i32) (local $depth i32) (local $sum i32)
    ;; Chain heads of the whole run first, then its first two nodes in lockstep (as table.ts warm):
    ;; the loads of one pass do not depend on each other, so their cache misses overlap.
    (block $headsDone
      (loop $headsLoop
        (br_if $headsDone (i32.ge_u (local.get $k) (local.get $count)))
        (local.set $p (i32.shl (local.get $k) (i32.const 2)))
        ;; reciprocal_scale(hash, buckets)
        (i32.store offset=57344 (local.get $p) (local.tee $b
          (i32.wrap_i64 (i64.shr_u (i64.mul (i64.extend_i32_u (i32.load offset=40960 (local.get $p))) (i64.extend_i32_u (local.get $buckets))) (i64.const 32)))))
        (i32.store offset=61440 (local.get $p) (i32.load (i32.add (local.get $heads) (i32.shl (local.get $b) (i32.const 2)))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $headsLoop)))
    (block $warmDone
      (loop $warmDepth
        (br_if $warmDone (i32.ge_u (local.get $depth) (i32.const 2)))
        (local.set $k (i32.const 0))
        (block $passDone
          (loop $pass
            (br_if $passDone (i32.ge_u (local.get $k) (local.get $count)))
            (local.set $p (i32.shl (local.get $k) (i32.const 2)))
            (local.set $n (i32.load offset=61440 (local.get $p)))
            (if (i32.ge_s (local.get $n) (i32.const 0))
              (then
                ;; The connection record's first and last words: a 40-byte record may straddle two lines.
                (local.set $cb (i32.add (local.get $nodes) (i32.mul (i32.and (local.get $n) (i32.const -2)) (i32.const 20))))
                (local.set $sum (i32.add (local.get $sum) (i32.add (i32.load (local.get $cb)) (i32.load offset=36 (local.get $cb)))))
                (i32.store offset=61440 (local.get $p) (i32.load (i32.add (local.get $nodes) (i32.mul (local.get $n) (i32.const 20)))))))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $pass)))
        (local.set $depth (i32.add (local.get $depth) (i32.const 1)))
        (br $warmDepth)))
    (i32.store offset=65600 (i32.const 0) (local.get $sum))
    ;; The walks.
    (local.set $k (i32.const 0))
    (block $runDone
      (loop $run
        (br_if $runDone (i32.ge_u (local.get $k) (local.get $count)))
        (local.set $rec (i32.mul (local.get $k) (i32.const 40)))
        (local.set $p (i32.shl (local.get $k) (i32.const 2)))
        (local.set $meta (i32.load offset=36 (local.get $rec)))
        (local.set $visited (i32.const 0))
        (local.set $minRel (i32.const 0x7fffffff))
        (local.set $minWord (i32.add (local.get $now) (i32.const 0x7fffffff)))
        (local.set $found (i32.const -1))
        (block $walked
          (if (i32.ne (i32.shr_u (local.get $meta) (i32.const 8)) (i32.const 2))
            (then (local.set $found (i32.const -2)) (br $walked)))
          ;; The node's form of the tuple: l3 4 << 8 | proto, sport << 16 | dport.
          (local.set $meta (i32.or (i32.const 0x400) (i32.and (local.get $meta) (i32.const 0xff))))
          (local.set $ports (i32.rotl (i32.load offset=32 (local.get $rec)) (i32.const 16)))
          (local.set $src (i32.load (local.get $rec)))
          (local.set $dst (i32.load offset=16 (local.get $rec)))
          (local.set $n (i32.load (i32.add (local.get $heads) (i32.shl (i32.load offset=57344 (local.get $p)) (i32.const 2)))))
          (loop $chain
            (br_if $walked (i32.lt_s (local.get $n) (i32.const 0)))
            (local.set $visited (i32.add (local.get $visited) (i32.const 1)))
            (local.set $b (i32.add (local.get $nodes) (i32.mul (local.get $n) (i32.const 20))))
            (local.set $cb (i32.add (local.get $nodes) (i32.mul (i32.and (local.get $n) (i32.const -2)) (i32.const 20))))
            (local.set $x (i32.load offset=16 (local.get $cb)))
            (local.set $rel (i32.sub (local.get $x) (local.get $now)))
            (if (i32.le_s (local.get $rel) (i32.const 0))
              (then (local.set $found (i32.const -2)) (br $walked)))
            (if (i32.lt_s (local.get $rel) (local.get $minRel))
              (then (local.set $minRel (local.get $rel)) (local.set $minWord (local.get $x))))
            (if (i32.and
                  (i32.and (i32.eq (i32.load offset=4 (local.get $b)) (local.get $src)) (i32.eq (i32.load offset=8 (local.get $b)) (local.get $dst)))
                  (i32.and (i32.eq (i32.load offset=12 (local.get $b)) (local.get $ports)) (i32.eq (i32.load offset=36 (local.get $cb)) (local.get $meta))))
              (then (local.set $found (local.get $n)) (br $walked)))
            (local.set $n (i32.load (local.get $b)))
            (br $chain)))
        (i32.store offset=45056 (local.get $p) (local.get $found))
        (i32.store offset=49152 (local.get $p) (local.get $visited))
        (i32.store offset=53248 (local.get $p) (local.get $minWord))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $run))))
)

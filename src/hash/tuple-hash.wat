;; hash_conntrack_raw (net/netfilter/nf_conntrack_core.c) for a run of tuples: SipHash-2-4
;; (current kernels, `hashRun`) and jhash2 (up to v5.14, `jhashRun`).
;;
;; The source of src/hash/tuple-hash-wasm.ts (assembled by test/hash/tuple-hash-wasm.test.ts,
;; which holds the two equal). JavaScript has no 64-bit integers short of BigInt, so SipHash there works on
;; 32-bit halves (~120 ns a tuple); here each SipRound is fourteen i64 instructions. jhash2 is
;; 32-bit, but V8's code for it in JavaScript checks and spills more than this does.
;;
;; Memory (imported: a TupleHasher's own page, or a conntrack table's chain-walk memory, whose run
;; this hashes in place): at `$key`, a 64-byte block: the SipHash key (k0, k1, little-endian u64)
;; at +0, scratch for the message words of the tuple being hashed at +16..55, the jhash2 seed at
;; +56. `$count` input records of 40 bytes from `$records`, one i32 output each from `$hashes`.
;; An input record is ten i32, as the packet batch holds the tuple: src words 0..3, dst words
;; 0..3 (address words as big-endian numbers, IPv4 in word 0), sport | dport << 16,
;; protonum | l3num << 8 (NFPROTO_IPV4 2, IPV6 10). For IPv4 (l3num 2) only words 0, 4, 8 and 9
;; are read: the other address words are zero in the tuple, whatever the record holds there.
;; The output is the low 32 bits of the hash (what hash_conntrack_raw keeps).
;;
;; The hashed bytes are struct nf_conntrack_tuple up to dst.protonum (39 bytes, five u64 words):
;; src.u3 (16), src.u.all (2, network order), src.l3num (2, host order), dst.u3 (16),
;; dst.u.all (2), dst.protonum (1), and the length 39 in the last word's top byte.
(module
  (import "env" "memory" (memory 1))

  ;; Byte swaps are written out where they are needed (rotl 8 and 24, masked): V8 does not
  ;; inline calls between WebAssembly functions here.

  (func (export "hashRun") (param $count i32) (param $records i32) (param $hashes i32) (param $key i32)
    (local $k0 i64) (local $k1 i64)
    (local $v0 i64) (local $v1 i64) (local $v2 i64) (local $v3 i64)
    (local $m i64)
    (local $in i32) (local $out i32) (local $end i32) (local $w i32) (local $ports i32) (local $meta i32) (local $t i32) (local $ipv6 i32) (local $hi i32)
    (local.set $k0 (i64.load (local.get $key)))
    (local.set $k1 (i64.load offset=8 (local.get $key)))
    (local.set $in (local.get $records))
    (local.set $out (local.get $hashes))
    (local.set $end (i32.add (local.get $out) (i32.shl (local.get $count) (i32.const 2))))
    (block $done
      (loop $tuples
        (br_if $done (i32.ge_u (local.get $out) (local.get $end)))
        (local.set $ports (i32.load offset=32 (local.get $in)))
        (local.set $meta (i32.load offset=36 (local.get $in)))
        ;; Address words 1..3 are read for anything but IPv4 (l3num 2).
        (local.set $ipv6 (i32.ne (i32.shr_u (local.get $meta) (i32.const 8)) (i32.const 2)))
        ;; src.u.all (network order) and src.l3num, then dst address word 0.
        (i64.store offset=32 (local.get $key) (i64.or
          (i64.extend_i32_u (i32.or (i32.or (i32.and (i32.shr_u (local.get $ports) (i32.const 8)) (i32.const 0xff)) (i32.and (i32.shl (local.get $ports) (i32.const 8)) (i32.const 0xff00))) (i32.shl (i32.shr_u (local.get $meta) (i32.const 8)) (i32.const 16))))
          (i64.shl (i64.extend_i32_u (i32.or (i32.and (i32.rotl (local.tee $t (i32.load offset=16 (local.get $in))) (i32.const 8)) (i32.const 0x00ff00ff)) (i32.and (i32.rotl (local.get $t) (i32.const 24)) (i32.const 0xff00ff00)))) (i64.const 32))))
        ;; dst.u.all, dst.protonum and the length (39) as the high half of the last word.
        (local.set $hi (i32.or (i32.or (i32.or (i32.and (i32.shr_u (i32.shr_u (local.get $ports) (i32.const 16)) (i32.const 8)) (i32.const 0xff)) (i32.and (i32.shl (i32.shr_u (local.get $ports) (i32.const 16)) (i32.const 8)) (i32.const 0xff00))) (i32.shl (i32.and (local.get $meta) (i32.const 0xff)) (i32.const 16))) (i32.const 0x27000000)))
        (if (local.get $ipv6)
          (then
            ;; src.u3 and dst.u3: address words in network order; dst word 3 the low half of the last word.
            (i64.store offset=16 (local.get $key) (i64.or (i64.extend_i32_u (i32.or (i32.and (i32.rotl (local.tee $t (i32.load offset=0 (local.get $in))) (i32.const 8)) (i32.const 0x00ff00ff)) (i32.and (i32.rotl (local.get $t) (i32.const 24)) (i32.const 0xff00ff00))))
              (i64.shl (i64.extend_i32_u (i32.or (i32.and (i32.rotl (local.tee $t (i32.load offset=4 (local.get $in))) (i32.const 8)) (i32.const 0x00ff00ff)) (i32.and (i32.rotl (local.get $t) (i32.const 24)) (i32.const 0xff00ff00)))) (i64.const 32))))
            (i64.store offset=24 (local.get $key) (i64.or (i64.extend_i32_u (i32.or (i32.and (i32.rotl (local.tee $t (i32.load offset=8 (local.get $in))) (i32.const 8)) (i32.const 0x00ff00ff)) (i32.and (i32.rotl (local.get $t) (i32.const 24)) (i32.const 0xff00ff00))))
              (i64.shl (i64.extend_i32_u (i32.or (i32.and (i32.rotl (local.tee $t (i32.load offset=12 (local.get $in))) (i32.const 8)) (i32.const 0x00ff00ff)) (i32.and (i32.rotl (local.get $t) (i32.const 24)) (i32.const 0xff00ff00)))) (i64.const 32))))
            (i64.store offset=40 (local.get $key) (i64.or (i64.extend_i32_u (i32.or (i32.and (i32.rotl (local.tee $t (i32.load offset=20 (local.get $in))) (i32.const 8)) (i32.const 0x00ff00ff)) (i32.and (i32.rotl (local.get $t) (i32.const 24)) (i32.const 0xff00ff00))))
              (i64.shl (i64.extend_i32_u (i32.or (i32.and (i32.rotl (local.tee $t (i32.load offset=24 (local.get $in))) (i32.const 8)) (i32.const 0x00ff00ff)) (i32.and (i32.rotl (local.get $t) (i32.const 24)) (i32.const 0xff00ff00)))) (i64.const 32))))
            (i64.store offset=48 (local.get $key) (i64.or (i64.shl (i64.extend_i32_u (local.get $hi)) (i64.const 32)) (i64.extend_i32_u (i32.or (i32.and (i32.rotl (local.tee $t (i32.load offset=28 (local.get $in))) (i32.const 8)) (i32.const 0x00ff00ff)) (i32.and (i32.rotl (local.get $t) (i32.const 24)) (i32.const 0xff00ff00)))))))
          (else
            ;; IPv4: address words 1..3 are zero.
            (i64.store offset=16 (local.get $key) (i64.extend_i32_u (i32.or (i32.and (i32.rotl (local.tee $t (i32.load offset=0 (local.get $in))) (i32.const 8)) (i32.const 0x00ff00ff)) (i32.and (i32.rotl (local.get $t) (i32.const 24)) (i32.const 0xff00ff00)))))
            (i64.store offset=24 (local.get $key) (i64.const 0))
            (i64.store offset=40 (local.get $key) (i64.const 0))
            (i64.store offset=48 (local.get $key) (i64.shl (i64.extend_i32_u (local.get $hi)) (i64.const 32)))))
        (local.set $v0 (i64.xor (local.get $k0) (i64.const 0x736f6d6570736575)))
        (local.set $v1 (i64.xor (local.get $k1) (i64.const 0x646f72616e646f6d)))
        (local.set $v2 (i64.xor (local.get $k0) (i64.const 0x6c7967656e657261)))
        (local.set $v3 (i64.xor (local.get $k1) (i64.const 0x7465646279746573)))
        ;; Compression: two SipRounds per message word.
        (local.set $w (i32.const 0))
        (loop $words
          (local.set $m (i64.load offset=16 (i32.add (local.get $key) (i32.shl (local.get $w) (i32.const 3)))))
          (local.set $v3 (i64.xor (local.get $v3) (local.get $m)))
          ;; SipRound
          (local.set $v0 (i64.add (local.get $v0) (local.get $v1)))
          (local.set $v1 (i64.xor (i64.rotl (local.get $v1) (i64.const 13)) (local.get $v0)))
          (local.set $v0 (i64.rotl (local.get $v0) (i64.const 32)))
          (local.set $v2 (i64.add (local.get $v2) (local.get $v3)))
          (local.set $v3 (i64.xor (i64.rotl (local.get $v3) (i64.const 16)) (local.get $v2)))
          (local.set $v0 (i64.add (local.get $v0) (local.get $v3)))
          (local.set $v3 (i64.xor (i64.rotl (local.get $v3) (i64.const 21)) (local.get $v0)))
          (local.set $v2 (i64.add (local.get $v2) (local.get $v1)))
          (local.set $v1 (i64.xor (i64.rotl (local.get $v1) (i64.const 17)) (local.get $v2)))
          (local.set $v2 (i64.rotl (local.get $v2) (i64.const 32)))
          ;; SipRound
          (local.set $v0 (i64.add (local.get $v0) (local.get $v1)))
          (local.set $v1 (i64.xor (i64.rotl (local.get $v1) (i64.const 13)) (local.get $v0)))
          (local.set $v0 (i64.rotl (local.get $v0) (i64.const 32)))
          (local.set $v2 (i64.add (local.get $v2) (local.get $v3)))
          (local.set $v3 (i64.xor (i64.rotl (local.get $v3) (i64.const 16)) (local.get $v2)))
          (local.set $v0 (i64.add (local.get $v0) (local.get $v3)))
          (local.set $v3 (i64.xor (i64.rotl (local.get $v3) (i64.const 21)) (local.get $v0)))
          (local.set $v2 (i64.add (local.get $v2) (local.get $v1)))
          (local.set $v1 (i64.xor (i64.rotl (local.get $v1) (i64.const 17)) (local.get $v2)))
          (local.set $v2 (i64.rotl (local.get $v2) (i64.const 32)))
          (local.set $v0 (i64.xor (local.get $v0) (local.get $m)))
          (local.set $w (i32.add (local.get $w) (i32.const 1)))
          (br_if $words (i32.lt_u (local.get $w) (i32.const 5))))
        ;; Finalisation: four SipRounds.
        (local.set $v2 (i64.xor (local.get $v2) (i64.const 0xff)))
        (local.set $w (i32.const 0))
        (loop $final
          (local.set $v0 (i64.add (local.get $v0) (local.get $v1)))
          (local.set $v1 (i64.xor (i64.rotl (local.get $v1) (i64.const 13)) (local.get $v0)))
          (local.set $v0 (i64.rotl (local.get $v0) (i64.const 32)))
          (local.set $v2 (i64.add (local.get $v2) (local.get $v3)))
          (local.set $v3 (i64.xor (i64.rotl (local.get $v3) (i64.const 16)) (local.get $v2)))
          (local.set $v0 (i64.add (local.get $v0) (local.get $v3)))
          (local.set $v3 (i64.xor (i64.rotl (local.get $v3) (i64.const 21)) (local.get $v0)))
          (local.set $v2 (i64.add (local.get $v2) (local.get $v1)))
          (local.set $v1 (i64.xor (i64.rotl (local.get $v1) (i64.const 17)) (local.get $v2)))
          (local.set $v2 (i64.rotl (local.get $v2) (i64.const 32)))
          (local.set $w (i32.add (local.get $w) (i32.const 1)))
          (br_if $final (i32.lt_u (local.get $w) (i32.const 4))))
        (i32.store (local.get $out)
          (i32.wrap_i64 (i64.xor (i64.xor (local.get $v0) (local.get $v1)) (i64.xor (local.get $v2) (local.get $v3)))))
        (local.set $in (i32.add (local.get $in) (i32.const 40)))
        (local.set $out (i32.add (local.get $out) (i32.const 4)))
        (br $tuples))))

  ;; hash_conntrack_raw with jhash2 (kernels up to v5.14) for a run of tuples, in the same records:
  ;; jhash2 over the tuple's first nine u32 words read in host order (src.u3, src.u.all + l3num,
  ;; dst.u3), initval = seed ^ (dst.u.all read natively << 16 | protonum), the seed (zone mixed
  ;; in) at $key + 56. Outputs as hashRun's.
  (func (export "jhashRun") (param $count i32) (param $records i32) (param $hashes i32) (param $key i32)
    (local $a i32) (local $b i32) (local $c i32) (local $seed i32) (local $t i32)
    (local $in i32) (local $out i32) (local $end i32) (local $ports i32) (local $meta i32) (local $ipv6 i32)
    (local.set $seed (i32.load offset=56 (local.get $key)))
    (local.set $in (local.get $records))
    (local.set $out (local.get $hashes))
    (local.set $end (i32.add (local.get $out) (i32.shl (local.get $count) (i32.const 2))))
    (block $done
      (loop $tuples
        (br_if $done (i32.ge_u (local.get $out) (local.get $end)))
        (local.set $ports (i32.load offset=32 (local.get $in)))
        (local.set $meta (i32.load offset=36 (local.get $in)))
        ;; Address words 1..3 are read for anything but IPv4 (l3num 2).
        (local.set $ipv6 (i32.ne (i32.shr_u (local.get $meta) (i32.const 8)) (i32.const 2)))
        ;; a = b = c = 0xdeadbeef + (9 << 2) + initval
        (local.set $a (i32.add (i32.const 0xdeadbf13)
          (i32.xor (local.get $seed)
            (i32.or (i32.shl (i32.or (i32.and (i32.shr_u (i32.shr_u (local.get $ports) (i32.const 16)) (i32.const 8)) (i32.const 0xff)) (i32.and (i32.shl (i32.shr_u (local.get $ports) (i32.const 16)) (i32.const 8)) (i32.const 0xff00))) (i32.const 16))
                    (i32.and (local.get $meta) (i32.const 0xff))))))
        (local.set $b (local.get $a))
        (local.set $c (local.get $a))
        ;; words 0..2, __jhash_mix (IPv4: words 1 and 2 are zero)
        (local.set $a (i32.add (local.get $a) (i32.or (i32.and (i32.rotl (local.tee $t (i32.load offset=0 (local.get $in))) (i32.const 8)) (i32.const 0x00ff00ff)) (i32.and (i32.rotl (local.get $t) (i32.const 24)) (i32.const 0xff00ff00)))))
        (if (local.get $ipv6) (then
          (local.set $b (i32.add (local.get $b) (i32.or (i32.and (i32.rotl (local.tee $t (i32.load offset=4 (local.get $in))) (i32.const 8)) (i32.const 0x00ff00ff)) (i32.and (i32.rotl (local.get $t) (i32.const 24)) (i32.const 0xff00ff00)))))
          (local.set $c (i32.add (local.get $c) (i32.or (i32.and (i32.rotl (local.tee $t (i32.load offset=8 (local.get $in))) (i32.const 8)) (i32.const 0x00ff00ff)) (i32.and (i32.rotl (local.get $t) (i32.const 24)) (i32.const 0xff00ff00)))))))
        (local.set $a (i32.xor (i32.sub (local.get $a) (local.get $c)) (i32.rotl (local.get $c) (i32.const 4))))
        (local.set $c (i32.add (local.get $c) (local.get $b)))
        (local.set $b (i32.xor (i32.sub (local.get $b) (local.get $a)) (i32.rotl (local.get $a) (i32.const 6))))
        (local.set $a (i32.add (local.get $a) (local.get $c)))
        (local.set $c (i32.xor (i32.sub (local.get $c) (local.get $b)) (i32.rotl (local.get $b) (i32.const 8))))
        (local.set $b (i32.add (local.get $b) (local.get $a)))
        (local.set $a (i32.xor (i32.sub (local.get $a) (local.get $c)) (i32.rotl (local.get $c) (i32.const 16))))
        (local.set $c (i32.add (local.get $c) (local.get $b)))
        (local.set $b (i32.xor (i32.sub (local.get $b) (local.get $a)) (i32.rotl (local.get $a) (i32.const 19))))
        (local.set $a (i32.add (local.get $a) (local.get $c)))
        (local.set $c (i32.xor (i32.sub (local.get $c) (local.get $b)) (i32.rotl (local.get $b) (i32.const 4))))
        (local.set $b (i32.add (local.get $b) (local.get $a)))
        ;; words 3..5, __jhash_mix (IPv4: word 3 is zero)
        (if (local.get $ipv6) (then (local.set $a (i32.add (local.get $a) (i32.or (i32.and (i32.rotl (local.tee $t (i32.load offset=12 (local.get $in))) (i32.const 8)) (i32.const 0x00ff00ff)) (i32.and (i32.rotl (local.get $t) (i32.const 24)) (i32.const 0xff00ff00)))))))
        (local.set $b (i32.add (local.get $b) (i32.or (i32.or (i32.and (i32.shr_u (local.get $ports) (i32.const 8)) (i32.const 0xff)) (i32.and (i32.shl (local.get $ports) (i32.const 8)) (i32.const 0xff00))) (i32.shl (i32.shr_u (local.get $meta) (i32.const 8)) (i32.const 16)))))
        (local.set $c (i32.add (local.get $c) (i32.or (i32.and (i32.rotl (local.tee $t (i32.load offset=16 (local.get $in))) (i32.const 8)) (i32.const 0x00ff00ff)) (i32.and (i32.rotl (local.get $t) (i32.const 24)) (i32.const 0xff00ff00)))))
        (local.set $a (i32.xor (i32.sub (local.get $a) (local.get $c)) (i32.rotl (local.get $c) (i32.const 4))))
        (local.set $c (i32.add (local.get $c) (local.get $b)))
        (local.set $b (i32.xor (i32.sub (local.get $b) (local.get $a)) (i32.rotl (local.get $a) (i32.const 6))))
        (local.set $a (i32.add (local.get $a) (local.get $c)))
        (local.set $c (i32.xor (i32.sub (local.get $c) (local.get $b)) (i32.rotl (local.get $b) (i32.const 8))))
        (local.set $b (i32.add (local.get $b) (local.get $a)))
        (local.set $a (i32.xor (i32.sub (local.get $a) (local.get $c)) (i32.rotl (local.get $c) (i32.const 16))))
        (local.set $c (i32.add (local.get $c) (local.get $b)))
        (local.set $b (i32.xor (i32.sub (local.get $b) (local.get $a)) (i32.rotl (local.get $a) (i32.const 19))))
        (local.set $a (i32.add (local.get $a) (local.get $c)))
        (local.set $c (i32.xor (i32.sub (local.get $c) (local.get $b)) (i32.rotl (local.get $b) (i32.const 4))))
        (local.set $b (i32.add (local.get $b) (local.get $a)))
        ;; words 6..8, __jhash_final (IPv4: all zero)
        (if (local.get $ipv6) (then
          (local.set $a (i32.add (local.get $a) (i32.or (i32.and (i32.rotl (local.tee $t (i32.load offset=20 (local.get $in))) (i32.const 8)) (i32.const 0x00ff00ff)) (i32.and (i32.rotl (local.get $t) (i32.const 24)) (i32.const 0xff00ff00)))))
          (local.set $b (i32.add (local.get $b) (i32.or (i32.and (i32.rotl (local.tee $t (i32.load offset=24 (local.get $in))) (i32.const 8)) (i32.const 0x00ff00ff)) (i32.and (i32.rotl (local.get $t) (i32.const 24)) (i32.const 0xff00ff00)))))
          (local.set $c (i32.add (local.get $c) (i32.or (i32.and (i32.rotl (local.tee $t (i32.load offset=28 (local.get $in))) (i32.const 8)) (i32.const 0x00ff00ff)) (i32.and (i32.rotl (local.get $t) (i32.const 24)) (i32.const 0xff00ff00)))))))
        (local.set $c (i32.sub (i32.xor (local.get $c) (local.get $b)) (i32.rotl (local.get $b) (i32.const 14))))
        (local.set $a (i32.sub (i32.xor (local.get $a) (local.get $c)) (i32.rotl (local.get $c) (i32.const 11))))
        (local.set $b (i32.sub (i32.xor (local.get $b) (local.get $a)) (i32.rotl (local.get $a) (i32.const 25))))
        (local.set $c (i32.sub (i32.xor (local.get $c) (local.get $b)) (i32.rotl (local.get $b) (i32.const 16))))
        (local.set $a (i32.sub (i32.xor (local.get $a) (local.get $c)) (i32.rotl (local.get $c) (i32.const 4))))
        (local.set $b (i32.sub (i32.xor (local.get $b) (local.get $a)) (i32.rotl (local.get $a) (i32.const 14))))
        (local.set $c (i32.sub (i32.xor (local.get $c) (local.get $b)) (i32.rotl (local.get $b) (i32.const 24))))
        (i32.store (local.get $out) (local.get $c))
        (local.set $in (i32.add (local.get $in) (i32.const 40)))
        (local.set $out (i32.add (local.get $out) (i32.const 4)))
        (br $tuples))))
)

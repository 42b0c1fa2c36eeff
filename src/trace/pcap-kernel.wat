;; The pcap and pcapng fast path as WebAssembly: parser.ts parseFast's record loop and its inlined
;; common-case decoder, for a run of pcap records or pcapng enhanced packet blocks whole in the
;; reader's window. The source of src/trace/pcap-kernel-wasm.ts (assembled by
;; test/trace/pcap-kernel-wasm.test.ts, which holds the two equal).
;;
;; Why: the same loop in JavaScript keeps ~35 field offsets live and TurboFan spills them (hundreds
;; of stack accesses per record); here the staging columns are immediates off four slot pointers.
;;
;; Memory (imported, fixed size, never grown): the reader's window from byte 0, then, from `stage`,
;; the staging columns for SLOTS records at the COL_* offsets below (each column staggered 128
;; bytes along the 4 KiB grid, as PacketBatch's fields are, so that a record's stores do not all
;; fall in one L1 cache set). JavaScript copies the columns of a run into the packet batch.
;;
;; `decodeRun` walks records from window offset `start` while a whole record lies before `end` and
;; fewer than `room` slots are used. It stops before a record whose header or data is not whole in
;; the window, whose captured length exceeds MAX_RECORD, or (pcapng) any block but a well-formed
;; enhanced packet block of a listed interface (JavaScript handles those: more input, an oversized
;; record, other blocks, an error). Every record gets its record fields; a record the common case
;; does not cover (see parseFast) is listed in the SLOW column (slot, frame offset) for the general
;; decoder instead of getting decoded fields. Returns the records taken; `next` is where the next
;; record starts, `slowCount` how many were listed, `tagged` how many carried a VLAN tag.
(module
  (import "env" "memory" (memory 1))

  (global (export "SLOTS") i32 (i32.const 1024))
  (global (export "MAX_HEAD") i32 (i32.const 256))
  ;; Column offsets from `stage`: 8-byte, 16-byte (four words), 4-, 2- and 1-byte elements.
  (global (export "COL_TS_SEC") i32 (i32.const 0))
  (global (export "COL_FRAME_NO") i32 (i32.const 8320))
  (global (export "COL_SRC") i32 (i32.const 16640))
  (global (export "COL_DST") i32 (i32.const 33152))
  (global (export "COL_TS_NSEC") i32 (i32.const 49664))
  (global (export "COL_CAPLEN") i32 (i32.const 53888))
  (global (export "COL_WIRE_LEN") i32 (i32.const 58112))
  (global (export "COL_IP_LEN") i32 (i32.const 62336))
  (global (export "COL_IP_ID") i32 (i32.const 66560))
  (global (export "COL_TCP_SEQ") i32 (i32.const 70784))
  (global (export "COL_TCP_ACK") i32 (i32.const 75008))
  (global (export "COL_FLAGS") i32 (i32.const 79232))
  (global (export "COL_SPORT") i32 (i32.const 81408))
  (global (export "COL_DPORT") i32 (i32.const 83584))
  (global (export "COL_TCP_FLAGS") i32 (i32.const 85760))
  (global (export "COL_TCP_WINDOW") i32 (i32.const 87936))
  (global (export "COL_ICMP_ID") i32 (i32.const 90112))
  (global (export "COL_VLAN") i32 (i32.const 92288))
  (global (export "COL_L3") i32 (i32.const 94464))
  (global (export "COL_PROTO") i32 (i32.const 95616))
  (global (export "COL_TTL") i32 (i32.const 96768))
  (global (export "COL_ICMP_TYPE") i32 (i32.const 97920))
  (global (export "COL_ICMP_CODE") i32 (i32.const 99072))
  (global (export "COL_VLAN_COUNT") i32 (i32.const 100224))
  (global (export "COL_HEAD_LEN") i32 (i32.const 101376))
  (global (export "COL_SLOW") i32 (i32.const 102528))
  (global (export "COL_HEAD") i32 (i32.const 110848))
  ;; After the head column (SLOTS * MAX_HEAD, and 8 spare for the head copy's last 8-byte store).
  (global (export "COL_LINK_TYPE") i32 (i32.const 373056))
  (global (export "COL_IF_INDEX") i32 (i32.const 377280))
  ;; pcapng: the interface table (MAX_INTERFACES entries of 32 bytes, see decodeRun).
  (global (export "COL_IFACES") i32 (i32.const 379456))
  (global (export "MAX_INTERFACES") i32 (i32.const 256))
  ;; Bytes from `stage` to the end of the interface table.
  (global (export "STAGE_BYTES") i32 (i32.const 387648))

  (global $next (export "next") (mut i32) (i32.const 0))
  (global $slowCount (export "slowCount") (mut i32) (i32.const 0))
  (global $tagged (export "tagged") (mut i32) (i32.const 0))

  ;; $pcapng: 0 for pcap records, 1 for pcapng enhanced packet blocks. pcap: $hdr, the record header
  ;; bytes (16, or 24 for Kuznetzov's format); $scale, nanoseconds per unit of the sub-second field
  ;; (1000 or 1); $link, parser.ts FastLink (1 Ethernet, 2 raw IP, 3 IPv4, 4 IPv6); $linkType, the
  ;; file's. pcapng: each block's interface, of the first $ifCount in COL_IFACES (32 bytes each:
  ;; FastLink, 0 for "not here"; link type; units per second; nanoseconds per unit; if_tsoffset
  ;; seconds as f64), gives those; interface ids count from $ifBase. Both: $swap, the file (section)
  ;; is big-endian; $headBytes, head bytes per slot (the batch's, at most MAX_HEAD); $packets,
  ;; records read before this run (frame numbers continue from it).
  (func (export "decodeRun")
    (param $start i32) (param $end i32) (param $room i32) (param $stage i32) (param $pcapng i32)
    (param $hdr i32) (param $scale i32) (param $link i32) (param $linkType i32) (param $ifCount i32)
    (param $ifBase i32) (param $swap i32) (param $headBytes i32) (param $packets f64)
    (result i32)
    (local $p i32) (local $n i32) (local $x i32) (local $sec i32) (local $sub i32) (local $caplen i32)
    (local $wire i32) (local $ns i64) (local $frame i32) (local $frameEnd i32) (local $o i32)
    (local $type i32) (local $vlan i32) (local $version i32) (local $ipAvail i32) (local $ihl i32)
    (local $ipLen i32) (local $ipId i32) (local $ttl i32) (local $proto i32) (local $t i32)
    (local $payloadEnd i32) (local $tAvail i32) (local $flags i32) (local $sport i32) (local $dport i32)
    (local $tcpFlags i32) (local $seq i32) (local $ack i32) (local $win i32) (local $icmpType i32)
    (local $icmpCode i32) (local $icmpId i32) (local $p64 i32) (local $p32 i32) (local $p16 i32)
    (local $p8 i32) (local $pAddr i32) (local $ph i32) (local $hn i32) (local $i i32)
    (local $slow i32) (local $tags i32) (local $kind i32) (local $length i32) (local $iface i32)
    (local $units i64) (local $ups i64) (local $next i32)
    (local.set $p (local.get $start))
    (block $stop
      (loop $records
        (br_if $stop (i32.ge_u (local.get $n) (local.get $room)))
        (local.set $p64 (i32.add (local.get $stage) (i32.shl (local.get $n) (i32.const 3))))
        (local.set $p32 (i32.add (local.get $stage) (i32.shl (local.get $n) (i32.const 2))))
        (local.set $p16 (i32.add (local.get $stage) (i32.shl (local.get $n) (i32.const 1))))
        (local.set $p8 (i32.add (local.get $stage) (local.get $n)))
        (if (local.get $pcapng)
          (then
            ;; An enhanced packet block of a listed interface, whole in the window and well formed
            ;; (parseFast's conditions); anything else is JavaScript's, with its messages.
            (br_if $stop (i32.lt_u (i32.sub (local.get $end) (local.get $p)) (i32.const 32)))
            (local.set $length (i32.load offset=4 (local.get $p)))
            (if (local.get $swap) (then (local.set $length (i32.or (i32.and (i32.rotl (local.get $length) (i32.const 8)) (i32.const 0x00ff00ff)) (i32.and (i32.rotl (local.get $length) (i32.const 24)) (i32.const 0xff00ff00))))))
            (br_if $stop (i32.lt_u (local.get $length) (i32.const 32)))
            (br_if $stop (i32.and (local.get $length) (i32.const 3)))
            (br_if $stop (i32.gt_u (local.get $length) (i32.sub (local.get $end) (local.get $p))))
            ;; Block type 6 and the trailing length, in either byte order.
            (br_if $stop (i32.ne (i32.load (local.get $p)) (select (i32.const 0x06000000) (i32.const 6) (local.get $swap))))
            (local.set $x (i32.load (i32.sub (i32.add (local.get $p) (local.get $length)) (i32.const 4))))
            (if (local.get $swap) (then (local.set $x (i32.or (i32.and (i32.rotl (local.get $x) (i32.const 8)) (i32.const 0x00ff00ff)) (i32.and (i32.rotl (local.get $x) (i32.const 24)) (i32.const 0xff00ff00))))))
            (br_if $stop (i32.ne (local.get $x) (local.get $length)))
            (local.set $x (i32.load offset=8 (local.get $p)))
            (local.set $sec (i32.load offset=12 (local.get $p)))
            (local.set $sub (i32.load offset=16 (local.get $p)))
            (local.set $caplen (i32.load offset=20 (local.get $p)))
            (local.set $wire (i32.load offset=24 (local.get $p)))
            (if (local.get $swap)
              (then
                (local.set $x (i32.or (i32.and (i32.rotl (local.get $x) (i32.const 8)) (i32.const 0x00ff00ff)) (i32.and (i32.rotl (local.get $x) (i32.const 24)) (i32.const 0xff00ff00))))
                (local.set $sec (i32.or (i32.and (i32.rotl (local.get $sec) (i32.const 8)) (i32.const 0x00ff00ff)) (i32.and (i32.rotl (local.get $sec) (i32.const 24)) (i32.const 0xff00ff00))))
                (local.set $sub (i32.or (i32.and (i32.rotl (local.get $sub) (i32.const 8)) (i32.const 0x00ff00ff)) (i32.and (i32.rotl (local.get $sub) (i32.const 24)) (i32.const 0xff00ff00))))
                (local.set $caplen (i32.or (i32.and (i32.rotl (local.get $caplen) (i32.const 8)) (i32.const 0x00ff00ff)) (i32.and (i32.rotl (local.get $caplen) (i32.const 24)) (i32.const 0xff00ff00))))
                (local.set $wire (i32.or (i32.and (i32.rotl (local.get $wire) (i32.const 8)) (i32.const 0x00ff00ff)) (i32.and (i32.rotl (local.get $wire) (i32.const 24)) (i32.const 0xff00ff00))))))
            (br_if $stop (i32.ge_u (local.get $x) (local.get $ifCount)))
            (local.set $iface (i32.add (i32.add (local.get $stage) (i32.const 379456)) (i32.shl (local.get $x) (i32.const 5))))
            (local.set $kind (i32.load (local.get $iface)))
            (br_if $stop (i32.eqz (local.get $kind)))
            (br_if $stop (i32.gt_u (local.get $caplen) (i32.sub (local.get $length) (i32.const 32))))
            ;; The timestamp: a 64-bit count of the interface's units, split exactly.
            (local.set $units (i64.or (i64.shl (i64.extend_i32_u (local.get $sec)) (i64.const 32)) (i64.extend_i32_u (local.get $sub))))
            (local.set $ups (i64.extend_i32_u (i32.load offset=8 (local.get $iface))))
            (f64.store offset=0 (local.get $p64) (f64.add (f64.convert_i64_u (i64.div_u (local.get $units) (local.get $ups))) (f64.load offset=16 (local.get $iface))))
            (i32.store offset=49664 (local.get $p32) (i32.mul (i32.wrap_i64 (i64.rem_u (local.get $units) (local.get $ups))) (i32.load offset=12 (local.get $iface))))
            (i32.store offset=373056 (local.get $p32) (i32.load offset=4 (local.get $iface)))
            (i32.store16 offset=377280 (local.get $p16) (i32.add (local.get $ifBase) (local.get $x)))
            (local.set $frame (i32.add (local.get $p) (i32.const 28)))
            (local.set $next (i32.add (local.get $p) (local.get $length))))
          (else
            ;; A pcap record header, whole in the window.
            (br_if $stop (i32.lt_u (i32.sub (local.get $end) (local.get $p)) (local.get $hdr)))
            (local.set $sec (i32.load (local.get $p)))
            (local.set $sub (i32.load offset=4 (local.get $p)))
            (local.set $caplen (i32.load offset=8 (local.get $p)))
            (local.set $wire (i32.load offset=12 (local.get $p)))
            (if (local.get $swap)
              (then
                (local.set $sec (i32.or (i32.and (i32.rotl (local.get $sec) (i32.const 8)) (i32.const 0x00ff00ff)) (i32.and (i32.rotl (local.get $sec) (i32.const 24)) (i32.const 0xff00ff00))))
                (local.set $sub (i32.or (i32.and (i32.rotl (local.get $sub) (i32.const 8)) (i32.const 0x00ff00ff)) (i32.and (i32.rotl (local.get $sub) (i32.const 24)) (i32.const 0xff00ff00))))
                (local.set $caplen (i32.or (i32.and (i32.rotl (local.get $caplen) (i32.const 8)) (i32.const 0x00ff00ff)) (i32.and (i32.rotl (local.get $caplen) (i32.const 24)) (i32.const 0xff00ff00))))
                (local.set $wire (i32.or (i32.and (i32.rotl (local.get $wire) (i32.const 8)) (i32.const 0x00ff00ff)) (i32.and (i32.rotl (local.get $wire) (i32.const 24)) (i32.const 0xff00ff00))))))
            ;; parser.ts Limit.RECORD_BYTES (64 MiB): a larger length is corruption, for JavaScript to report.
            (br_if $stop (i32.gt_u (local.get $caplen) (i32.const 67108864)))
            (local.set $frame (i32.add (local.get $p) (local.get $hdr)))
            (br_if $stop (i32.gt_u (local.get $caplen) (i32.sub (local.get $end) (local.get $frame))))
            (local.set $kind (local.get $link))
            ;; The sub-second field in nanoseconds, out-of-range values (fuzzed files) carrying
            ;; whole seconds over.
            (local.set $ns (i64.mul (i64.extend_i32_u (local.get $sub)) (i64.extend_i32_u (local.get $scale))))
            (if (i64.lt_u (local.get $ns) (i64.const 1000000000))
              (then
                (f64.store offset=0 (local.get $p64) (f64.convert_i32_u (local.get $sec)))
                (i32.store offset=49664 (local.get $p32) (i32.wrap_i64 (local.get $ns))))
              (else
                (f64.store offset=0 (local.get $p64) (f64.add (f64.convert_i32_u (local.get $sec)) (f64.convert_i64_u (i64.div_u (local.get $ns) (i64.const 1000000000)))))
                (i32.store offset=49664 (local.get $p32) (i32.wrap_i64 (i64.rem_u (local.get $ns) (i64.const 1000000000))))))
            (i32.store offset=373056 (local.get $p32) (local.get $linkType))
            (i32.store16 offset=377280 (local.get $p16) (i32.const 0))
            (local.set $next (i32.add (local.get $frame) (local.get $caplen)))))
        (local.set $frameEnd (i32.add (local.get $frame) (local.get $caplen)))
        (f64.store offset=8320 (local.get $p64) (f64.add (local.get $packets) (f64.convert_i32_u (i32.add (local.get $n) (i32.const 1)))))
        (i32.store offset=53888 (local.get $p32) (local.get $caplen))
        (i32.store offset=58112 (local.get $p32) (local.get $wire))
        (block $decoded
          (block $general
            ;; Link layer: where the IP header starts and which version it must be.
            (local.set $o (local.get $frame))
            (local.set $vlan (i32.const -1))
            (if (i32.eq (local.get $kind) (i32.const 1))
              (then
                (br_if $general (i32.lt_u (local.get $caplen) (i32.const 14)))
                (local.set $type (i32.or (i32.shl (i32.load8_u offset=12 (local.get $frame)) (i32.const 8)) (i32.load8_u offset=13 (local.get $frame))))
                (local.set $o (i32.add (local.get $frame) (i32.const 14)))
                (if (i32.or (i32.or (i32.eq (local.get $type) (i32.const 0x8100)) (i32.eq (local.get $type) (i32.const 0x88a8))) (i32.eq (local.get $type) (i32.const 0x9100)))
                  (then
                    (br_if $general (i32.lt_s (i32.sub (local.get $frameEnd) (local.get $o)) (i32.const 4)))
                    (local.set $vlan (i32.and (i32.or (i32.shl (i32.load8_u (local.get $o)) (i32.const 8)) (i32.load8_u offset=1 (local.get $o))) (i32.const 0x0fff)))
                    (local.set $type (i32.or (i32.shl (i32.load8_u offset=2 (local.get $o)) (i32.const 8)) (i32.load8_u offset=3 (local.get $o))))
                    (local.set $o (i32.add (local.get $o) (i32.const 4)))))
                (if (i32.eq (local.get $type) (i32.const 0x0800))
                  (then (local.set $version (i32.const 4)))
                  (else
                    (br_if $general (i32.ne (local.get $type) (i32.const 0x86dd)))
                    (local.set $version (i32.const 6))))
                (br_if $general (i32.ge_u (local.get $o) (local.get $frameEnd)))
                (br_if $general (i32.ne (i32.shr_u (i32.load8_u (local.get $o)) (i32.const 4)) (local.get $version))))
              (else
                (br_if $general (i32.ge_u (local.get $o) (local.get $frameEnd)))
                (local.set $version (i32.shr_u (i32.load8_u (local.get $o)) (i32.const 4)))
                (if (i32.eq (local.get $kind) (i32.const 3))
                  (then (br_if $general (i32.ne (local.get $version) (i32.const 4))))
                  (else
                    (if (i32.eq (local.get $kind) (i32.const 4))
                      (then (br_if $general (i32.ne (local.get $version) (i32.const 6))))
                      (else (br_if $general (i32.and (i32.ne (local.get $version) (i32.const 4)) (i32.ne (local.get $version) (i32.const 6))))))))))
            ;; IP header: all checks and reads before any write.
            (local.set $ipAvail (i32.sub (local.get $frameEnd) (local.get $o)))
            (if (i32.eq (local.get $version) (i32.const 4))
              (then
                (br_if $general (i32.lt_u (local.get $ipAvail) (i32.const 20)))
                (local.set $ihl (i32.shl (i32.and (i32.load8_u (local.get $o)) (i32.const 0x0f)) (i32.const 2)))
                (br_if $general (i32.lt_u (local.get $ihl) (i32.const 20)))
                (br_if $general (i32.lt_u (local.get $ipAvail) (local.get $ihl)))
                (local.set $ipLen (i32.or (i32.shl (i32.load8_u offset=2 (local.get $o)) (i32.const 8)) (i32.load8_u offset=3 (local.get $o))))
                ;; Also 0 (TSO): the general path.
                (br_if $general (i32.lt_u (local.get $ipLen) (local.get $ihl)))
                ;; MF or an offset: a fragment.
                (br_if $general (i32.and (i32.load8_u offset=6 (local.get $o)) (i32.const 0x3f)))
                (br_if $general (i32.load8_u offset=7 (local.get $o)))
                (local.set $ipId (i32.or (i32.shl (i32.load8_u offset=4 (local.get $o)) (i32.const 8)) (i32.load8_u offset=5 (local.get $o))))
                (local.set $ttl (i32.load8_u offset=8 (local.get $o)))
                (local.set $proto (i32.load8_u offset=9 (local.get $o)))
                (local.set $t (i32.add (local.get $o) (local.get $ihl))))
              (else
                (br_if $general (i32.lt_u (local.get $ipAvail) (i32.const 40)))
                (local.set $x (i32.or (i32.shl (i32.load8_u offset=4 (local.get $o)) (i32.const 8)) (i32.load8_u offset=5 (local.get $o))))
                (local.set $proto (i32.load8_u offset=6 (local.get $o)))
                (br_if $general (i32.eqz (local.get $x)))
                (br_if $general (i32.eqz (local.get $proto)))
                (br_if $general (i32.eq (local.get $proto) (i32.const 43)))
                (br_if $general (i32.eq (local.get $proto) (i32.const 44)))
                (br_if $general (i32.eq (local.get $proto) (i32.const 60)))
                (local.set $ipLen (i32.add (local.get $x) (i32.const 40)))
                (local.set $ipId (i32.const 0))
                (local.set $ttl (i32.load8_u offset=7 (local.get $o)))
                (local.set $t (i32.add (local.get $o) (i32.const 40)))))
            (local.set $payloadEnd (select (i32.add (local.get $o) (local.get $ipLen)) (local.get $frameEnd)
              (i32.lt_u (i32.add (local.get $o) (local.get $ipLen)) (local.get $frameEnd))))
            ;; Transport header.
            (local.set $tAvail (i32.sub (local.get $payloadEnd) (local.get $t)))
            ;; PacketFlag IP | IP_HAS_SRC | IP_HAS_DST | IP_HAS_PROTO | IP_HAS_FRAG.
            (local.set $flags (i32.const 0x3c01))
            (local.set $sport (i32.const 0))
            (local.set $dport (i32.const 0))
            (local.set $tcpFlags (i32.const 0))
            (local.set $seq (i32.const 0))
            (local.set $ack (i32.const 0))
            (local.set $win (i32.const 0))
            (local.set $icmpType (i32.const 0))
            (local.set $icmpCode (i32.const 0))
            (local.set $icmpId (i32.const 0))
            (if (i32.eq (local.get $proto) (i32.const 6))
              (then
                (br_if $general (i32.lt_s (local.get $tAvail) (i32.const 16)))
                (br_if $general (i32.lt_u (i32.shr_u (i32.load8_u offset=12 (local.get $t)) (i32.const 4)) (i32.const 5)))
                (local.set $sport (i32.or (i32.shl (i32.load8_u (local.get $t)) (i32.const 8)) (i32.load8_u offset=1 (local.get $t))))
                (local.set $dport (i32.or (i32.shl (i32.load8_u offset=2 (local.get $t)) (i32.const 8)) (i32.load8_u offset=3 (local.get $t))))
                (local.set $x (i32.load offset=4 (local.get $t)))
                (local.set $seq (i32.or (i32.and (i32.rotl (local.get $x) (i32.const 8)) (i32.const 0x00ff00ff)) (i32.and (i32.rotl (local.get $x) (i32.const 24)) (i32.const 0xff00ff00))))
                (local.set $x (i32.load offset=8 (local.get $t)))
                (local.set $ack (i32.or (i32.and (i32.rotl (local.get $x) (i32.const 8)) (i32.const 0x00ff00ff)) (i32.and (i32.rotl (local.get $x) (i32.const 24)) (i32.const 0xff00ff00))))
                (local.set $tcpFlags (i32.or (i32.shl (i32.and (i32.load8_u offset=12 (local.get $t)) (i32.const 0x0f)) (i32.const 8)) (i32.load8_u offset=13 (local.get $t))))
                (local.set $win (i32.or (i32.shl (i32.load8_u offset=14 (local.get $t)) (i32.const 8)) (i32.load8_u offset=15 (local.get $t))))
                ;; PORTS | TCP
                (local.set $flags (i32.or (local.get $flags) (i32.const 6))))
              (else
                (if (i32.or (i32.or (i32.eq (local.get $proto) (i32.const 17)) (i32.eq (local.get $proto) (i32.const 132))) (i32.eq (local.get $proto) (i32.const 136)))
                  (then
                    (br_if $general (i32.lt_s (local.get $tAvail) (i32.const 4)))
                    (local.set $sport (i32.or (i32.shl (i32.load8_u (local.get $t)) (i32.const 8)) (i32.load8_u offset=1 (local.get $t))))
                    (local.set $dport (i32.or (i32.shl (i32.load8_u offset=2 (local.get $t)) (i32.const 8)) (i32.load8_u offset=3 (local.get $t))))
                    ;; PORTS
                    (local.set $flags (i32.or (local.get $flags) (i32.const 2))))
                  (else
                    (if (i32.or (i32.eq (local.get $proto) (i32.const 1)) (i32.eq (local.get $proto) (i32.const 58)))
                      (then
                        (br_if $general (i32.lt_s (local.get $tAvail) (i32.const 2)))
                        (local.set $icmpType (i32.load8_u (local.get $t)))
                        (local.set $icmpCode (i32.load8_u offset=1 (local.get $t)))
                        ;; Echo and timestamp kinds carry an identifier.
                        (if (i32.and
                              (i32.ge_s (local.get $tAvail) (i32.const 6))
                              (if (result i32) (i32.eq (local.get $proto) (i32.const 1))
                                (then (i32.or (i32.or (i32.eqz (local.get $icmpType)) (i32.eq (local.get $icmpType) (i32.const 8)))
                                              (i32.or (i32.eq (local.get $icmpType) (i32.const 13)) (i32.eq (local.get $icmpType) (i32.const 14)))))
                                (else (i32.or (i32.eq (local.get $icmpType) (i32.const 128)) (i32.eq (local.get $icmpType) (i32.const 129))))))
                          (then (local.set $icmpId (i32.or (i32.shl (i32.load8_u offset=4 (local.get $t)) (i32.const 8)) (i32.load8_u offset=5 (local.get $t))))))
                        ;; ICMP
                        (local.set $flags (i32.or (local.get $flags) (i32.const 8)))))))))
            ;; Writes: every decoded field of the slot.
            (i32.store16 offset=79232 (local.get $p16) (local.get $flags))
            (i32.store8 offset=94464 (local.get $p8) (local.get $version))
            (local.set $pAddr (i32.add (local.get $stage) (i32.shl (local.get $n) (i32.const 4))))
            (if (i32.eq (local.get $version) (i32.const 4))
              (then
                (local.set $x (i32.load offset=12 (local.get $o)))
                (i32.store offset=16640 (local.get $pAddr) (i32.or (i32.and (i32.rotl (local.get $x) (i32.const 8)) (i32.const 0x00ff00ff)) (i32.and (i32.rotl (local.get $x) (i32.const 24)) (i32.const 0xff00ff00))))
                (i64.store offset=16644 (local.get $pAddr) (i64.const 0))
                (i32.store offset=16652 (local.get $pAddr) (i32.const 0))
                (local.set $x (i32.load offset=16 (local.get $o)))
                (i32.store offset=33152 (local.get $pAddr) (i32.or (i32.and (i32.rotl (local.get $x) (i32.const 8)) (i32.const 0x00ff00ff)) (i32.and (i32.rotl (local.get $x) (i32.const 24)) (i32.const 0xff00ff00))))
                (i64.store offset=33156 (local.get $pAddr) (i64.const 0))
                (i32.store offset=33164 (local.get $pAddr) (i32.const 0)))
              (else
                (local.set $x (i32.load offset=8 (local.get $o)))
                (i32.store offset=16640 (local.get $pAddr) (i32.or (i32.and (i32.rotl (local.get $x) (i32.const 8)) (i32.const 0x00ff00ff)) (i32.and (i32.rotl (local.get $x) (i32.const 24)) (i32.const 0xff00ff00))))
                (local.set $x (i32.load offset=12 (local.get $o)))
                (i32.store offset=16644 (local.get $pAddr) (i32.or (i32.and (i32.rotl (local.get $x) (i32.const 8)) (i32.const 0x00ff00ff)) (i32.and (i32.rotl (local.get $x) (i32.const 24)) (i32.const 0xff00ff00))))
                (local.set $x (i32.load offset=16 (local.get $o)))
                (i32.store offset=16648 (local.get $pAddr) (i32.or (i32.and (i32.rotl (local.get $x) (i32.const 8)) (i32.const 0x00ff00ff)) (i32.and (i32.rotl (local.get $x) (i32.const 24)) (i32.const 0xff00ff00))))
                (local.set $x (i32.load offset=20 (local.get $o)))
                (i32.store offset=16652 (local.get $pAddr) (i32.or (i32.and (i32.rotl (local.get $x) (i32.const 8)) (i32.const 0x00ff00ff)) (i32.and (i32.rotl (local.get $x) (i32.const 24)) (i32.const 0xff00ff00))))
                (local.set $x (i32.load offset=24 (local.get $o)))
                (i32.store offset=33152 (local.get $pAddr) (i32.or (i32.and (i32.rotl (local.get $x) (i32.const 8)) (i32.const 0x00ff00ff)) (i32.and (i32.rotl (local.get $x) (i32.const 24)) (i32.const 0xff00ff00))))
                (local.set $x (i32.load offset=28 (local.get $o)))
                (i32.store offset=33156 (local.get $pAddr) (i32.or (i32.and (i32.rotl (local.get $x) (i32.const 8)) (i32.const 0x00ff00ff)) (i32.and (i32.rotl (local.get $x) (i32.const 24)) (i32.const 0xff00ff00))))
                (local.set $x (i32.load offset=32 (local.get $o)))
                (i32.store offset=33160 (local.get $pAddr) (i32.or (i32.and (i32.rotl (local.get $x) (i32.const 8)) (i32.const 0x00ff00ff)) (i32.and (i32.rotl (local.get $x) (i32.const 24)) (i32.const 0xff00ff00))))
                (local.set $x (i32.load offset=36 (local.get $o)))
                (i32.store offset=33164 (local.get $pAddr) (i32.or (i32.and (i32.rotl (local.get $x) (i32.const 8)) (i32.const 0x00ff00ff)) (i32.and (i32.rotl (local.get $x) (i32.const 24)) (i32.const 0xff00ff00))))))
            (i32.store8 offset=95616 (local.get $p8) (local.get $proto))
            (i32.store8 offset=96768 (local.get $p8) (local.get $ttl))
            (i32.store offset=62336 (local.get $p32) (local.get $ipLen))
            (i32.store offset=66560 (local.get $p32) (local.get $ipId))
            (i32.store16 offset=81408 (local.get $p16) (local.get $sport))
            (i32.store16 offset=83584 (local.get $p16) (local.get $dport))
            (i32.store16 offset=85760 (local.get $p16) (local.get $tcpFlags))
            (i32.store offset=70784 (local.get $p32) (local.get $seq))
            (i32.store offset=75008 (local.get $p32) (local.get $ack))
            (i32.store16 offset=87936 (local.get $p16) (local.get $win))
            (i32.store8 offset=97920 (local.get $p8) (local.get $icmpType))
            (i32.store8 offset=99072 (local.get $p8) (local.get $icmpCode))
            (i32.store16 offset=90112 (local.get $p16) (local.get $icmpId))
            (i32.store16 offset=92288 (local.get $p16) (local.get $vlan))
            (i32.store8 offset=100224 (local.get $p8) (i32.ge_s (local.get $vlan) (i32.const 0)))
            (local.set $tags (i32.add (local.get $tags) (i32.ge_s (local.get $vlan) (i32.const 0))))
            ;; Head bytes: the first min(headBytes, captured) bytes from the IP header on, eight at a
            ;; time (the last part masked), then the rest of the slot zeroed (8 at a time: a store may
            ;; run up to 7 bytes into the next slot, which is written after it).
            (local.set $hn (select (local.get $ipAvail) (local.get $headBytes) (i32.lt_u (local.get $ipAvail) (local.get $headBytes))))
            (i32.store8 offset=101376 (local.get $p8) (local.get $hn))
            (local.set $ph (i32.add (local.get $stage) (i32.mul (local.get $n) (local.get $headBytes))))
            (local.set $i (i32.const 0))
            (block $copied
              (loop $copy
                (br_if $copied (i32.gt_u (i32.add (local.get $i) (i32.const 8)) (local.get $hn)))
                (i64.store offset=110848 (i32.add (local.get $ph) (local.get $i)) (i64.load (i32.add (local.get $o) (local.get $i))))
                (local.set $i (i32.add (local.get $i) (i32.const 8)))
                (br $copy)))
            (if (i32.lt_u (local.get $i) (local.get $hn))
              (then
                (i64.store offset=110848 (i32.add (local.get $ph) (local.get $i))
                  (i64.and (i64.load (i32.add (local.get $o) (local.get $i)))
                    (i64.sub (i64.shl (i64.const 1) (i64.extend_i32_u (i32.shl (i32.sub (local.get $hn) (local.get $i)) (i32.const 3)))) (i64.const 1))))
                (local.set $i (i32.add (local.get $i) (i32.const 8)))))
            (block $zeroed
              (loop $zero
                (br_if $zeroed (i32.ge_u (local.get $i) (local.get $headBytes)))
                (i64.store offset=110848 (i32.add (local.get $ph) (local.get $i)) (i64.const 0))
                (local.set $i (i32.add (local.get $i) (i32.const 8)))
                (br $zero)))
            (br $decoded))
          ;; Not the common case: the general decoder takes the record.
          (i32.store offset=102528 (i32.add (local.get $stage) (i32.shl (local.get $slow) (i32.const 3))) (local.get $n))
          (i32.store offset=102532 (i32.add (local.get $stage) (i32.shl (local.get $slow) (i32.const 3))) (local.get $frame))
          (local.set $slow (i32.add (local.get $slow) (i32.const 1))))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (local.set $p (local.get $next))
        (br $records)))
    (global.set $next (local.get $p))
    (global.set $slowCount (local.get $slow))
    (global.set $tagged (local.get $tags))
    (local.get $n))
)

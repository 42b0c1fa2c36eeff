/**
 * The model side of the lab. The models (src/rules, src/conntrack, src/shaper) are being built in
 * parallel; at merge this returns a ModelSide that replays the same trace through them with the
 * lab's settings and fills a LabObservation (rules from the `iptables-save -c` printer, conntrack
 * from the `conntrack -L/-S` formatters, classes from the `tc -s class show` printer). Until then
 * `pktbench lab` shows the kernel's view and checks scenario expectations only.
 */
import type { ModelSide } from './diff.js';

export function createModelSide(): ModelSide | undefined {
  return undefined;
}

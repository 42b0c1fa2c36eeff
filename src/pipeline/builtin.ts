/**
 * The stages every worker knows. Models register theirs here when they land (conntrack-in,
 * the rule hooks, conntrack-confirm, shaper): one `registry.register(factory)` line each.
 */
import { flowAccountingFactory } from './flow-accounting.js';
import { hashWorkFactory } from './hash-work.js';
import { netfilterFactory } from './netfilter-stage.js';
import { StageRegistry } from './registry.js';
import { shaperFactory } from './shaper-stage.js';

export function builtinRegistry(): StageRegistry {
  const registry = new StageRegistry();
  registry.register(flowAccountingFactory);
  registry.register(hashWorkFactory);
  registry.register(netfilterFactory());
  registry.register(shaperFactory);
  return registry;
}

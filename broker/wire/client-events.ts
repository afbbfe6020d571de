import { clientInternals, type Aedes, type Client, type Subscription } from '../aedes/internals.js';
import type { CaptureRule } from './frame-splitter.js';
import type { RetainedTicks } from './retained-ticks.js';
import type { RouteTable } from './route-table.js';
import { WireConnection, type CapturedKind } from './wire-connection.js';
import { TICK_PREFIX, type WireLayerOptions, type WireLimits } from './wire-options.js';

type ClientOptions = Pick<WireLayerOptions, 'log' | 'mayPublishTicks' | 'chatIntake' | 'takeAcks'>;

/**
 * Follows Aedes' decisions about each wire connection: once its CONNECT is accepted, what to take off
 * its wire; the `ticks/` subscriptions Aedes granted (or restored), mirrored into the route table.
 */
export function followClients(
  aedes: Aedes,
  opts: ClientOptions,
  limits: WireLimits,
  routes: RouteTable<WireConnection>,
  retained: RetainedTicks,
): void {
  const connOf = (client: Client) => (client.conn instanceof WireConnection ? client.conn : undefined);
  aedes.on('client', (client) => {
    const conn = connOf(client);
    if (!conn) return;
    // A resumed session's subscriptions were restored without a 'subscribe' event.
    const held = clientInternals(client).subscriptions;
    for (const filter of Object.keys(held)) routes.add(filter, conn);
    conn.release(captureRules(client, opts, limits), opts.takeAcks ?? false);
  });
  aedes.on('subscribe', (subs: Subscription[], client) => {
    const conn = connOf(client);
    if (!conn || conn.destroyed) return;
    let ticksFilter = false;
    for (const sub of subs) if ((sub.qos as number) !== 128 && routes.add(sub.topic, conn)) ticksFilter = true;
    // Aedes reads the retained messages right after this event: make them current first.
    if (ticksFilter) retained.flush();
  });
  aedes.on('unsubscribe', (filters: string[], client) => {
    const conn = connOf(client);
    if (!conn) return;
    for (const filter of filters) routes.remove(filter, conn);
  });
}

/** What to take off this client's wire from now on. */
function captureRules(client: Client, opts: ClientOptions, limits: WireLimits): CaptureRule<CapturedKind>[] {
  const rules: CaptureRule<CapturedKind>[] = [];
  try {
    if (opts.mayPublishTicks(client)) {
      rules.push({ kind: 'tick', prefix: TICK_PREFIX, qos: [0, 1], maxFrame: limits.maxTickFrame });
    }
    const intake = opts.chatIntake;
    for (const prefix of intake?.prefixesFor(client) ?? []) {
      rules.push({ kind: 'chat', prefix, qos: [1], maxFrame: intake!.maxFrame });
    }
  } catch (err) {
    opts.log.error({ err, client: client.id }, 'deciding what to take off the wire failed; Aedes parses everything');
    return [];
  }
  return rules;
}

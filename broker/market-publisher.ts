import type { Tick } from '../protocol/tick.js';
import { encodeTick } from '../protocol/tick.js';
import { topics } from '../protocol/topics.js';
import type { MqttPublisher } from '../platform/context.js';
import type { BrokerNode } from './core.js';

/** In-process publishing into the cluster through the node's Aedes instance. */
export class BrokerPublisher implements MqttPublisher {
  constructor(private readonly node: BrokerNode) {}

  publish(topic: string, payload: Buffer | string, opts: { qos: 0 | 1; retain: boolean }): Promise<void> {
    return this.node.publish({ topic, payload: typeof payload === 'string' ? Buffer.from(payload) : payload, ...opts });
  }

  publishTicks(ticks: readonly Tick[]): void {
    for (const tick of ticks) {
      void this.node.publish({ topic: topics.tick(tick.symbol), payload: Buffer.from(encodeTick(tick)), qos: 0, retain: true });
    }
  }
}

import type { Tick } from '../protocol/tick.js';
import type { MqttPublisher } from '../platform/context.js';
import type { BrokerNode } from './node.js';

/**
 * In-process publishing into the cluster. Ticks take the node's wire layer (encoded once, retained,
 * fanned out with one write per client per turn, batched to the other nodes); everything else goes
 * through Aedes.
 */
export class BrokerPublisher implements MqttPublisher {
  constructor(private readonly node: BrokerNode) {}

  publish(topic: string, payload: Buffer | string, opts: { qos: 0 | 1; retain: boolean }): Promise<void> {
    return this.node.publish({ topic, payload: typeof payload === 'string' ? Buffer.from(payload) : payload, ...opts });
  }

  publishTicks(ticks: readonly Tick[]): void {
    this.node.wire.publishTicks(ticks);
  }
}

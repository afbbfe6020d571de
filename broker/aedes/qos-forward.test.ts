import type { Aedes } from './internals.js';
import { describe, expect, it } from 'vitest';
import { QoSForwarder } from './qos-forward.js';
import { createLogger } from '../../platform/logger.js';

const settled = () => new Promise((resolve) => setImmediate(resolve));

/** Aedes' publish path as the forwarder uses it, recording what happens in which order. */
function fakeBroker(opts: { failSessions?: boolean } = {}) {
  const steps: string[] = [];
  const broker = {
    id: 'node-a',
    counter: 0,
    closed: false,
    persistence: {
      subscriptionsByTopic: async () => {
        if (opts.failSessions) throw new Error('session store down');
        return [{ clientId: 'offline-member' }];
      },
      outgoingEnqueueCombi: async (_subs: unknown[], packet: { payload: Buffer }) => void steps.push(`queued ${packet.payload.toString()}`),
    },
    mq: { emit: (packet: { payload: Buffer }, cb: () => void) => (steps.push(`emitted ${packet.payload.toString()}`), cb()) },
    published: (_p: unknown, _c: unknown, done: () => void) => done(),
    emit: () => true,
  };
  return { broker: broker as unknown as Aedes, steps };
}

describe('QoS 1 forwarding', () => {
  const log = createLogger('silent', 'test');

  it('on a single node, queues for sessions, acks, then delivers live once the acks are written, in publish order', async () => {
    const { broker, steps } = fakeBroker();
    const afterAcks: (() => void)[] = [];
    const forwarder = new QoSForwarder(broker, { afterAcksWritten: (task) => afterAcks.push(task) }, log);
    for (const m of ['a', 'b']) forwarder.forward('chat/rooms/x', Buffer.from(m), (err) => steps.push(err ? `failed ${m}` : `acked ${m}`));
    await settled();
    expect(steps).toEqual(['queued a', 'queued b', 'acked a', 'acked b']);
    for (const task of afterAcks.splice(0)) task();
    expect(steps.slice(4)).toEqual(['emitted a', 'emitted b']);
  });

  it('in a cluster, acks only once the message is emitted (other nodes resume sessions too)', async () => {
    const { broker, steps } = fakeBroker();
    const forwarder = new QoSForwarder(broker, undefined, log);
    forwarder.forward('chat/rooms/x', Buffer.from('a'), (err) => steps.push(err ? 'failed' : 'acked'));
    await settled();
    expect(steps).toEqual(['queued a', 'emitted a', 'acked']);
  });

  it('fails the publish, unacked and undelivered, when the session store cannot be read', async () => {
    const { broker, steps } = fakeBroker({ failSessions: true });
    const forwarder = new QoSForwarder(broker, { afterAcksWritten: () => steps.push('scheduled') }, log);
    forwarder.forward('chat/rooms/x', Buffer.from('a'), (err) => steps.push(err ? `failed: ${err.message}` : 'acked'));
    await settled();
    expect(steps).toEqual(['failed: session store down']);
  });
});

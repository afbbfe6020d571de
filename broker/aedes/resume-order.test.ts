import { EventEmitter } from 'node:events';
import type { Aedes, Client } from './internals.js';
import { describe, expect, it } from 'vitest';
import { gateClientDeliveries, orderResumedSessions } from './resume-order.js';

interface Message {
  brokerId: string;
  brokerCounter: number;
  qos: number;
}

const message = (n: number, qos = 1): Message => ({ brokerId: 'node-a', brokerCounter: n, qos });

/**
 * Aedes' resume as the gate sees it: a persistent client whose subscriptions are restored (live
 * messages may arrive), whose queue is then streamed, and which is ready after that.
 */
function resumingSession(queue: Message[], clean = false) {
  const broker = Object.assign(new EventEmitter(), {
    persistence: {
      outgoingStream: async function* () {
        yield* queue;
      },
    },
  });
  orderResumedSessions(broker as unknown as Aedes);
  const sent: string[] = [];
  const client = {
    clean,
    connected: false,
    deliver0: (p: Message, cb: () => void) => (sent.push(`live ${p.brokerCounter} qos0`), cb()),
    deliverQoS: (p: Message, cb: () => void) => (sent.push(`live ${p.brokerCounter}`), cb()),
  };
  gateClientDeliveries(client as unknown as Client);
  const live = (m: Message) => new Promise<void>((resolve) => (m.qos === 0 ? client.deliver0 : client.deliverQoS)(m, resolve));
  const sendQueue = async () => {
    const stream = (broker.persistence.outgoingStream as unknown as (c: unknown) => AsyncIterable<Message>)(client);
    for await (const m of stream) sent.push(`queued ${m.brokerCounter}`);
  };
  const ready = () => {
    client.connected = true;
    broker.emit('clientReady', client);
  };
  return { live, sendQueue, ready, sent };
}

describe('a persistent session being resumed', () => {
  it('gets live messages after its queue, without the ones the queue carried', async () => {
    const session = resumingSession([message(1), message(2), message(3)]);
    // Live messages reach the restored subscriptions before and after the queue is read, before the
    // session is ready (each delivery call still completes at once).
    await session.live(message(2));
    await session.live(message(4, 0));
    await session.sendQueue();
    await session.live(message(3));
    await session.live(message(5));
    expect(session.sent).toEqual(['queued 1', 'queued 2', 'queued 3']);

    session.ready();
    expect(session.sent).toEqual(['queued 1', 'queued 2', 'queued 3', 'live 4 qos0', 'live 5']);
    await session.live(message(6));
    // A late live copy of a queued message (it crossed Redis from another node) is still dropped.
    await session.live(message(1));
    expect(session.sent.slice(5)).toEqual(['live 6']);
  });

  it('leaves a clean session alone: nothing is restored, so nothing can overtake', async () => {
    const session = resumingSession([], true);
    await session.live(message(1));
    expect(session.sent).toEqual(['live 1']);
  });
});

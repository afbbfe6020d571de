import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IConnackPacket } from 'mqtt-packet';
import { startTopology, TOPOLOGIES, type Topology } from '../../test/testing/topology.js';
import { signedInRawClient } from '../../test/testing/raw-mqtt.js';

/**
 * A client's own maximum tick rate (issue 15 item 3, Lightstreamer's max frequency), over real
 * sockets on one node and two: the CONNECT user property `max-tick-rate` holds the client to that
 * many writes carrying ticks per second, each with the latest tick of its symbols; everything else
 * it is sent (acks, SUBACKs, chat) never waits for it. The ticks are fed on node 0 and the clients
 * sit on the other node.
 */
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let seq = 0;
const symbolOf = (what: string) => `TR${what}${(seq++).toString(36)}`.toUpperCase().slice(0, 12);
const tick = (symbol: string, n: number) => ({ symbol, time_msc: Date.now(), bid: 1 + n / 1e4, ask: 1.0002 + n / 1e4, last: 0, volume: n, flags: 6 });

describe.each(TOPOLOGIES)('a client’s own maximum tick rate (%s)', (kind) => {
  let app: Topology;
  beforeAll(async () => {
    app = await startTopology(kind, { MQTT_CONNECTS_PER_IP_PER_S: '1000' });
  }, 180_000);
  afterAll(() => app?.stop());

  /** An MQTT 5 client on the other node recording each tick's volume (the tick's number) and when it came. */
  async function watcher(user: string, symbol: string, maxTickRate?: string) {
    const got: { n: number; at: number }[] = [];
    const properties = maxTickRate === undefined ? {} : { userProperties: { 'max-tick-rate': maxTickRate } };
    const client = await app.at(1).connect({ protocolVersion: 5, properties, password: await app.token(user) }, (topic, payload) => {
      if (topic === `ticks/${symbol}`) got.push({ n: JSON.parse(payload.toString()).volume, at: performance.now() });
    });
    await client.subscribeAsync(`ticks/${symbol}`, { qos: 0 });
    return { client, got };
  }

  it('gets ticks at most that often, each the latest, and the last one once the feed stops', async () => {
    const symbol = symbolOf('rate');
    const limited = await watcher('rita', symbol, '2');
    const unlimited = await watcher('uma', symbol);
    await sleep(200);
    for (let n = 1; n <= 60; n++) {
      app.ctx.mqtt.publishTicks([tick(symbol, n)]);
      await sleep(25);
    }
    await expect.poll(() => limited.got.at(-1)?.n, { timeout: 5_000 }).toBe(60);
    await sleep(700);
    // 60 ticks over about 1.5 s: at 2 writes a second, 3 or 4 of them (the first at once) and the last after the feed stopped.
    expect(limited.got.length).toBeLessThanOrEqual(5);
    expect(limited.got.length).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < limited.got.length; i++) {
      expect(limited.got[i].n).toBeGreaterThan(limited.got[i - 1].n);
      // The broker writes 500 ms apart; a busy test process may read two of them closer together, never far.
      expect(limited.got[i].at - limited.got[i - 1].at).toBeGreaterThan(250);
    }
    expect(unlimited.got.length).toBeGreaterThan(10);
  });

  it('holds only ticks: a SUBACK while ticks wait goes out at once', async () => {
    const symbol = symbolOf('ctl');
    const limited = await watcher('ross', symbol, '0.2');
    app.ctx.mqtt.publishTicks([tick(symbol, 1)]);
    await expect.poll(() => limited.got.length, { timeout: 5_000 }).toBe(1);
    app.ctx.mqtt.publishTicks([tick(symbol, 2)]); // due 5 s after the first
    await sleep(100);
    const granted = await limited.client.subscribeAsync(`ticks/${symbolOf('other')}`, { qos: 0 });
    expect(granted[0].qos).toBe(0);
    expect(limited.got.map((t) => t.n)).toEqual([1]);
    await limited.client.endAsync();
  });

  it('refuses a CONNECT asking for a rate it cannot have, saying why (0x83)', async () => {
    for (const bad of ['0', 'fast', '5000', '1e3']) {
      const raw = await signedInRawClient(app.at(1).ports.mqtt!, await app.token('ray'), {
        protocolVersion: 5,
        properties: { userProperties: { 'max-tick-rate': bad } },
      });
      const connack = raw.packets.find((p): p is IConnackPacket => p.cmd === 'connack');
      expect(connack?.reasonCode).toBe(0x83);
      expect(connack?.properties?.reasonString).toBe(`max-tick-rate must be one number of ticks per second from 0.1 to 1000, not "${bad}"`);
      await raw.closed;
    }
  });
});

import net from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../test/testing/app.js';

/** Poll generously on a loaded machine (these are bounds on waiting, never speed assertions). */
const eventually = <T>(read: () => T | Promise<T>) => expect.poll(read, { timeout: 10_000 });

/** What a slow or broken HTTP client can make the process hold, over real sockets. */
describe('HTTP edge limits', () => {
  let app: TestApp;
  const logged: Record<string, unknown>[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void logged.push(JSON.parse(line) as Record<string, unknown>) });

  beforeAll(async () => {
    app = await startTestApp({ HTTP_REQUEST_TIMEOUT_S: '1' }, ['broker', 'web'], log);
  });
  afterAll(() => app?.stop());

  const open = () => {
    const socket = net.connect(app.ports.http, '127.0.0.1');
    let received = '';
    socket.on('data', (d) => (received += d.toString('latin1')));
    socket.on('error', () => {});
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    return { socket, closed, received: () => received };
  };

  it('cuts off a request whose body dribbles in slower than HTTP_REQUEST_TIMEOUT_S allows', async () => {
    const { socket, closed, received } = open();
    let isClosed = false;
    void closed.then(() => (isClosed = true));
    socket.write('POST /api/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{');
    // One byte every 200 ms for at most 10 s: a 1 s limit must end it long before.
    for (let i = 0; i < 50 && !isClosed; i++) {
      await new Promise((r) => setTimeout(r, 200));
      if (!socket.destroyed) socket.write(' ');
    }
    expect(isClosed).toBe(true);
    expect(received()).toMatch(/^HTTP\/1\.1 408/);
  });

  it('leaves an open MQTT-over-WebSocket connection alone past the request timeout', async () => {
    const client = await app.connect({ protocol: 'ws', port: app.ports.http, path: '/mqtt', hostname: '127.0.0.1' } as never);
    await new Promise((r) => setTimeout(r, 2500));
    expect(client.connected).toBe(true);
    await client.subscribeAsync('ticks/EURUSD');
  });

  it('counts malformed WebSocket frames and logs a sample without a stack, not one error per frame', async () => {
    const before = logged.length;
    for (let i = 0; i < 20; i++) {
      const { socket, closed, received } = open();
      socket.write(
        'GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n',
      );
      await eventually(() => received()).toMatch(/^HTTP\/1\.1 101/);
      // A client frame without the mask bit (RFC 6455 §5.1): a protocol error.
      socket.write(Buffer.from([0x82, 0x02, 0x10, 0x00]));
      await closed;
    }
    const about = logged.slice(before).filter((l) => JSON.stringify(l).includes('MASK'));
    expect(about.length).toBe(1);
    expect(JSON.stringify(about)).not.toMatch(/stack/);
    const metrics = await (await fetch(`${app.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/^ticktalk_mqtt_websocket_errors_total\{code="WS_ERR_EXPECTED_MASK"\} 20$/m);
  });
});

import net from 'node:net';
import type { FastifyInstance } from 'fastify';
import websocketPlugin from '@fastify/websocket';
import { createWebSocketStream } from 'ws';
import type { Logger } from '../platform/logger.js';
import type { Metrics } from '../platform/metrics.js';
import type { BrokerNode } from './node.js';
import { ConnectRate } from './connect-rate.js';

export interface ListenerOptions {
  node: BrokerNode;
  log: Logger;
  metrics: Metrics;
  maxPacket: number;
  connectsPerIpPerSecond: number;
  /** Connections the kernel queues before they are accepted (MQTT_LISTEN_BACKLOG). */
  listenBacklog?: number;
}

/** MQTT over TCP. Over-rate connections are closed before a byte reaches the broker. */
export class TcpListener {
  private readonly server: net.Server;

  constructor(private readonly opts: ListenerOptions) {
    const rate = new ConnectRate(opts.connectsPerIpPerSecond);
    const refused = opts.metrics.counter('mqtt_connections_rate_limited_total', 'Connections closed by the per-address rate limit');
    this.server = net.createServer((socket) => {
      if (!rate.admit(socket.remoteAddress ?? '?')) {
        refused.inc();
        socket.destroy();
        return;
      }
      socket.setNoDelay(true);
      opts.node.handle(socket);
    });
    this.server.on('error', (err) => opts.log.error({ err }, 'mqtt listener error'));
  }

  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ port, host, backlog: this.opts.listenBacklog }, () => {
        this.server.off('error', reject);
        resolve((this.server.address() as net.AddressInfo).port);
      });
    });
  }

  get listening(): boolean {
    return this.server.listening;
  }

  /**
   * Stop accepting at once. Existing connections are left to the broker's gradual drain: Node's
   * close callback would wait for them, so it is not awaited here.
   */
  stopAccepting(): void {
    if (this.server.listening) this.server.close();
  }
}

/** How often a WebSocket protocol error reaches the log: any client can send malformed frames. */
const WS_ERROR_LOG_INTERVAL_MS = 10_000;

/**
 * A connection that breaks the WebSocket protocol (malformed frame, oversized message) is closed
 * and counted by error code; one sample per interval is logged, without a stack (the stack only
 * ever shows the ws parser), saying how many went unlogged since.
 */
function webSocketErrorHandler({ log, metrics }: ListenerOptions) {
  const errors = metrics.counter('mqtt_websocket_errors_total', 'WebSocket connections closed on a protocol error, by ws error code', ['code']);
  let lastLog = -Infinity;
  let unlogged = 0;
  return (err: Error & { code?: string }, socket: { terminate(): void }) => {
    errors.labels(err.code ?? 'other').inc();
    socket.terminate();
    if (performance.now() - lastLog < WS_ERROR_LOG_INTERVAL_MS) {
      unlogged++;
      return;
    }
    log.warn({ error: err.message, code: err.code, unlogged }, 'websocket connection closed on a protocol error');
    lastLog = performance.now();
    unlogged = 0;
  };
}

/** MQTT over WebSocket at `/mqtt` on the process's HTTP server (subprotocol `mqtt`). */
export async function registerWebSocketListener(app: FastifyInstance, opts: ListenerOptions): Promise<{ stopAccepting(): void }> {
  const rate = new ConnectRate(opts.connectsPerIpPerSecond);
  let accepting = true;
  await app.register(websocketPlugin, {
    options: {
      // A WebSocket message may carry several MQTT packets, but never more than a full one plus framing.
      maxPayload: opts.maxPacket + 16,
      handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : protocols.has('mqttv3.1') ? 'mqttv3.1' : false),
    },
    errorHandler: webSocketErrorHandler(opts),
  });
  app.get('/mqtt', { websocket: true }, (socket, req) => {
    if (!accepting) {
      // 1012 "service restart": the HTTP server stays up through the drain, new MQTT sessions go elsewhere.
      socket.close(1012, 'draining');
      return;
    }
    if (!rate.admit(req.ip)) {
      socket.close(1008, 'rate limited');
      return;
    }
    const stream = createWebSocketStream(socket);
    stream.on('error', () => socket.terminate());
    opts.node.handle(stream, req.raw);
  });
  return {
    stopAccepting: () => {
      accepting = false;
    },
  };
}

import { decodeJwt } from 'jose';
import type { Config } from '../../protocol/config.js';
import type { Logger } from '../../platform/logger.js';
import type { Metrics } from '../../platform/metrics.js';
import type { TokenVerifier } from '../../platform/auth.js';
import type { OperatorAcl } from '../acl-file.js';
import { checkAedesClient, clientInternals, type AedesOptions, type Client } from '../aedes/internals.js';
import { releaseConnectPacket } from '../aedes/lean-client.js';
import { installQoSDelivery } from '../aedes/qos-delivery.js';
import { gateClientDeliveries } from '../aedes/resume-order.js';
import { ownedClientId, type ClientAccess, type ClientState } from '../client-access.js';
import type { SessionLifecycle } from '../session-lifecycle.js';
import { malformedTopicName } from './publish.js';
import { mqtt5SessionOf, serverLimits, startMqtt5 } from './mqtt5-connect.js';
import { isMqtt5Connect } from '../mqtt5/session.js';
import { connackRefusal, SERVER_DISCONNECTS } from '../mqtt5/reasons.js';
import { endConnection } from '../server-disconnect.js';
import type { EncoderStats } from '../mqtt5/encoder.js';
import { WireConnection } from '../wire/wire-connection.js';

export interface ConnectDeps {
  config: Config;
  auth: TokenVerifier;
  operatorAcl?: OperatorAcl;
  access: ClientAccess;
  /** Connections per user and persistent sessions' expiry. */
  sessions: SessionLifecycle;
  metrics: Metrics;
  log: Logger;
}

type ConnectHooks = Required<Pick<AedesOptions, 'preConnect' | 'authenticate'>>;

/** CONNECT: protocol checks and the client's delivery overrides (preConnect), then identity (authenticate). */
export function connectHooks(deps: ConnectDeps): ConnectHooks {
  return { preConnect: preConnect(deps), authenticate: authenticate(deps) };
}

function preConnect({ config, access, log, metrics }: ConnectDeps): ConnectHooks['preConnect'] {
  let clientShapeChecked = false;
  // Shared subscriptions ($share/…) are served on every node (aedes/shared-subscriptions.ts).
  const limits = serverLimits(config, true);
  const withheld = metrics.counter(
    'mqtt5_deliveries_withheld_total',
    'MQTT 5 deliveries not sent: over the client\'s Maximum Packet Size (reason="oversize"), past their Message Expiry Interval (reason="expired"), or the oldest of more than MQTT_MAX_QUEUED_MESSAGES waiting for the client\'s Receive Maximum (reason="queue_full")',
    ['reason'],
  );
  const stats: EncoderStats = { withheld: (reason) => withheld.labels(reason).inc() };
  return (client, packet, done) => {
    // MQTT-3.1.2-14: a will QoS of 3 is a protocol violation (the parser lets it through).
    if (packet.will && (packet.will.qos as number) > 2) return done(new Error('will QoS 3'), false);
    if (!clientShapeChecked) {
      // Aedes creates client objects only per connection: the first one is checked before any override.
      try {
        checkAedesClient(client);
      } catch (err) {
        log.error({ err }, 'refusing connections: Aedes client internals changed');
        return done(err as Error, false);
      }
      clientShapeChecked = true;
    }
    // Before the session is restored: Aedes captures the delivery function with each subscription.
    installQoSDelivery(client);
    releaseConnectPacket(client);
    // MQTT 5 rewrites the CONNECT into the 3.1.1 one Aedes runs (client id, keepalive, clean).
    const mqtt5 = isMqtt5Connect(packet) ? startMqtt5(client, packet, limits, stats) : undefined;
    if (isMqtt5Connect(packet) && !mqtt5) return done(new Error('MQTT 5 is served only on connections the wire layer fronts'), false);
    gateClientDeliveries(client);
    access.open(client, {
      refuseIdentifier: packet.clientId === '' && packet.clean === false,
      persistent: packet.clean === false,
      willTopic: packet.will?.topic,
    });
    // MQTT 3.1.1 has no server keepalive: a client asking for none or more than the limit is held
    // to the limit, so an idle or half-open connection is always reaped.
    if (!packet.keepalive || packet.keepalive > config.MQTT_MAX_KEEPALIVE_S) packet.keepalive = config.MQTT_MAX_KEEPALIVE_S;
    done(null, true);
  };
}

function authenticate(deps: ConnectDeps): ConnectHooks['authenticate'] {
  const { config, auth, operatorAcl, access, metrics, log } = deps;
  const refusals = metrics.counter('mqtt_auth_refusals_total', 'CONNECTs refused', ['reason']);
  return (client, _username, password, done) => {
    const st = access.get(client);
    const refuse = (code: 2 | 3 | 5, reason: string, detail?: string) => {
      refusals.labels(reason).inc();
      const { conn } = clientInternals(client);
      if (conn instanceof WireConnection && conn.mqtt5) conn.mqtt5.session.refusal = connackRefusal(code, reason, detail);
      const err = Object.assign(new Error(reason), { returnCode: code });
      done(err, false);
    };
    if (!st || st.refuseIdentifier) return refuse(2, 'identifier rejected');
    const tickRate = mqtt5SessionOf(client)?.maxTickRate;
    if (typeof tickRate === 'object') return refuse(5, 'bad max-tick-rate', tickRate.invalid);
    if (!password || password.length === 0) {
      if (!config.ALLOW_ANONYMOUS_MARKET_DATA && !operatorAcl) return refuse(5, 'anonymous');
      // Anonymous clients get no session to keep: nothing bounds how many an address could make.
      if (st.persistent) return refuse(5, 'anonymous session');
      client.id = ownedClientId(null, client.id);
      if (!willAllowed(access, client, st)) return refuse(5, 'will not authorised');
      return done(null, true);
    }
    const token = password.toString('utf8');
    auth.verify(token).then(
      (who) => {
        st.who = who;
        client.id = ownedClientId(who, client.id);
        if (!willAllowed(access, client, st)) return refuse(5, 'will not authorised');
        admit(deps, client, st, who.sub).then(
          (refused) => {
            if (refused) return refuse(3, refused);
            closeAtExpiry(client, token);
            done(null, true);
          },
          (err: Error) => {
            log.warn({ client: client.id, err: err.message }, 'connect refused: session registry unavailable');
            refuse(3, 'session registry unavailable');
          },
        );
      },
      (err: Error) => {
        log.info({ client: client.id, reason: err.message }, 'connect refused');
        // platform/auth.ts reports an expired token (fast path and jose alike) as AuthError('token expired').
        refuse(5, 'bad token', err.message === 'token expired' ? 'token expired' : undefined);
      },
    );
  };
}

/**
 * Registers a signed-in connection with the session lifecycle (MQTT_MAX_CONNECTIONS_PER_USER,
 * cluster-wide) and has its end recorded when its transport closes. Resolves with the reason when
 * refused.
 */
async function admit({ sessions, log }: ConnectDeps, client: Client, st: ClientState, user: string): Promise<string | undefined> {
  const { conn } = clientInternals(client);
  const mqtt5 = conn instanceof WireConnection ? conn.mqtt5?.session : undefined;
  const expiryS = mqtt5 ? () => mqtt5.sessionExpiryS : undefined;
  const { result, closed } = await sessions.admit(client.id, user, { persistent: st.persistent, expiryS });
  if (result !== 'opened') {
    log.info({ client: client.id, user, reason: result }, 'connect refused');
    return result;
  }
  if (conn.destroyed) closed();
  else conn.once('close', closed);
  // MQTT 5 Clean Start 1 with a Session Expiry Interval: Aedes (clean session 0) would resume the
  // stored session; it is discarded first (CONNACK session present 0), the new one is kept.
  if (mqtt5?.cleanStart && st.persistent) await sessions.discard(client.id);
  return undefined;
}

/**
 * A will is authorised against its owner at CONNECT (after the client id is owned: operator `%c`
 * rules see the id a publish would): Aedes stores it then and publishes it, possibly from another
 * node, once the owner is gone. Refused with CONNACK 5 (not authorized).
 */
function willAllowed(access: ClientAccess, client: Client, st: ClientState): boolean {
  const topic = st.willTopic;
  return topic === undefined || (malformedTopicName(topic) === null && access.mayLeaveWill(st.who, client.id, topic));
}

/**
 * A token is checked at CONNECT only, so a connection outliving its token's `exp` is closed then:
 * the client must reconnect with a fresh token (its persistent session resumes). MQTT 5 clients
 * are told so first (DISCONNECT 0x87, "token expired").
 */
function closeAtExpiry(client: Client, verifiedToken: string): void {
  const exp = decodeJwt(verifiedToken).exp;
  const { conn } = clientInternals(client);
  // Gone while the token was being verified: no 'close' would ever clear the timer.
  if (exp === undefined || conn.destroyed) return;
  // setTimeout holds at most ~24.8 days; a longer-lived token is re-checked at its next CONNECT anyway.
  const ms = Math.min(exp * 1000 - Date.now(), 2 ** 31 - 1);
  const timer = setTimeout(() => endConnection(client, SERVER_DISCONNECTS.tokenExpired), Math.max(ms, 0));
  timer.unref();
  conn.once('close', () => clearTimeout(timer));
}

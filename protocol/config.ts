import { z } from 'zod';
import { hostname } from 'node:os';
import { SYMBOL_PATTERN } from './names.js';

/**
 * The single source of every environment variable: its parser, its default and its documentation.
 * The README's configuration table is generated from this list (`npm run docs:config`) and a test
 * checks that the two agree.
 */

const onOff = z.enum(['on', 'off', 'true', 'false', '1', '0', 'yes', 'no']).transform((v) => v === 'on' || v === 'true' || v === '1' || v === 'yes');

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
const url = (protocols: string[]) =>
  z
    .string()
    .url()
    .refine((v) => protocols.some((p) => v.startsWith(`${p}:`)), {
      message: `must be a ${protocols.join(' or ')} URL`,
    });

const symbolList = z
  .string()
  .transform((v) =>
    v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  )
  .pipe(z.array(z.string().regex(SYMBOL_PATTERN, 'symbols match [A-Za-z0-9._-]{1,32}')).min(1));

const ianaZone = z.string().refine(
  (zone) => {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: zone });
      return true;
    } catch {
      return false;
    }
  },
  { message: 'must be an IANA time zone such as UTC or Europe/Athens' },
);

interface VarSpec<T extends z.ZodType> {
  schema: T;
  /** Literal default as an operator would write it; undefined means unset. */
  default?: string;
  /** Default as shown in the docs when it is computed rather than literal. */
  shownDefault?: string;
  doc: string;
  /** Listed in docs/protocol.md#environment-variables (public), or an operational knob of our own. */
  public?: boolean;
}

function v<T extends z.ZodType>(spec: VarSpec<T>): VarSpec<T> {
  return spec;
}

export const configVars = {
  HOST: v({ schema: z.string().min(1), default: '0.0.0.0', doc: 'listen address', public: true }),
  MQTT_PORT: v({ schema: port, default: '1883', doc: 'MQTT over TCP', public: true }),
  HTTP_PORT: v({
    schema: port,
    default: '8080',
    doc: 'web page, `/api`, `/udf`, `/metrics`, `/healthz`, `/readyz`, MQTT over WebSocket at `/mqtt`',
    public: true,
  }),
  REDIS_URL: v({
    schema: url(['redis', 'rediss']).optional(),
    shownDefault: 'unset: single node in memory',
    doc: 'cluster mode: brokers share subscriptions, sessions, retained messages and rate limits through Redis',
    public: true,
  }),
  DATABASE_URL: v({
    schema: url(['postgres', 'postgresql']).optional(),
    shownDefault: 'unset: PGlite in `DATA_DIR`',
    doc: 'PostgreSQL for candles and chat',
    public: true,
  }),
  DATA_DIR: v({ schema: z.string().min(1), default: './data', doc: 'embedded database files and the generated JWT secret', public: true }),
  PGLITE_CACHE_MB: v({
    schema: z.coerce.number().int().min(1).max(1024),
    default: '16',
    doc: "PGlite's page cache (PostgreSQL `shared_buffers`) in MB; with its per-query memory kept small, it bounds the embedded database's memory (`ticktalk_pglite_memory_bytes`), which grows and is never given back",
  }),
  AMQP_URL: v({
    schema: url(['amqp', 'amqps']).optional(),
    shownDefault: 'unset: built-in feed simulator',
    doc: 'RabbitMQ for the bridges',
    public: true,
  }),
  FEED_SIM: v({
    schema: onOff.optional(),
    shownDefault: '`on` when `AMQP_URL` is unset',
    doc: 'the in-process MT feed simulator (not with `AMQP_URL`: use `ticktalk feed-sim` there)',
    public: true,
  }),
  FEED_SIM_RATE: v({
    schema: z.coerce.number().positive().max(10_000),
    default: '10',
    doc: 'ticks per second per symbol from the in-process simulator',
  }),
  FEED_SIM_HISTORY_DAYS: v({
    schema: z.coerce.number().int().min(0).max(366),
    default: '90',
    doc: 'days of 1-minute candles generated on start for simulated symbols without any history (0: none; never with `AMQP_URL`)',
  }),
  FEED_TIMEZONE: v({
    schema: ianaZone,
    default: 'UTC',
    doc: 'IANA zone of feed timestamps (MT servers often run on EET); converted to UTC on ingest',
    public: true,
  }),
  SYMBOLS: v({
    schema: symbolList,
    default: 'EURUSD,GBPUSD,USDJPY,XAUUSD,BTCUSD',
    doc: 'symbols the simulator emits; symbols seen on a feed are added',
    public: true,
  }),
  CANDLE_PRICE: v({
    schema: z.enum(['bid', 'mid', 'last']),
    default: 'bid',
    doc: '`bid`, `mid` or `last`: the price that builds candles (MT uses bid for forex)',
    public: true,
  }),
  CANDLE_VOLUME: v({
    schema: z.enum(['ticks', 'real']),
    default: 'ticks',
    doc: '`ticks` (tick count, MT tick volume) or `real` (sum of `volume_real`, else `volume`)',
    public: true,
  }),
  AUTH_JWT_SECRET: v({
    schema: z.string().min(16, 'must be at least 16 characters').optional(),
    shownDefault: 'unset: a generated secret kept in `DATA_DIR/jwt-secret`, guest sign-in on',
    doc: 'HS256 secret for user JWTs',
    public: true,
  }),
  AUTH_GUEST: v({
    schema: onOff.optional(),
    shownDefault: '`on` when `AUTH_JWT_SECRET` is unset',
    doc: '`POST /api/session` issues guest tokens',
    public: true,
  }),
  AUTH_GUEST_PER_IP_PER_MIN: v({
    schema: positiveInt,
    default: '10',
    doc: 'guest sessions (`POST /api/session`) per client address per minute, across the cluster; beyond it HTTP 429 with `Retry-After`',
  }),
  ALLOW_ANONYMOUS_MARKET_DATA: v({
    schema: onOff,
    default: 'true',
    doc: 'MQTT clients without credentials may subscribe to `ticks/…` and `candles/…` only',
    public: true,
  }),
  CHAT_MAX_LENGTH: v({ schema: positiveInt.max(100_000), default: '2000', doc: 'characters per chat message', public: true }),
  CHAT_RATE_PER_S: v({
    schema: z.coerce.number().positive(),
    default: '5',
    doc: 'chat messages per second per user (token bucket refill), across the cluster',
    public: true,
  }),
  CHAT_BURST: v({ schema: positiveInt, default: '10', doc: 'chat token bucket size per user', public: true }),
  CHAT_EDIT_WINDOW_S: v({ schema: positiveInt, default: '900', doc: 'seconds during which an author may edit a message' }),
  CHAT_TYPING_PER_S: v({
    schema: z.coerce.number().positive().max(1000),
    default: '2',
    doc: 'typing signals forwarded per second per user and conversation (as many in a burst), per broker node; the rest are acked and dropped',
  }),
  HTTP_REQUEST_TIMEOUT_S: v({
    schema: z.coerce.number().positive().max(3600),
    default: '30',
    doc: 'seconds a client has to send a whole HTTP request, headers and body (WebSocket connections are not affected once open)',
  }),
  MQTT_MAX_PACKET: v({ schema: positiveInt.min(1024), default: '65536', doc: 'bytes', public: true }),
  MQTT_MAX_KEEPALIVE_S: v({
    schema: positiveInt.max(65535),
    default: '300',
    doc: 'largest keepalive a client may ask for; a CONNECT asking for more (or 0) is given this limit',
  }),
  MQTT_MAX_SUBSCRIPTIONS: v({ schema: positiveInt, default: '200', doc: 'topic filters one client may hold' }),
  MQTT_SESSION_EXPIRY_S: v({
    schema: positiveInt.max(365 * 24 * 3600),
    default: '7200',
    doc: 'seconds a persistent session (clean session false) is kept after its client left; then its subscriptions and queued messages are removed, on whichever node the client left from',
    public: true,
  }),
  MQTT_MAX_QUEUED_MESSAGES: v({
    schema: positiveInt.max(1_000_000),
    default: '1000',
    doc: 'QoS 1/2 messages kept per persistent session while its client is away or not acknowledging; beyond it the oldest are dropped (chat clients recover them from history by `seq`)',
    public: true,
  }),
  MQTT_MAX_CONNECTIONS_PER_USER: v({
    schema: positiveInt.max(100_000),
    default: '20',
    doc: 'concurrent MQTT connections per signed-in user (JWT `sub`), across the cluster; beyond it CONNACK 3 (server unavailable); a takeover of the same client id is not counted twice',
    public: true,
  }),
  MQTT_RECEIVE_MAXIMUM: v({
    schema: positiveInt.max(65535),
    default: '100',
    doc: 'MQTT 5: QoS 1/2 publishes a client may have unacknowledged, announced in the CONNACK (Receive Maximum); a client sending more is disconnected with 0x93 (Receive Maximum exceeded)',
  }),
  MQTT_WRITE_WINDOW_MS: v({
    schema: z.coerce.number().int().min(0).max(1000),
    default: '5',
    doc: 'milliseconds ticks gather before each client gets one write with the latest tick of each of its symbols (0: every tick, written once per event-loop turn); chat and acks never wait for it',
  }),
  MQTT_WRITE_WINDOW_MAX_MS: v({
    schema: z.coerce.number().int().min(0).max(10_000),
    default: '50',
    doc: 'how far the tick write window stretches while flushing ticks takes over half of the event loop or the loop runs late (ticks conflate harder, chat keeps its share)',
  }),
  MQTT_CONNECTS_PER_IP_PER_S: v({
    schema: positiveInt,
    default: '20',
    doc: 'new connections accepted per remote address per second (excess is closed before CONNECT)',
  }),
  MQTT_LISTEN_BACKLOG: v({
    schema: positiveInt.max(65535),
    default: '4096',
    doc: "TCP connections the kernel queues for the MQTT listener before the broker accepts them (capped by the kernel's `net.core.somaxconn`); a reconnect storm beyond it waits for SYN retries",
  }),
  ACL_FILE: v({
    schema: z.string().min(1).optional(),
    shownDefault: 'unset',
    doc: "extra rules in Mosquitto `acl_file` syntax for topic areas of the operator's own; never widens `chat/`, `users/`, `ticks/`, `candles/` or `$SYS`",
    public: true,
  }),
  NODE_ID: v({
    schema: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,64}$/)
      .optional(),
    shownDefault: 'host name and process id',
    doc: "this process's id in the cluster (broker id, logs, metrics)",
  }),
  CLUSTER_CHAT_ORDER_WAIT_MS: v({
    schema: z.coerce.number().int().min(0).max(60_000),
    default: '500',
    doc: 'milliseconds a chat message from another node waits for an earlier `seq` of its conversation, so members get each conversation in order; a wait that runs out delivers without it (the gap is filled from history)',
  }),
  CLUSTER_HEARTBEAT_S: v({
    schema: positiveInt.max(60),
    default: '5',
    doc: "seconds between a broker node's heartbeats to the cluster; a node silent for 3 of them is taken for dead and its clients' wills are published by another node within 4 more",
  }),
  LOG_LEVEL: v({
    schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    default: 'info',
    doc: 'pino log level',
  }),
  SHUTDOWN_DRAIN_S: v({
    schema: z.coerce.number().min(0).max(600),
    default: '10',
    doc: 'on SIGTERM, seconds over which MQTT clients are disconnected gradually before exit',
  }),
} as const;

type Vars = typeof configVars;
export type RawConfig = { [K in keyof Vars]: z.output<Vars[K]['schema']> };

export type Config = Omit<RawConfig, 'FEED_SIM' | 'AUTH_GUEST'> & {
  FEED_SIM: boolean;
  AUTH_GUEST: boolean;
  NODE_ID: string;
};

export interface ConfigProblem {
  variable: string;
  message: string;
}

/** One or more bad variables, each named with its problem, one line each. */
export class ConfigError extends Error {
  readonly problems: readonly ConfigProblem[];

  constructor(variable: string, message: string);
  constructor(problems: readonly ConfigProblem[]);
  constructor(first: string | readonly ConfigProblem[], message?: string) {
    const problems = typeof first === 'string' ? [{ variable: first, message: message ?? 'invalid value' }] : first;
    super(problems.map((p) => `invalid configuration: ${p.variable}: ${p.message}`).join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Variables whose whole value is a secret: never echoed, only their length. */
const SECRET_NAME = /SECRET|PASSWORD|TOKEN|_KEY$/;
/** URL variables may carry a password in their userinfo (`postgres://user:pw@host`). */
const URL_NAME = /_URL$/;

/** A variable's value as it may be printed: secrets hidden, URL passwords masked. */
export function shownValue(name: string, value: string): string {
  if (SECRET_NAME.test(name)) return `${value.length} characters, not shown`;
  return JSON.stringify(URL_NAME.test(name) ? maskUserinfo(value) : value);
}

/**
 * A URL's password masked: the userinfo up to the last `@` (a password may hold `/` or `@`), keeping
 * the user name before its `:` (a userinfo without `:` may be a bare token: masked whole), and
 * password-like query parameters (libpq reads `?password=`). Works on text that is not a valid URL.
 */
export function maskUserinfo(value: string): string {
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.exec(value)?.[0] ?? '';
  let rest = value.slice(scheme.length);
  const at = rest.lastIndexOf('@');
  if (at !== -1) {
    const colon = rest.slice(0, at).indexOf(':');
    rest = `${colon === -1 ? '***' : `${rest.slice(0, colon)}:***`}${rest.slice(at)}`;
  }
  return scheme + rest.replace(/([?&](?:password|pass|pwd|secret|token|sslpassword)=)[^&#]*/gi, '$1***');
}

function describeIssues(issues: readonly z.core.$ZodIssue[]): string {
  const messages = [...new Set(issues.map((i) => i.message))];
  return messages.length > 0 ? messages.join('; ') : 'invalid value';
}

export interface ConfigCheck {
  /** Set when no variable is bad. */
  config?: Config;
  problems: ConfigProblem[];
  /** The variables that parsed (a bad one is absent; an unset optional one is present, undefined). */
  valid: Partial<RawConfig>;
}

/** Every variable parsed; every bad one reported, not only the first. */
export function checkConfig(env: Record<string, string | undefined>): ConfigCheck {
  const out: Record<string, unknown> = {};
  const problems: ConfigProblem[] = [];
  for (const [name, spec] of Object.entries(configVars) as [string, VarSpec<z.ZodType>][]) {
    const given = env[name];
    const raw = given === undefined || given === '' ? spec.default : given;
    const parsed = spec.schema.safeParse(raw);
    if (parsed.success) out[name] = parsed.data;
    else
      problems.push({
        variable: name,
        message: `${describeIssues(parsed.error.issues)} (got ${given === undefined ? 'the default' : shownValue(name, given)})`,
      });
  }
  const raw = out as RawConfig;
  if (raw.FEED_SIM === true && raw.AMQP_URL !== undefined) {
    // Candles come from RabbitMQ then: simulated ticks would show on MQTT but never make a candle.
    problems.push({
      variable: 'FEED_SIM',
      message: 'cannot be on with AMQP_URL set: publish simulated ticks into RabbitMQ with `ticktalk feed-sim`',
    });
  }
  if (problems.length > 0) return { problems, valid: raw };
  const config: Config = {
    ...raw,
    FEED_SIM: raw.FEED_SIM ?? raw.AMQP_URL === undefined,
    AUTH_GUEST: raw.AUTH_GUEST ?? raw.AUTH_JWT_SECRET === undefined,
    NODE_ID: raw.NODE_ID ?? `${hostname()}-${process.pid}`,
  };
  return { config, problems, valid: raw };
}

/** Parse an environment; throws one ConfigError listing every bad variable. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const { config, problems } = checkConfig(env);
  if (!config) throw new ConfigError(problems);
  return config;
}

/** The README's configuration table, generated so the docs never drift from the schema. */
export function configTable(): string {
  const rows = ['| variable | default | meaning |', '| --- | --- | --- |'];
  for (const [name, spec] of Object.entries(configVars) as [string, VarSpec<z.ZodType>][]) {
    const shown = spec.shownDefault ?? (spec.default === undefined ? 'unset' : `\`${spec.default}\``);
    rows.push(`| \`${name}\` | ${shown} | ${spec.doc} |`);
  }
  return rows.join('\n');
}

import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { ConfigError, configTable, loadConfig, maskUserinfo } from './config.js';

describe('configuration', () => {
  it('has the contract defaults', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      HOST: '0.0.0.0',
      MQTT_PORT: 1883,
      HTTP_PORT: 8080,
      DATA_DIR: './data',
      FEED_SIM: true,
      FEED_TIMEZONE: 'UTC',
      SYMBOLS: ['EURUSD', 'GBPUSD', 'USDJPY', 'XAUUSD', 'BTCUSD'],
      CANDLE_PRICE: 'bid',
      CANDLE_VOLUME: 'ticks',
      AUTH_GUEST: true,
      ALLOW_ANONYMOUS_MARKET_DATA: true,
      CHAT_MAX_LENGTH: 2000,
      CHAT_RATE_PER_S: 5,
      CHAT_BURST: 10,
      MQTT_MAX_PACKET: 65536,
    });
    expect(c.REDIS_URL).toBeUndefined();
    expect(c.DATABASE_URL).toBeUndefined();
  });

  it('derives FEED_SIM and AUTH_GUEST from AMQP_URL and AUTH_JWT_SECRET', () => {
    const c = loadConfig({ AMQP_URL: 'amqp://guest:guest@127.0.0.1:5672', AUTH_JWT_SECRET: 'x'.repeat(32) });
    expect(c.FEED_SIM).toBe(false);
    expect(c.AUTH_GUEST).toBe(false);
    expect(() => loadConfig({ AMQP_URL: 'amqp://h', FEED_SIM: 'on' })).toThrow(/FEED_SIM: cannot be on with AMQP_URL/);
    expect(loadConfig({ FEED_SIM: 'off' }).FEED_SIM).toBe(false);
  });

  it.each([
    ['MQTT_PORT', '70000'],
    ['HTTP_PORT', 'http'],
    ['REDIS_URL', 'localhost:6379'],
    ['DATABASE_URL', 'mysql://x'],
    ['FEED_TIMEZONE', 'Mars/Olympus'],
    ['SYMBOLS', 'EUR/USD'],
    ['CANDLE_PRICE', 'ask'],
    ['ALLOW_ANONYMOUS_MARKET_DATA', 'maybe'],
    ['AUTH_JWT_SECRET', 'short'],
    ['MQTT_MAX_PACKET', '-1'],
  ])('a bad %s stops start-up with a message naming it', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`^invalid configuration: ${name}:`));
  });

  it('one ConfigError lists every bad variable, each on its own line, secrets never shown', () => {
    const env = { MQTT_PORT: 'x', CANDLE_PRICE: 'ask', AUTH_JWT_SECRET: 'tiny-secret', REDIS_URL: 'http://u:redis-pw@h' };
    expect(() => loadConfig(env)).toThrow(ConfigError);
    let error: ConfigError | undefined;
    try {
      loadConfig(env);
    } catch (err) {
      error = err as ConfigError;
    }
    expect(error?.problems.map((p) => p.variable)).toEqual(['MQTT_PORT', 'REDIS_URL', 'CANDLE_PRICE', 'AUTH_JWT_SECRET']);
    expect(error?.message.split('\n')).toHaveLength(4);
    expect(error?.message).toContain('AUTH_JWT_SECRET: must be at least 16 characters (got 11 characters, not shown)');
    expect(error?.message).toContain('(got "http://u:***@h")');
    expect(error?.message).not.toMatch(/tiny-secret|redis-pw/);
  });

  it.each([
    ['postgres://app:pw@db:5432/app', 'postgres://app:***@db:5432/app'],
    ['postgres://app:p/w@rd@db/app', 'postgres://app:***@db/app'],
    ['redis://:pw@r:6379', 'redis://:***@r:6379'],
    ['https://ghp_token@host/x', 'https://***@host/x'],
    ['postgres://db/app?sslmode=require&password=pw', 'postgres://db/app?sslmode=require&password=***'],
    ['amqp://guest@h', 'amqp://***@h'],
    ['amqp://h:5672', 'amqp://h:5672'],
  ])('masks the password of %s', (url, shown) => {
    expect(maskUserinfo(url)).toBe(shown);
  });

  it('the README table is the one generated from the schema (npm run docs:config)', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const block = /<!-- config:start -->\n([\s\S]*?)\n<!-- config:end -->/.exec(readme);
    expect(block?.[1]).toBe(configTable());
  });
});

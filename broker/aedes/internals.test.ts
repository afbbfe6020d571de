import { readFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { Aedes } from 'aedes';
import { afterEach, describe, expect, it } from 'vitest';
import { checkAedesClient, checkAedesInternals, PINNED_AEDES_VERSION } from './internals.js';

const brokers: Aedes[] = [];
const startBroker = async () => {
  const broker = await Aedes.createBroker();
  brokers.push(broker);
  return broker;
};

afterEach(async () => {
  await Promise.all(brokers.splice(0).map((b) => new Promise<void>((resolve) => b.close(() => resolve()))));
});

describe('the shape check of the Aedes internals ticktalk overrides', () => {
  it('passes on the installed Aedes, which is the pinned version', async () => {
    const broker = await startBroker();
    expect(() => checkAedesInternals(broker)).not.toThrow();
    const conn = new PassThrough();
    const client = broker.handle(conn);
    expect(() => checkAedesClient(client)).not.toThrow();
    conn.destroy();
    expect((broker as unknown as { version: string }).version).toBe(PINNED_AEDES_VERSION);
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string> };
    expect(pkg.dependencies.aedes).toBe(PINNED_AEDES_VERSION);
  });

  it('pins every Aedes package to an exact version, and that version is the one installed', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      dependencies: Record<string, string>;
      overrides: Record<string, Record<string, string>>;
    };
    const installed = (path: string) =>
      (JSON.parse(readFileSync(new URL(`../../node_modules/${path}/package.json`, import.meta.url), 'utf8')) as { version: string }).version;
    const fenced = Object.entries(pkg.dependencies).filter(([name]) => /^(aedes|mqemitter)/.test(name));
    expect(fenced.map(([name]) => name).sort()).toEqual([
      'aedes',
      'aedes-packet',
      'aedes-persistence',
      'aedes-persistence-redis',
      'mqemitter',
      'mqemitter-redis',
    ]);
    for (const [name, range] of fenced) {
      expect(range, name).toMatch(/^\d+\.\d+\.\d+$/);
      expect(installed(name), name).toBe(range);
    }
    // aedes-persistence-redis brings its own aedes-persistence; its broadcast code is what bug (d) is about.
    const nested = pkg.overrides['aedes-persistence-redis']['aedes-persistence'];
    expect(nested).toMatch(/^\d+\.\d+\.\d+$/);
    expect(installed('aedes-persistence-redis/node_modules/aedes-persistence')).toBe(nested);
  });

  it('names a missing broker internal and the pinned version', async () => {
    const broker = await startBroker();
    const persistence = (broker as unknown as { persistence: Record<string, unknown> }).persistence;
    persistence.outgoingStream = undefined;
    expect(() => checkAedesInternals(broker)).toThrow(
      `Aedes internal broker.persistence.outgoingStream is not as ticktalk expects (a function, found undefined): the broker overrides are written for aedes ${PINNED_AEDES_VERSION}`,
    );
  });

  it('names a client internal of the wrong type', async () => {
    const broker = await startBroker();
    const conn = new PassThrough();
    const client = broker.handle(conn);
    (client as unknown as { deliverQoS: unknown }).deliverQoS = 'gone';
    expect(() => checkAedesClient(client)).toThrow('Aedes internal client.deliverQoS is not as ticktalk expects (a function, found string)');
    conn.destroy();
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TickHub, type TickSource } from '../../platform/tick-hub.js';
import { tickPayloadSchema, type Tick } from '../../protocol/tick.js';

export interface TickSourceFixture {
  source: TickSource;
  /** Makes ticks flow (a feed publishing); a no-op for sources that generate their own. */
  drive(): Promise<void>;
  /** Stops whatever `drive` and the fixture started. */
  teardown(): Promise<void>;
}

/**
 * The TickSource contract, run against every implementation (simulator, RabbitMQ bridge) so
 * `serve` can use either without knowing which: ticks arrive in the hub, every one of them valid
 * as an MQTT tick payload, and nothing arrives once stop() has resolved.
 */
export function describeTickSource(name: string, create: () => Promise<TickSourceFixture>): void {
  describe(`TickSource contract: ${name}`, () => {
    let fixture: TickSourceFixture;
    const hub = new TickHub();
    const ticks: Tick[] = [];
    hub.subscribe((batch) => ticks.push(...batch));

    beforeAll(async () => {
      fixture = await create();
    });

    afterAll(async () => {
      await fixture?.source.stop();
      await fixture?.teardown();
    });

    it('delivers valid ticks into the hub once started', async () => {
      await fixture.source.start(hub);
      await expect
        .poll(
          async () => {
            await fixture.drive();
            return ticks.length;
          },
          { timeout: 15_000, interval: 100 },
        )
        .toBeGreaterThanOrEqual(5);
      for (const tick of ticks) expect(tickPayloadSchema.safeParse(tick).success, JSON.stringify(tick)).toBe(true);
    });

    it('refuses a second start', async () => {
      await expect(fixture.source.start(hub)).rejects.toThrow(/already started/);
    });

    it('delivers nothing after stop() resolves', async () => {
      await fixture.source.stop();
      const count = ticks.length;
      await fixture.drive();
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(ticks.length).toBe(count);
    });
  });
}

import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { Shutdown } from './shutdown.js';

describe('Shutdown', () => {
  it('runs steps in reverse order, bounds each, and lets a slow-by-design step have its own bound', async () => {
    const done: string[] = [];
    const shutdown = new Shutdown(pino({ level: 'silent' }));
    const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
    shutdown.add('store', async () => void done.push('store'));
    shutdown.add('stuck', () => new Promise<void>(() => {}));
    shutdown.add(
      'drain',
      async () => {
        await sleep(80);
        done.push('drain');
      },
      500,
    );
    await shutdown.run(50);
    expect(done).toEqual(['drain', 'store']);
  });
});

import { describe, expect, it } from 'vitest';
import { Health } from './health.js';

describe('Health', () => {
  it('reports a check that does not answer, or throws, as failing, and the others as they are', async () => {
    const health = new Health();
    health.addCheck('ok', () => true);
    health.addCheck('hung', () => new Promise<boolean>(() => {}));
    health.addCheck('broken', () => {
      throw new Error('down');
    });
    const result = await health.readiness();
    expect(result).toEqual({ ready: false, checks: { ok: true, hung: false, broken: false } });
  });
});

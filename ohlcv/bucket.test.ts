import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { RESOLUTIONS } from '../protocol/names.js';
import { bucketEnd, bucketStart } from './bucket.js';
import { referenceBucket } from './testing/reference.js';

const iso = (s: string) => Date.parse(s);

describe('bucketStart', () => {
  it('starts weeks on Monday 00:00 UTC and months on the 1st', () => {
    expect(bucketStart(iso('2025-01-05T23:59:59.999Z'), '1W')).toBe(iso('2024-12-30T00:00:00Z'));
    expect(bucketStart(iso('2025-01-06T00:00:00.000Z'), '1W')).toBe(iso('2025-01-06T00:00:00Z'));
    expect(bucketStart(iso('1970-01-01T12:00:00Z'), '1W')).toBe(iso('1969-12-29T00:00:00Z'));
    expect(bucketStart(iso('2024-02-29T23:59:59.999Z'), '1M')).toBe(iso('2024-02-01T00:00:00Z'));
    expect(bucketStart(iso('2024-12-31T23:59:59.999Z'), '1D')).toBe(iso('2024-12-31T00:00:00Z'));
    expect(bucketStart(iso('2025-03-31T23:59:59.999Z'), '240')).toBe(iso('2025-03-31T20:00:00Z'));
  });

  it('gives the next bucket start, across month and year ends', () => {
    expect(bucketEnd(iso('2024-12-01T00:00:00Z'), '1M')).toBe(iso('2025-01-01T00:00:00Z'));
    expect(bucketEnd(iso('2024-02-01T00:00:00Z'), '1M')).toBe(iso('2024-03-01T00:00:00Z'));
    expect(bucketEnd(iso('2024-12-30T00:00:00Z'), '1W')).toBe(iso('2025-01-06T00:00:00Z'));
  });

  it('agrees with the calendar reference and contains the time', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Date.UTC(2100, 0, 1) }), fc.constantFrom(...RESOLUTIONS), (t, res) => {
        const start = bucketStart(t, res);
        expect(start).toBe(referenceBucket(t, res));
        expect(t).toBeLessThan(bucketEnd(start, res));
      }),
      { numRuns: 5000 },
    );
  });
});

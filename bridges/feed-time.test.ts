import { describe, expect, it } from 'vitest';
import { isKnownTimeZone, wallClockToUtc, zoneOffsetMs } from './feed-time.js';

const H = 3_600_000;
const wall = (y: number, mo: number, d: number, h: number, mi = 0, s = 0, ms = 0) => Date.UTC(y, mo - 1, d, h, mi, s, ms);

describe('wallClockToUtc', () => {
  it('is the identity for UTC', () => {
    const t = wall(2025, 1, 2, 0, 0, 0, 351);
    expect(wallClockToUtc(t, 'UTC')).toBe(t);
  });

  for (const zone of ['Europe/Athens', 'EET']) {
    describe(zone, () => {
      it('winter time is UTC+2', () => {
        expect(wallClockToUtc(wall(2025, 1, 2, 0, 0, 0, 351), zone)).toBe(wall(2025, 1, 1, 22, 0, 0, 351));
      });

      it('summer time is UTC+3', () => {
        expect(wallClockToUtc(wall(2025, 7, 1, 12), zone)).toBe(wall(2025, 7, 1, 9));
      });

      // 2025-03-30: clocks go from 03:00 EET to 04:00 EEST (01:00 UTC).
      it('spring forward: the last winter minute and the first summer minute', () => {
        expect(wallClockToUtc(wall(2025, 3, 30, 2, 59, 59, 999), zone)).toBe(wall(2025, 3, 30, 0, 59, 59, 999));
        expect(wallClockToUtc(wall(2025, 3, 30, 4, 0), zone)).toBe(wall(2025, 3, 30, 1, 0));
      });

      it('spring forward: a skipped wall time moves forward by the gap', () => {
        // 03:30 does not exist; compatible disambiguation reads it as 04:30 EEST = 01:30 UTC.
        expect(wallClockToUtc(wall(2025, 3, 30, 3, 30), zone)).toBe(wall(2025, 3, 30, 1, 30));
      });

      // 2025-10-26: clocks go from 04:00 EEST back to 03:00 EET (01:00 UTC).
      it('fall back: a repeated wall time takes the earlier (summer) instant', () => {
        expect(wallClockToUtc(wall(2025, 10, 26, 3, 30), zone)).toBe(wall(2025, 10, 26, 0, 30));
      });

      it('fall back: just before and after the repeated hour', () => {
        expect(wallClockToUtc(wall(2025, 10, 26, 2, 59, 59, 999), zone)).toBe(wall(2025, 10, 25, 23, 59, 59, 999));
        expect(wallClockToUtc(wall(2025, 10, 26, 4, 0), zone)).toBe(wall(2025, 10, 26, 2, 0));
      });

      it('round-trips every quarter hour across both 2025 transitions', () => {
        for (const start of [wall(2025, 3, 29, 12), wall(2025, 10, 25, 12)]) {
          for (let utc = start; utc < start + 24 * H; utc += H / 4) {
            const local = utc + zoneOffsetMs(utc, zone);
            const back = wallClockToUtc(local, zone);
            // Within the repeated hour the earlier instant is chosen; it maps to the same wall time.
            expect(back + zoneOffsetMs(back, zone)).toBe(local);
            expect(back <= utc).toBe(true);
          }
        }
      });
    });
  }

  it('handles a zone with a 45-minute offset', () => {
    expect(wallClockToUtc(wall(2025, 1, 1, 5, 45), 'Asia/Kathmandu')).toBe(wall(2025, 1, 1, 0, 0));
  });

  it('handles New York DST (spring gap at 02:00 local)', () => {
    expect(wallClockToUtc(wall(2025, 3, 9, 1, 59), 'America/New_York')).toBe(wall(2025, 3, 9, 6, 59));
    expect(wallClockToUtc(wall(2025, 3, 9, 3, 0), 'America/New_York')).toBe(wall(2025, 3, 9, 7, 0));
  });
});

describe('isKnownTimeZone', () => {
  it('knows IANA zones and refuses others', () => {
    expect(isKnownTimeZone('Europe/Athens')).toBe(true);
    expect(isKnownTimeZone('EET')).toBe(true);
    expect(isKnownTimeZone('Mars/Olympus')).toBe(false);
  });
});

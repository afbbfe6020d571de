import type { Resolution } from '../protocol/names.js';

/**
 * Bucketing of docs/protocol.md#candles: every bucket is a UTC interval. Intraday buckets start at multiples of
 * their length since the epoch, `1D` at 00:00 UTC, `1W` on Monday 00:00 UTC, `1M` on the 1st.
 * All times are UTC milliseconds.
 */

const SECOND = 1000;
const MINUTE = 60 * SECOND;
export const DAY_MS = 24 * 60 * MINUTE;

/** Fixed lengths of the resolutions that have one; `1M` varies and is computed from the calendar. */
const FIXED_LENGTH_MS: Record<Exclude<Resolution, '1M'>, number> = {
  '1S': SECOND,
  '1': MINUTE,
  '5': 5 * MINUTE,
  '15': 15 * MINUTE,
  '30': 30 * MINUTE,
  '60': 60 * MINUTE,
  '240': 240 * MINUTE,
  '1D': DAY_MS,
  '1W': 7 * DAY_MS,
};

/** A bar length to reason about windows with ("the last N bars"); a month counts as 31 days. */
export function nominalLengthMs(res: Resolution): number {
  return res === '1M' ? 31 * DAY_MS : FIXED_LENGTH_MS[res];
}

/** 1970-01-01 was a Thursday: day 0 is 3 days after a Monday. */
const EPOCH_DAYS_AFTER_MONDAY = 3;

export function bucketStart(timeMs: number, res: Resolution): number {
  switch (res) {
    case '1M': {
      const d = new Date(timeMs);
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
    }
    case '1W': {
      const day = Math.floor(timeMs / DAY_MS);
      const sinceMonday = (((day + EPOCH_DAYS_AFTER_MONDAY) % 7) + 7) % 7;
      return (day - sinceMonday) * DAY_MS;
    }
    default: {
      const len = FIXED_LENGTH_MS[res];
      return Math.floor(timeMs / len) * len;
    }
  }
}

/** The start of the bucket after the one that starts at `start`. */
export function bucketEnd(start: number, res: Resolution): number {
  if (res !== '1M') return start + FIXED_LENGTH_MS[res];
  const d = new Date(start);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
}

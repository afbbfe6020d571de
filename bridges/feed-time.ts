/**
 * MetaTrader servers stamp ticks with their own wall clock (often EET/EEST) written as if it were UTC:
 * `time_msc` counts milliseconds of the server's local calendar since 1970-01-01 00:00 local. This
 * module turns such wall-clock numbers into real UTC milliseconds for an IANA zone, DST-correctly,
 * with the platform's Intl data (no extra dependency).
 *
 * Wall times that do not exist (the spring-forward gap) or exist twice (the autumn fall-back hour) are
 * resolved like Temporal's `disambiguation: 'compatible'`: a skipped time moves forward by the gap,
 * a repeated time takes the earlier instant (summer time).
 */

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
/** Offsets are cached per UTC minute: every tz transition since 1970 falls on a minute boundary. */
const CACHE_LIMIT = 10_000;

interface ZoneOffsets {
  format: Intl.DateTimeFormat;
  byMinute: Map<number, number>;
}

const zones = new Map<string, ZoneOffsets>();

function zone(timeZone: string): ZoneOffsets {
  let z = zones.get(timeZone);
  if (!z) {
    z = {
      format: new Intl.DateTimeFormat('en-US', {
        timeZone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      }),
      byMinute: new Map(),
    };
    zones.set(timeZone, z);
  }
  return z;
}

/** The zone's offset from UTC (local minus UTC, in ms) at the UTC instant `utcMs`. */
export function zoneOffsetMs(utcMs: number, timeZone: string): number {
  const z = zone(timeZone);
  const minute = Math.floor(utcMs / MINUTE_MS);
  const cached = z.byMinute.get(minute);
  if (cached !== undefined) return cached;

  const at = minute * MINUTE_MS;
  const fields: Record<string, number> = {};
  for (const part of z.format.formatToParts(new Date(at))) {
    if (part.type !== 'literal') fields[part.type] = Number(part.value);
  }
  const localAsUtc = Date.UTC(fields.year, fields.month - 1, fields.day, fields.hour, fields.minute, fields.second);
  const offset = localAsUtc - at;

  if (z.byMinute.size >= CACHE_LIMIT) z.byMinute.clear();
  z.byMinute.set(minute, offset);
  return offset;
}

/** Converts a wall-clock millisecond count in `timeZone` to UTC milliseconds. */
export function wallClockToUtc(wallMs: number, timeZone: string): number {
  // At most one transition lies within a day either side, so the offsets a day before and after are
  // the only candidates for this wall time.
  const before = zoneOffsetMs(wallMs - DAY_MS, timeZone);
  const after = zoneOffsetMs(wallMs + DAY_MS, timeZone);
  // No transition near: whether or not the one candidate checks out, the answer is the same.
  if (before === after) return wallMs - before;
  const valid = [before, after].filter((offset) => zoneOffsetMs(wallMs - offset, timeZone) === offset);
  if (valid.length === 0) return wallMs - before; // in the gap: keep counting on the old offset
  return wallMs - Math.max(...valid); // repeated hour: the larger offset is the earlier instant
}

/** True when `timeZone` is an IANA zone this runtime knows. */
export function isKnownTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
    return true;
  } catch {
    return false;
  }
}

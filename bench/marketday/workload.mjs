// The market-day workload as plain data (pure, seeded): who subscribes to what, which room, who reads slowly.
import { seededRandom } from '../../dist/bridges/tick-generator.js';

/** The simulator's seeded PRNG: the same flags give the same clients in every run. */
export const random = seededRandom;

/** Cumulative Zipf weights over `n` ranks (rank 0 the most popular), exponent `s`. */
export function zipf(n, s) {
  const cumulative = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) cumulative[i] = sum += 1 / Math.pow(i + 1, s);
  for (let i = 0; i < n; i++) cumulative[i] /= sum;
  return cumulative;
}

/** A rank drawn from cumulative weights. */
export function draw(cumulative, rnd) {
  const u = rnd();
  let lo = 0;
  let hi = cumulative.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cumulative[mid] < u) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** `k` distinct ranks, each drawn by popularity (bounded: falls back to the next free rank). */
function distinctRanks(cumulative, k, rnd) {
  const chosen = new Set();
  for (let tries = 0; chosen.size < k && tries < k * 50; tries++) chosen.add(draw(cumulative, rnd));
  for (let r = 0; chosen.size < k && r < cumulative.length; r++) chosen.add(r);
  return [...chosen];
}

export const symbolName = (runId, rank) => `${runId}S${String(rank).padStart(3, '0')}`;
export const roomName = (runId, room) => `${runId.toLowerCase()}-r${room}`;

/**
 * One entry per client: its user, symbols (Zipf), room (uniform), whether it reads slowly, whether
 * it speaks MQTT 5 (every client whose index mod 100 is below the share × 100), and the
 * loopback source address it connects from (`perAddress` clients per address, so the broker's
 * per-address connect limit holds without being raised).
 */
export function planClients({
  runId,
  clients,
  symbolsPerClient,
  symbols,
  rooms,
  slowShare,
  mqtt5Share = 0,
  slowTickRate = 0,
  zipfS,
  perAddress,
  seed,
}) {
  const rnd = random(seed);
  const popularity = zipf(symbols, zipfS);
  const plan = [];
  for (let i = 0; i < clients; i++) {
    const address = Math.floor(i / perAddress);
    const symbolsOf = distinctRanks(popularity, Math.min(symbolsPerClient, symbols), rnd).map((r) => symbolName(runId, r));
    const room = roomName(runId, Math.floor(rnd() * rooms));
    const slow = rnd() < slowShare;
    // A slow reader asking for fewer ticks (`slowTickRate`) does so with an MQTT 5 CONNECT.
    const maxTickRate = slow && slowTickRate > 0 ? slowTickRate : undefined;
    plan.push({
      index: i,
      user: `${runId.toLowerCase()}u${i}`,
      symbols: symbolsOf,
      room,
      slow,
      // Not drawn from rnd: the rest of the plan stays the same whatever the share of MQTT 5 clients.
      mqtt5: i % 100 < Math.round(mqtt5Share * 100) || maxTickRate !== undefined,
      maxTickRate,
      localAddress: `127.0.${1 + Math.floor(address / 250)}.${1 + (address % 250)}`,
    });
  }
  return plan;
}

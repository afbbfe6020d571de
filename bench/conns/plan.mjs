// What each client of bench:idle / bench:storm is: its loopback address and its subscriptions.

/**
 * The source address of client `i`: `perAddress` clients share one 127.0.x.y (under the broker's
 * per-address connect limit, which the bench leaves at its default), `base` addresses in.
 */
export function addressOf(base, i, perAddress) {
  const a = base + Math.floor(i / perAddress);
  return `127.${1 + Math.floor(a / 62_500)}.${Math.floor(a / 250) % 250}.${1 + (a % 250)}`;
}

/** Deterministic per-client randomness (mulberry32), so every run subscribes the same filters. */
function random(seed) {
  let t = (seed + 0x6d2b79f5) >>> 0;
  return () => {
    t = (t + 0x6d2b79f5) >>> 0;
    let r = Math.imul(t ^ (t >>> 15), 1 | t);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
}

/** Index of a Zipf(1)-distributed pick among `n` (rank 0 the most popular). */
function zipf(n, u) {
  let total = 0;
  for (let k = 1; k <= n; k++) total += 1 / k;
  let acc = 0;
  for (let k = 1; k <= n; k++) {
    acc += 1 / k / total;
    if (u < acc) return k - 1;
  }
  return n - 1;
}

export function symbolName(runId, k) {
  return `${runId}S${k}`;
}

/** `symbolsPerClient` distinct tick filters (Zipf popularity over `symbols`) and one chat room of `rooms`. */
export function filtersOf(index, { runId, symbols, symbolsPerClient, rooms }) {
  const rnd = random(index);
  const picked = new Set();
  for (let tries = 0; picked.size < Math.min(symbolsPerClient, symbols) && tries < 1000; tries++) picked.add(zipf(symbols, rnd()));
  const filters = [...picked].map((k) => `ticks/${symbolName(runId, k)}`);
  if (rooms > 0) filters.push(`chat/rooms/${runId.toLowerCase()}-${index % rooms}`);
  return filters;
}

/** Values at the given percentiles (100: the maximum) of unsorted `values`; NaN when empty. */
export function percentiles(values, ps) {
  const sorted = Float64Array.from(values).sort();
  const out = {};
  for (const p of ps) out[`p${p}`] = sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
  return out;
}

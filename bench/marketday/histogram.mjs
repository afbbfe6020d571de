// Latency histogram with 0.1 ms buckets up to 60 s (overflow in the last one): cheap to record
// millions of samples and to merge across the load processes.

const BUCKET_MS = 0.1;
const BUCKETS = 600_000;

export class Histogram {
  constructor(counts = new Uint32Array(BUCKETS + 1)) {
    this.counts = counts;
  }

  record(ms) {
    const b = ms <= 0 ? 0 : Math.min(BUCKETS, Math.floor(ms / BUCKET_MS));
    this.counts[b]++;
  }

  /** Sparse form for IPC: [bucket, count] pairs. */
  toJSON() {
    const pairs = [];
    for (let b = 0; b < this.counts.length; b++) if (this.counts[b] !== 0) pairs.push([b, this.counts[b]]);
    return pairs;
  }

  add(pairs) {
    for (const [b, n] of pairs) this.counts[b] += n;
  }

  get total() {
    let n = 0;
    for (let b = 0; b < this.counts.length; b++) n += this.counts[b];
    return n;
  }

  /** The `p`-th percentile in ms (bucket upper bound), NaN without samples. */
  percentile(p) {
    const total = this.total;
    if (total === 0) return NaN;
    const rank = Math.ceil((total * p) / 100);
    let seen = 0;
    for (let b = 0; b < this.counts.length; b++) {
      seen += this.counts[b];
      if (seen >= rank) return (b + 1) * BUCKET_MS;
    }
    return NaN;
  }
}

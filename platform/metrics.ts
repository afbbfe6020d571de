import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const METRIC_PREFIX = 'ticktalk_';

/**
 * A registry per process (or per broker node in tests, where two nodes share a process).
 * Modules declare their own instruments on it through these helpers so names stay prefixed.
 */
export class Metrics {
  readonly registry = new Registry();

  constructor(withDefaults = true) {
    if (!withDefaults) return;
    collectDefaultMetrics({ register: this.registry, prefix: METRIC_PREFIX });
    // Next to process_resident_memory_bytes, so an alert can say "near the container's limit".
    this.gauge('process_memory_limit_bytes', 'Memory limit of the process (cgroup), 0 when it has none', [], (g) => g.set(memoryLimit()));
  }

  counter<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return this.existing(name) ?? new Counter({ name: METRIC_PREFIX + name, help, labelNames, registers: [this.registry] });
  }

  /** `collect` runs at scrape time (awaited): for values that are cheaper to read than to track. */
  gauge<L extends string>(name: string, help: string, labelNames: readonly L[] = [], collect?: (g: Gauge<L>) => void | Promise<void>): Gauge<L> {
    return (
      this.existing(name) ??
      new Gauge({
        name: METRIC_PREFIX + name,
        help,
        labelNames,
        registers: [this.registry],
        collect: collect
          ? function (this: Gauge<L>) {
              return collect(this);
            }
          : undefined,
      })
    );
  }

  histogram<L extends string>(name: string, help: string, buckets: number[], labelNames: readonly L[] = []): Histogram<L> {
    return this.existing(name) ?? new Histogram({ name: METRIC_PREFIX + name, help, buckets, labelNames, registers: [this.registry] });
  }

  /** Two modules asking for the same instrument share it instead of failing on re-registration. */
  private existing<T>(name: string): T | undefined {
    return this.registry.getSingleMetric(METRIC_PREFIX + name) as T | undefined;
  }
}

/** Node reports an unconstrained process as a huge number (2^64 on Linux); that is no limit. */
const NO_LIMIT = 2 ** 62;

function memoryLimit(): number {
  const limit = process.constrainedMemory() ?? 0;
  return limit >= NO_LIMIT ? 0 : limit;
}

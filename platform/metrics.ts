import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const METRIC_PREFIX = 'ticktalk_';

/**
 * A registry per process (or per broker node in tests, where two nodes share a process).
 * Modules declare their own instruments on it through these helpers so names stay prefixed.
 */
export class Metrics {
  readonly registry = new Registry();

  constructor(withDefaults = true) {
    if (withDefaults) collectDefaultMetrics({ register: this.registry, prefix: METRIC_PREFIX });
  }

  counter<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return this.existing(name) ?? new Counter({ name: METRIC_PREFIX + name, help, labelNames, registers: [this.registry] });
  }

  /** `collect` runs at scrape time: for values that are cheaper to read than to track. */
  gauge<L extends string>(name: string, help: string, labelNames: readonly L[] = [], collect?: (g: Gauge<L>) => void): Gauge<L> {
    return (
      this.existing(name) ??
      new Gauge({
        name: METRIC_PREFIX + name,
        help,
        labelNames,
        registers: [this.registry],
        collect: collect ? function (this: Gauge<L>) { collect(this); } : undefined,
      })
    );
  }

  histogram<L extends string>(name: string, help: string, buckets: number[], labelNames: readonly L[] = []): Histogram<L> {
    return (
      this.existing(name) ??
      new Histogram({ name: METRIC_PREFIX + name, help, buckets, labelNames, registers: [this.registry] })
    );
  }

  /** Two modules asking for the same instrument share it instead of failing on re-registration. */
  private existing<T>(name: string): T | undefined {
    return this.registry.getSingleMetric(METRIC_PREFIX + name) as T | undefined;
  }
}

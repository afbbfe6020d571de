import { covers } from '../topic-filter.js';

/**
 * Which subscribers receive a topic of one family (pure). Filters are mirrored from the subscriptions
 * Aedes granted; lookups are cached per topic so the hot path is one Map get. The cache is bounded:
 * past `maxCachedTopics` the oldest entry is dropped and rebuilt on its next use.
 */
export class RouteTable<S> {
  private readonly exact = new Map<string, Set<S>>();
  private readonly wildcard = new Map<string, Set<S>>();
  private readonly filtersOf = new Map<S, Set<string>>();
  private readonly cache = new Map<string, readonly S[]>();

  constructor(
    /** The family root, e.g. `ticks`: only filters that can match `{root}/…` are kept. */
    private readonly root: string,
    private readonly maxCachedTopics: number,
  ) {}

  /** True when the filter can match topics of this family (and was recorded). */
  add(filter: string, subscriber: S): boolean {
    if (!this.relevant(filter)) return false;
    const wild = filter.includes('+') || filter.includes('#');
    const index = wild ? this.wildcard : this.exact;
    let subs = index.get(filter);
    if (!subs) index.set(filter, (subs = new Set()));
    subs.add(subscriber);
    let filters = this.filtersOf.get(subscriber);
    if (!filters) this.filtersOf.set(subscriber, (filters = new Set()));
    filters.add(filter);
    this.invalidate(filter, wild);
    return true;
  }

  remove(filter: string, subscriber: S): void {
    const filters = this.filtersOf.get(subscriber);
    if (!filters?.delete(filter)) return;
    if (filters.size === 0) this.filtersOf.delete(subscriber);
    const wild = filter.includes('+') || filter.includes('#');
    const index = wild ? this.wildcard : this.exact;
    const subs = index.get(filter);
    subs?.delete(subscriber);
    if (subs?.size === 0) index.delete(filter);
    this.invalidate(filter, wild);
  }

  removeSubscriber(subscriber: S): void {
    for (const filter of [...(this.filtersOf.get(subscriber) ?? [])]) this.remove(filter, subscriber);
  }

  lookup(topic: string): readonly S[] {
    let route = this.cache.get(topic);
    if (route === undefined) {
      route = this.compute(topic);
      if (this.cache.size >= this.maxCachedTopics) this.cache.delete(this.cache.keys().next().value as string);
      this.cache.set(topic, route);
    }
    return route;
  }

  get subscriberCount(): number {
    return this.filtersOf.size;
  }

  get cachedTopics(): number {
    return this.cache.size;
  }

  private compute(topic: string): readonly S[] {
    const out = new Set<S>(this.exact.get(topic));
    for (const [filter, subs] of this.wildcard) {
      if (covers(filter, topic)) for (const s of subs) out.add(s);
    }
    return [...out];
  }

  private invalidate(filter: string, wild: boolean): void {
    if (wild) this.cache.clear();
    else this.cache.delete(filter);
  }

  private relevant(filter: string): boolean {
    const head = filter.split('/', 1)[0];
    return head === this.root || head === '+' || head === '#';
  }
}

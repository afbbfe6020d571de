import { describeRejects, parseTickMessage } from '../bridges/tick-body.js';
import type { Logger } from '../platform/logger.js';
import type { Metrics } from '../platform/metrics.js';
import type { Tick } from '../protocol/tick.js';
import { aggregate, type CandleMode, type SeriesBar } from './aggregate.js';
import type { CandleBatch, CandleStore, StreamCheckpoint } from './store.js';
import { symbolSightings } from './symbols.js';
import type { StreamMessage } from './tick-stream.js';

export interface CandleAggregatorDeps {
  store: CandleStore;
  mode: CandleMode;
  /** FEED_TIMEZONE, for feed bodies read from the stream. */
  timeZone: string;
  log: Logger;
  metrics: Metrics;
  /** Receives the bars as stored after each commit (live publishing). */
  onStored: (bars: readonly SeriesBar[]) => void;
}

interface ParsedMessage {
  offset: number;
  ticks: Tick[];
}

/**
 * Turns batches of ticks (from the stream or the in-process hub) into one committed transaction each.
 * Invalid feed messages were already dead-lettered by the bridge; here their rejects are counted and
 * logged and the valid ticks of the same message still count.
 */
export class CandleAggregator {
  private readonly instruments;

  constructor(private readonly deps: CandleAggregatorDeps) {
    const m = deps.metrics;
    this.instruments = {
      ticks: m.counter('ohlcv_ticks_total', 'ticks counted into candles'),
      skipped: m.counter('ohlcv_ticks_without_price_total', 'ticks without a price in the CANDLE_PRICE mode (no bar)'),
      rejects: m.counter('ohlcv_ticks_rejected_total', 'feed ticks rejected as invalid (the bridge dead-letters them)', ['code']),
      replayed: m.counter('ohlcv_messages_replayed_total', 'stream messages read again and skipped as already stored'),
      offset: m.gauge('ohlcv_stream_committed_offset', 'last stream offset whose ticks are stored', ['stream']),
      commitSeconds: m.histogram('ohlcv_commit_seconds', 'time to merge one batch into the store', [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5]),
    };
  }

  async applyStreamBatch(stream: string, batch: readonly StreamMessage[]): Promise<void> {
    if (batch.length === 0) return;
    const parsed = this.parse(batch);
    let replayed = 0;
    await this.commit(
      (committed) => {
        const fresh = parsed.filter((m) => m.offset > committed);
        replayed = parsed.length - fresh.length;
        return fresh.flatMap((m) => m.ticks);
      },
      { stream, offset: batch[batch.length - 1].offset },
    );
    this.instruments.replayed.inc(replayed);
    this.instruments.offset.set({ stream }, batch[batch.length - 1].offset);
  }

  applyTicks(ticks: readonly Tick[]): Promise<void> {
    return this.commit(() => ticks);
  }

  private async commit(select: (committed: number) => readonly Tick[], checkpoint?: StreamCheckpoint): Promise<void> {
    const started = performance.now();
    let counted = 0;
    let skipped = 0;
    const stored = await this.deps.store.commit((committed): CandleBatch => {
      const ticks = select(committed);
      const { bars, skipped: noPrice } = aggregate(ticks, this.deps.mode);
      counted = ticks.length - noPrice;
      skipped = noPrice;
      return { bars, symbols: symbolSightings(ticks) };
    }, checkpoint);
    this.instruments.commitSeconds.observe((performance.now() - started) / 1000);
    this.instruments.ticks.inc(counted);
    this.instruments.skipped.inc(skipped);
    if (stored.length > 0) this.deps.onStored(stored);
  }

  private parse(batch: readonly StreamMessage[]): ParsedMessage[] {
    const out: ParsedMessage[] = [];
    let rejected = 0;
    let first: { offset: number; routingKey: string; error: string } | undefined;
    for (const msg of batch) {
      const result = parseTickMessage(msg.body, msg, { timeZone: this.deps.timeZone });
      if (result.rejects.length > 0) {
        rejected += result.rejects.length;
        for (const r of result.rejects) this.instruments.rejects.inc({ code: r.code });
        first ??= { offset: msg.offset, routingKey: msg.routingKey, error: describeRejects(result, 300) };
      }
      out.push({ offset: msg.offset, ticks: result.ticks });
    }
    // One line per batch, not per message: a broken feed must not flood the log.
    if (rejected > 0) this.deps.log.warn({ rejected, first }, 'ohlcv skipped invalid feed ticks (dead-lettered by the bridge)');
    return out;
  }
}

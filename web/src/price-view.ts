import { publishedTickSchema } from './tick.js';
import { topics } from '../../protocol/topics.js';
import type { TopicSubscriber } from './datafeed.js';
import { parsePayload } from './payload.js';
import { formatSpread } from './spread.js';

/**
 * The last price of the chosen symbol from `ticks/{SYMBOL}` (retained, so it shows at once), with
 * bid, ask and spread. Forex feeds carry no trade price (`last` is 0); the bid is then the price,
 * as it is for the candles (CANDLE_PRICE=bid).
 */
export class PriceView {
  private unsubscribe: (() => void) | undefined;
  private previous: number | undefined;

  constructor(
    private readonly el: { last: HTMLElement; bid: HTMLElement; ask: HTMLElement; spread: HTMLElement },
    private readonly subscriber: TopicSubscriber,
    private readonly onPrice: (symbol: string, text: string) => void,
  ) {}

  show(symbol: string, precision: number): void {
    this.unsubscribe?.();
    this.previous = undefined;
    for (const el of Object.values(this.el)) el.textContent = '—';
    this.el.last.dataset.direction = '';
    this.unsubscribe = this.subscriber.subscribe(topics.tick(symbol), (payload) => {
      const tick = parsePayload(publishedTickSchema, payload);
      if (!tick || tick.symbol !== symbol) return;
      const price = tick.last > 0 ? tick.last : tick.bid;
      const text = price.toFixed(precision);
      if (this.previous !== undefined && price !== this.previous) this.el.last.dataset.direction = price > this.previous ? 'up' : 'down';
      this.previous = price;
      this.el.last.textContent = text;
      this.el.bid.textContent = tick.bid.toFixed(precision);
      this.el.ask.textContent = tick.ask.toFixed(precision);
      this.el.spread.textContent = formatSpread(symbol, tick.bid, tick.ask, precision);
      this.onPrice(symbol, text);
    });
  }
}

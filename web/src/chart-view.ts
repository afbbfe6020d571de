import {
  CandlestickSeries,
  ColorType,
  CrosshairMode,
  HistogramSeries,
  createChart,
  type IChartApi,
  type ISeriesApi,
  type LogicalRange,
  type UTCTimestamp,
} from 'lightweight-charts';
import type { Resolution } from '../../protocol/names.js';
import { topics } from '../../protocol/topics.js';
import { candlePayloadSchema, classifyLiveBar, mergeBars, resolutionSeconds, type Bar } from './bars.js';
import type { TopicSubscriber } from './datafeed.js';
import { parsePayload } from './payload.js';
import type { UdfClient } from './udf.js';

/**
 * The candlestick chart with volume: history from UDF, older bars fetched as the user scrolls
 * back, the forming bar live from `candles/{SYMBOL}/{RES}`. Only the last bar is ever updated or
 * appended; a re-published older bar (a late tick corrected history) reloads the affected range.
 */

const PAGE_BARS = 300;
/** Fetch older bars when fewer than this many are left of the visible range. */
const LOAD_OLDER_MARGIN = 40;
const UP = '#26a69a';
const DOWN = '#ef5350';

export interface ChartSelection {
  symbol: string;
  resolution: Resolution;
  /** Decimals of the symbol's price (from its UDF `pricescale`). */
  precision: number;
}

export class ChartView {
  private readonly chart: IChartApi;
  private readonly candles: ISeriesApi<'Candlestick'>;
  private readonly volume: ISeriesApi<'Histogram'>;
  private bars: Bar[] = [];
  private selection: ChartSelection | undefined;
  /** Bumped on every selection change so answers for an earlier one are dropped. */
  private generation = 0;
  private unsubscribe: (() => void) | undefined;
  private hasOlder = false;
  private loadingOlder = false;
  private pendingCorrectionFrom: number | undefined;
  private correcting = false;
  private readonly legend: HTMLElement;
  /** The bar under the crosshair, while there is one; the legend shows the last bar otherwise. */
  private hoveredTime: number | undefined;

  constructor(
    container: HTMLElement,
    private readonly deps: { udf: UdfClient; subscriber: TopicSubscriber; onError: (message: string) => void },
  ) {
    this.chart = createChart(container, {
      autoSize: true,
      layout: {
        background: { type: ColorType.Solid, color: 'transparent' },
        textColor: '#8b96a8',
        fontFamily: 'Inter, system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
        fontSize: 11,
        attributionLogo: false,
      },
      grid: { vertLines: { color: 'rgba(139,150,168,0.06)' }, horzLines: { color: 'rgba(139,150,168,0.06)' } },
      crosshair: { mode: CrosshairMode.Normal },
      rightPriceScale: { borderColor: 'rgba(139,150,168,0.15)' },
      timeScale: { borderColor: 'rgba(139,150,168,0.15)', timeVisible: true, rightOffset: 4 },
    });
    this.candles = this.chart.addSeries(CandlestickSeries, {
      upColor: UP,
      downColor: DOWN,
      wickUpColor: UP,
      wickDownColor: DOWN,
      borderVisible: false,
    });
    // Room at the top for the legend, at the bottom for the volume histogram.
    this.candles.priceScale().applyOptions({ scaleMargins: { top: 0.14, bottom: 0.24 } });
    this.volume = this.chart.addSeries(HistogramSeries, {
      priceFormat: { type: 'volume' },
      priceScaleId: '',
      lastValueVisible: false,
      priceLineVisible: false,
    });
    this.volume.priceScale().applyOptions({ scaleMargins: { top: 0.82, bottom: 0 } });
    this.chart.timeScale().subscribeVisibleLogicalRangeChange((range) => this.onScroll(range));
    this.legend = document.createElement('div');
    this.legend.className = 'legend';
    container.append(this.legend);
    this.chart.subscribeCrosshairMove((param) => {
      this.hoveredTime = typeof param.time === 'number' ? param.time : undefined;
      this.renderLegend();
    });
  }

  /** Shows a symbol at a resolution: history first, then live bars. */
  async show(selection: ChartSelection): Promise<void> {
    const generation = ++this.generation;
    this.unsubscribe?.();
    this.selection = selection;
    this.bars = [];
    this.hasOlder = false;
    this.pendingCorrectionFrom = undefined;
    const minMove = 10 ** -selection.precision;
    this.candles.applyOptions({ priceFormat: { type: 'price', precision: selection.precision, minMove } });
    const step = resolutionSeconds(selection.resolution);
    this.chart.applyOptions({ timeScale: { timeVisible: step < 86_400, secondsVisible: step < 60 } });
    this.setData();
    this.renderLegend();

    // Subscribe before asking for history so no bar falls between the two; live bars that arrive
    // first wait for the history they extend.
    const early: Bar[] = [];
    let historyLoaded = false;
    this.unsubscribe = this.deps.subscriber.subscribe(topics.candle(selection.symbol, selection.resolution), (payload) => {
      const bar = parsePayload(candlePayloadSchema, payload);
      if (!bar || generation !== this.generation) return;
      if (historyLoaded) this.onLiveBar(bar);
      else early.push(bar);
    });

    try {
      const history = await this.deps.udf.history({
        symbol: selection.symbol,
        resolution: selection.resolution,
        from: 0,
        to: Math.floor(Date.now() / 1000) + step,
        countback: PAGE_BARS,
      });
      if (generation !== this.generation) return;
      this.bars = history.bars;
      this.hasOlder = history.bars.length >= PAGE_BARS;
      this.setData();
      this.chart.timeScale().scrollToRealTime();
    } catch (err) {
      if (generation === this.generation) this.deps.onError(`history: ${(err as Error).message}`);
    }
    // The user switched symbol or resolution meanwhile: these early bars belong to the old chart.
    if (generation !== this.generation) return;
    historyLoaded = true;
    for (const bar of early) this.onLiveBar(bar);
  }

  private onLiveBar(bar: Bar): void {
    const action = classifyLiveBar(this.bars.at(-1)?.time, bar);
    if (action === 'correction') {
      this.reloadFrom(bar.time);
      return;
    }
    if (action === 'append') this.bars.push(bar);
    else this.bars[this.bars.length - 1] = bar;
    this.candles.update(toCandle(bar));
    this.volume.update(toVolume(bar));
    if (this.hoveredTime === undefined) this.renderLegend();
  }

  /** History changed at `from` or later: fetch that range again and redraw. */
  private reloadFrom(from: number): void {
    this.pendingCorrectionFrom = Math.min(this.pendingCorrectionFrom ?? from, from);
    if (this.correcting) return;
    this.correcting = true;
    void (async () => {
      while (this.pendingCorrectionFrom !== undefined && this.selection) {
        const start = this.pendingCorrectionFrom;
        this.pendingCorrectionFrom = undefined;
        const { symbol, resolution } = this.selection;
        const generation = this.generation;
        try {
          const last = this.bars.at(-1)?.time ?? start;
          const history = await this.deps.udf.history({ symbol, resolution, from: start, to: last + resolutionSeconds(resolution) });
          if (generation !== this.generation) continue;
          // The live bar is fresher than any history answer; everything before it is replaced.
          const live = this.bars.at(-1)?.time ?? Infinity;
          this.bars = mergeBars(
            this.bars,
            history.bars.filter((b) => b.time < live),
          );
          this.setData();
        } catch (err) {
          this.deps.onError(`history: ${(err as Error).message}`);
        }
      }
      this.correcting = false;
    })();
  }

  private onScroll(range: LogicalRange | null): void {
    if (!range || range.from > LOAD_OLDER_MARGIN || !this.hasOlder || this.loadingOlder || !this.selection) return;
    const oldest = this.bars[0];
    if (!oldest) return;
    this.loadingOlder = true;
    const { symbol, resolution } = this.selection;
    const generation = this.generation;
    void this.deps.udf
      .history({ symbol, resolution, from: 0, to: oldest.time, countback: PAGE_BARS })
      .then(
        (history) => {
          if (generation !== this.generation) return;
          this.hasOlder = history.bars.length >= PAGE_BARS;
          if (history.bars.length === 0) return;
          this.bars = mergeBars(history.bars, this.bars);
          this.setData();
        },
        (err: Error) => this.deps.onError(`history: ${err.message}`),
      )
      .finally(() => {
        this.loadingOlder = false;
      });
  }

  private setData(): void {
    this.candles.setData(this.bars.map(toCandle));
    this.volume.setData(this.bars.map(toVolume));
    this.renderLegend();
  }

  /** Symbol, resolution and the OHLCV of the hovered (or last) bar, above the chart. */
  private renderLegend(): void {
    const selection = this.selection;
    if (!selection) return;
    const bar = this.hoveredTime === undefined ? this.bars.at(-1) : barAt(this.bars, this.hoveredTime);
    const title = document.createElement('strong');
    title.textContent = `${selection.symbol} · ${RESOLUTION_LABELS[selection.resolution]}`;
    const parts: Node[] = [title];
    if (bar) {
      const p = (v: number) => v.toFixed(selection.precision);
      const values = document.createElement('span');
      values.className = bar.close >= bar.open ? 'up' : 'down';
      values.textContent = `O ${p(bar.open)}  H ${p(bar.high)}  L ${p(bar.low)}  C ${p(bar.close)}  V ${bar.volume}`;
      parts.push(values);
    }
    this.legend.replaceChildren(...parts);
  }

  /**
   * After the MQTT link was down (or re-opened for a sign-in), bars may have closed unseen: reload
   * history for what is shown and resume live bars from there.
   */
  resync(): void {
    if (this.selection) void this.show(this.selection);
  }
}

export const RESOLUTION_LABELS: Record<Resolution, string> = {
  '1S': '1s',
  '1': '1m',
  '5': '5m',
  '15': '15m',
  '30': '30m',
  '60': '1H',
  '240': '4H',
  '1D': '1D',
  '1W': '1W',
  '1M': '1M',
};

/** The bar opening at `time` (bars ascending), by binary search. */
function barAt(bars: readonly Bar[], time: number): Bar | undefined {
  let lo = 0;
  let hi = bars.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const t = bars[mid].time;
    if (t === time) return bars[mid];
    if (t < time) lo = mid + 1;
    else hi = mid - 1;
  }
  return undefined;
}

function toCandle(bar: Bar) {
  return { time: bar.time as UTCTimestamp, open: bar.open, high: bar.high, low: bar.low, close: bar.close };
}

function toVolume(bar: Bar) {
  return { time: bar.time as UTCTimestamp, value: bar.volume, color: bar.close >= bar.open ? 'rgba(38,166,154,0.35)' : 'rgba(239,83,80,0.35)' };
}

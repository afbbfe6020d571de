import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CandleMode } from './aggregate.js';
import { expectedSeries } from './testing/compare.js';
import { ENGINES, type ReopenableDatabase } from './testing/engines.js';
import { publishFeed, waitFor } from './testing/feed.js';
import { declareTestStream, seriesOverUdf, startPipeline, testStreamNames, type Pipeline } from './testing/pipeline.js';
import { closeConnectionNamed } from '../bridges/testing/rabbitmq.js';
import { sampleTicks, shuffled } from './testing/ticks.js';

const MODE: CandleMode = { price: 'bid', volume: 'ticks' };
const SYMBOLS = ['EURUSD', 'XAUUSD'];

/**
 * The acceptance: shuffled historical ticks published through RabbitMQ in every body form
 * give, over UDF, exactly the reference bars at every resolution, before and after a restart, and
 * late ticks published after the restart still land exactly, even when RabbitMQ has dropped the
 * aggregator's connection in between.
 */
describe.each(ENGINES)('RabbitMQ -> aggregator -> $name -> UDF', (engine) => {
  const names = testStreamNames();
  let handle: ReopenableDatabase;
  let rabbit: Awaited<ReturnType<typeof declareTestStream>>;
  let pipeline: Pipeline;

  beforeAll(async () => {
    handle = await engine.create();
    rabbit = await declareTestStream(names);
  });
  afterAll(async () => {
    await pipeline?.stop();
    await rabbit?.remove();
    await handle?.cleanup();
  });

  it('serves exactly the reference bars, before and after a restart', async () => {
    const all = sampleTicks(1600, 42, SYMBOLS);
    pipeline = await startPipeline(handle.db, names, MODE);
    const first = await publishFeed(rabbit.channel, names.exchange, shuffled(all.slice(0, 1000), 1), 11);
    await waitFor(async () => (await pipeline.store.committedOffset(names.stream)) === first.messages - 1);
    expect(await seriesOverUdf(pipeline.app, SYMBOLS)).toEqual(expectedSeries(first.expected, MODE));

    await pipeline.stop();
    const connectionName = `ohlcv-test-${names.stream}`;
    pipeline = await startPipeline(await handle.reopen(), names, MODE, 100, connectionName);
    expect(await seriesOverUdf(pipeline.app, SYMBOLS)).toEqual(expectedSeries(first.expected, MODE));

    // Late and out-of-order ticks for the same buckets after the restart.
    // RabbitMQ drops the aggregator's connection; it must reconnect and resume after its offset.
    await closeConnectionNamed(connectionName);
    const second = await publishFeed(rabbit.channel, names.exchange, shuffled(all.slice(1000), 2), 12);
    const total = first.messages + second.messages;
    await waitFor(async () => (await pipeline.store.committedOffset(names.stream)) === total - 1);
    expect(await seriesOverUdf(pipeline.app, SYMBOLS)).toEqual(expectedSeries([...first.expected, ...second.expected], MODE));
  });
});

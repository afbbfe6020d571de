// bench:storm: a connection storm (a dead node's clients all reconnecting to this one) while the
// node's existing clients receive ticks.
import { freshDatabase, loadChildren, log, mb, metricValue, num, openSpread, opt, secret, sleep, startBroker, workload } from './harness.mjs';
import { symbolName } from './plan.mjs';

const fmtMs = (v) => (Number.isFinite(v) ? v.toFixed(1) : '-');

export async function runStorm(pinned) {
  const storm = num('storm');
  const existing = num('existing');
  const perAddress = num('per-address');
  const database = opt.pglite ? undefined : await freshDatabase();
  const broker = await startBroker(pinned, database);
  // The existing clients and the feed share a process (the feed stamps ticks on its clock); the storm has its own.
  const [ticks, ...stormChildren] = loadChildren(1 + Math.ceil(storm / num('per-child')));
  const common = { port: broker.ports.mqtt, secret, perAddress, timeoutMs: num('timeout') };
  try {
    const before = await ticks.call('open', {
      ...workload,
      ...common,
      kind: 'mqtt',
      stamps: true,
      prefix: 'old',
      first: 0,
      addressBase: 0,
      count: existing,
      inFlight: 100,
    });
    log(`${before.outcomes.ok ?? 0} existing clients connected`);
    const symbols = Array.from({ length: workload.symbols }, (_, k) => symbolName(workload.runId, k));
    await ticks.call('startFeed', { port: broker.ports.mqtt, secret, symbols, rate: num('tick-rate'), prefix: 'feed' });
    await sleep(3000);
    const quietFrom = Date.now();
    await sleep(3000);
    const memoryBefore = await broker.probe('memory');
    // Every storm client starts at the same instant, tokens already signed.
    const startAt = Date.now() + 3000;
    const result = await openSpread(stormChildren, storm, {
      ...common,
      kind: 'mqtt',
      prefix: 'storm',
      first: existing,
      addressBase: Math.ceil(existing / perAddress) + 1,
      inFlight: storm,
      startAt,
    });
    const stormEnd = startAt + result.lastMs;
    await sleep(2000);
    const quiet = await ticks.call('latency', { from: quietFrom, to: startAt });
    const during = await ticks.call('latency', { from: startAt, to: Math.max(stormEnd, startAt + 1000) });
    const memoryAfter = await broker.probe('memory');
    const limited = await metricValue(broker.ports.http, 'mqtt_connections_rate_limited_total');
    report({ storm, existing, result, quiet, during, memoryBefore, memoryAfter, limited });
  } finally {
    for (const c of [ticks, ...stormChildren]) c.child.kill();
    await broker.stop();
    await database?.drop();
  }
}

function report({ storm, existing, result, quiet, during, memoryBefore, memoryAfter, limited }) {
  const o = result.outcomes;
  console.log(
    `\nstorm: ${storm} JWT clients (${num('symbols-per-client')} tick filters + 1 chat room each, ${num('per-address')} per loopback address) at once; ` +
      `${existing} existing clients receiving ${num('tick-rate')} ticks/s over ${num('symbols')} symbols${opt.redis ? `; cluster mode (${opt.redis})` : ''}\n`,
  );
  console.log('| measure | value |');
  console.log('| --- | --- |');
  console.log(`| CONNACK + SUBACK for all | ${(result.lastMs / 1000).toFixed(2)} s (${o.ok ?? 0} of ${storm}) |`);
  console.log(`| per client p50 / p99 | ${fmtMs(result.p50Ms)} / ${fmtMs(result.p99Ms)} ms |`);
  for (const [k, ph] of result.phases.entries()) {
    console.log(
      `| load process ${k + 1}: TCP connected p50 / p99, CONNACK p50 / p99 | ${fmtMs(ph.tcp.p50)} / ${fmtMs(ph.tcp.p99)} ms, ${fmtMs(ph.connack.p50)} / ${fmtMs(ph.connack.p99)} ms |`,
    );
  }
  console.log(
    `| timeouts (${num('timeout') / 1000} s) / refused / errors / closed | ${o.timeout ?? 0} / ${o.refused ?? 0} / ${o.error ?? 0} / ${o.closed ?? 0} |`,
  );
  console.log(`| connections refused by the per-address limit | ${limited} |`);
  console.log(
    `| tick latency before the storm p50 / p99 / max | ${fmtMs(quiet.p50)} / ${fmtMs(quiet.p99)} / ${fmtMs(quiet.p100)} ms (${quiet.samples} ticks) |`,
  );
  console.log(
    `| tick latency during the storm p50 / p99 / max | ${fmtMs(during.p50)} / ${fmtMs(during.p99)} / ${fmtMs(during.p100)} ms (${during.samples} ticks) |`,
  );
  console.log(
    `| broker heap before → after | ${mb(memoryBefore.heapUsed)} → ${mb(memoryAfter.heapUsed)} MB, RSS ${mb(memoryBefore.rss)} → ${mb(memoryAfter.rss)} MB |`,
  );
}

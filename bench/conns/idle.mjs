// bench:idle: what one idle subscribed connection costs, in ticktalk, Mosquitto and a bare Node server.
import {
  freshDatabase,
  kb,
  loadChildren,
  log,
  mb,
  mosquittoPid,
  num,
  openSpread,
  opt,
  secret,
  sleep,
  startBare,
  startBroker,
  vmRss,
} from './harness.mjs';

/**
 * One server's figure: its memory before, `clients` connections opened and left idle for the settle
 * time, its memory again (after forced full GCs where it is a Node process), then every connection closed.
 */
async function measure(name, server, children, { addressBase, kind }) {
  const clients = num('clients');
  const plan = {
    kind,
    port: server.port,
    secret: kind === 'mqtt' ? secret : undefined,
    perAddress: num('per-address'),
    inFlight: 200,
    timeoutMs: num('timeout'),
  };
  // A few connections first: one-off allocations of the first ones (caches, lazy modules) are not per connection.
  await openSpread(children.slice(0, 1), 100, { ...plan, prefix: `${name}-warm`, first: 0, addressBase });
  await Promise.all(children.map((c) => c.call('closeAll')));
  await sleep(1000);
  const before = await server.memory();
  const snapshot = async (when) => {
    if (opt.snapshot && server.snapshot) log(`heap snapshot: ${(await server.snapshot(`${opt.snapshot}.${name.split(' ')[0]}.${when}`)).path}`);
  };
  await snapshot('before');
  const opened = await openSpread(children, clients, {
    ...plan,
    prefix: name,
    first: 0,
    addressBase: addressBase + Math.ceil(100 / plan.perAddress),
  });
  await sleep(num('settle'));
  const after = await server.memory();
  await snapshot('after');
  await Promise.all(children.map((c) => c.call('closeAll')));
  await sleep(2000);
  const n = opened.ok;
  const per = (field) => (after[field] === undefined ? '-' : kb((after[field] - before[field]) / n));
  log(`${name}: ${n} of ${clients} connected (${JSON.stringify(opened.outcomes)}) in ${(opened.lastMs / 1000).toFixed(1)} s`);
  return { name, n, before, after, rss: per('rss'), heap: per('heapUsed'), external: per('external') };
}

function nodeServer(proc, extra) {
  return {
    ...extra,
    port: proc.port,
    memory: () => proc.probe('memory'),
    snapshot: (path) => proc.probe('snapshot', { path }),
  };
}

export async function runIdle(pinned) {
  const only = new Set(opt.only.split(','));
  const clients = num('clients');
  const children = loadChildren(Math.ceil(clients / num('per-child')));
  const rows = [];
  // Every server gets addresses of its own, so no address meets the broker's connect limit twice.
  const addresses = Math.ceil((clients + 100) / num('per-address')) + 2;
  if (only.has('ticktalk')) {
    const database = opt.pglite ? undefined : await freshDatabase();
    const broker = await startBroker(pinned, database);
    try {
      await sleep(2000);
      rows.push(await measure('ticktalk', nodeServer({ ...broker, port: broker.ports.mqtt }), children, { addressBase: 0, kind: 'mqtt' }));
    } finally {
      await broker.stop();
      await database?.drop();
    }
  }
  const mosquitto = mosquittoPid();
  if (only.has('mosquitto') && mosquitto) {
    const memory = async () => ({ rss: vmRss(mosquitto) });
    rows.push(await measure('Mosquitto', { port: 1883, memory }, children, { addressBase: addresses, kind: 'mqtt' }));
  }
  if (only.has('bare')) {
    const bare = await startBare();
    rows.push(await measure('bare Node socket', nodeServer(bare), children, { addressBase: 2 * addresses, kind: 'raw' }));
    bare.stop();
  }
  for (const c of children) c.child.kill();
  console.log(`\n${clients} idle connections (MQTT: ${num('symbols-per-client')} tick filters + 1 chat room each, JWT; bare: TCP only)\n`);
  console.log('| server | connected | RSS before → after | RSS per connection | V8 heap per connection | external per connection |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const r of rows) {
    console.log(`| ${r.name} | ${r.n} | ${mb(r.before.rss)} → ${mb(r.after.rss)} MB | ${r.rss} KB | ${r.heap} KB | ${r.external} KB |`);
  }
}

// npm run bench:idle  [-- --clients 10000 --only ticktalk,mosquitto,bare --snapshot /tmp/conns.heapsnapshot]
// npm run bench:storm [-- --storm 12000 --existing 1000 --tick-rate 300 --redis redis://127.0.0.1:6379/15]
// Memory per idle subscribed connection (ticktalk, Mosquitto, a bare Node server) and connection
// storms (12,000 JWT clients at once while existing clients receive ticks). See bench/README.md.
import { hasTaskset, pinSelf } from '../ticks/broker.mjs';
import { log, opt, runId } from './harness.mjs';
import { runIdle } from './idle.mjs';
import { runStorm } from './storm.mjs';

for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => process.exit(130));
const pinned = !opt.unpinned && hasTaskset();
if (pinned) pinSelf(1);
log(`${pinned ? 'ticktalk pinned to core 0, load generators to core 1' : 'nothing pinned'}; run ${runId}`);
await (opt.mode === 'storm' ? runStorm(pinned) : runIdle(pinned));
process.exit(0);

// The market feed: one `feed` connection publishing ticks at a steady rate, symbols drawn by Zipf
// popularity, each stamped with its send time (time_msc) so clients measure feed → receive.
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { clearInterval, setInterval } from 'node:timers';
import { connectFrame, publishFrame } from '../ticks/mqtt-wire.mjs';
import { draw, random, symbolName, zipf } from './workload.mjs';

const TICK_INTERVAL_MS = 5;

export class Feed {
  static async open({ port, token, runId, symbols, zipfS }) {
    const socket = net.connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    socket.on('error', () => {});
    await new Promise((resolve, reject) => (socket.once('connect', resolve), socket.once('error', reject)));
    const connack = new Promise((resolve) => socket.once('data', resolve));
    socket.write(connectFrame({ clientId: `${runId.toLowerCase()}-feed`, username: 'feed', password: token, keepalive: 300 }));
    const ack = await connack;
    if (ack[3] !== 0) throw new Error(`feed: CONNACK return code ${ack[3]}`);
    socket.on('data', () => {});
    return new Feed(socket, runId, zipf(symbols, zipfS));
  }

  constructor(socket, runId, popularity) {
    this.socket = socket;
    this.runId = runId;
    this.popularity = popularity;
    this.sendTimes = [];
    this.timer = undefined;
  }

  start(perSec) {
    const rnd = random(1);
    const started = performance.now();
    let n = 0;
    this.timer = setInterval(() => {
      const due = Math.floor(((performance.now() - started) / 1000) * perSec);
      const frames = [];
      for (; n < due; n++) frames.push(this.tickFrame(draw(this.popularity, rnd), n));
      if (frames.length > 0) this.socket.write(Buffer.concat(frames));
      this.sendTimes.push([performance.now(), n]);
    }, TICK_INTERVAL_MS);
  }

  tickFrame(rank, n) {
    const symbol = symbolName(this.runId, rank);
    const payload = `{"symbol":"${symbol}","time_msc":${Date.now()},"bid":1.08312,"ask":1.08325,"last":0,"volume":${n},"flags":6}`;
    return publishFrame(`ticks/${symbol}`, payload);
  }

  /** Ticks sent per second from `t0` (performance.now()) until the last send. */
  sentWhile(t0) {
    const after = this.sendTimes.filter(([t]) => t >= t0);
    if (after.length < 2) return NaN;
    const [first, last] = [after[0], after[after.length - 1]];
    return (last[1] - first[1]) / ((last[0] - first[0]) / 1000);
  }

  stop() {
    clearInterval(this.timer);
    this.socket.destroy();
  }
}

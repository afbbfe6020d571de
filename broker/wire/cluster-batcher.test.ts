import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { RedisConnections } from '../../platform/redis.js';
import { ClusterBatcher } from './cluster-batcher.js';
import { frameLength, publishFrame, readPublish } from './mqtt-frame.js';

/** Pub/sub only (nothing is stored), on a channel of this run's own. */
const channel = `ticktalk-test:ticks:${randomBytes(4).toString('hex')}`;
const log = pino({ level: 'silent' });

function split(frames: Buffer): string[] {
  const out: string[] = [];
  let at = 0;
  while (at < frames.length) {
    const frame = frames.subarray(at, at + frameLength(frames.subarray(at)));
    out.push(readPublish(frame)!.payload.toString());
    at += frame.length;
  }
  return out;
}

describe('ClusterBatcher over Redis', () => {
  const received: Record<string, string[][]> = { a: [], b: [] };
  let a: ClusterBatcher;
  let b: ClusterBatcher;
  beforeAll(async () => {
    const start = async (nodeId: 'a' | 'b', maxBatchBytes: number) =>
      new ClusterBatcher(await ClusterBatcher.connect(new RedisConnections('redis://127.0.0.1:6379', log), channel), {
        nodeId,
        intervalMs: 60_000,
        maxBatchBytes,
        log,
        onRemoteFrames: (frames) => received[nodeId].push(split(frames)),
      });
    a = await start('a', 200);
    b = await start('b', 1 << 20);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  it('carries every tick of an interval in one message to the other nodes only', async () => {
    b.add('ticks/X', publishFrame('ticks/X', 'x1', false));
    b.add('ticks/Y', publishFrame('ticks/Y', 'y1', false));
    b.add('ticks/X', publishFrame('ticks/X', 'x2', false));
    b.flush();
    await expect.poll(() => received.a).toEqual([['x1', 'y1', 'x2']]);
    expect(received.b).toEqual([]);
  });

  it('keeps the latest tick per topic once a batch is over its byte budget', async () => {
    for (let i = 0; i < 50; i++) a.add(`ticks/S${i % 3}`, publishFrame(`ticks/S${i % 3}`, `v${i}`, false));
    a.flush();
    await expect.poll(() => received.b).toEqual([['v48', 'v49', 'v47']]);
  });
});

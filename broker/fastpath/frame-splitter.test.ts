import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { FrameSplitter, HeldBytesOverflowError } from './frame-splitter.js';
import { publishFrame } from './mqtt-frame.js';

const connect = Buffer.from([0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3c, 0x00, 0x00]);
const ping = Buffer.from([0xc0, 0x00]);
const withQos = (first: number) => Buffer.concat([Buffer.from([first, 0x0c, 0x00, 0x08]), Buffer.from('ticks/EU'), Buffer.from([0x00, 0x01])]);
const qos1Tick = withQos(0x32);
const qos2Tick = withQos(0x34);
const tick = (n: number) => publishFrame('ticks/EURUSD', `{"n":${n}}`, false);
const chat = publishFrame('chat/rooms/lobby', 'x'.repeat(300), false);
const bigTick = publishFrame('ticks/EURUSD', 'y'.repeat(5000), false);

function run(chunks: Buffer[], capture: boolean) {
  const passed: Buffer[] = [];
  const captured: Buffer[] = [];
  const s = new FrameSplitter(
    { passthrough: (b) => passed.push(Buffer.from(b)), captured: (f) => captured.push(Buffer.from(f)) },
    { prefix: 'ticks/', captureLimit: 4096, maxHeldBytes: 1 << 20 },
  );
  for (const c of chunks) s.feed(c);
  const heldBeforeRelease = s.isHolding;
  s.release(capture);
  return { passed: Buffer.concat(passed), captured, heldBeforeRelease };
}

function chunked(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const p of [...points, bytes.length]) {
    if (p > from) out.push(bytes.subarray(from, p));
    from = p;
  }
  return out;
}

describe('FrameSplitter', () => {
  const stream = [connect, tick(1), ping, chat, tick(2), qos1Tick, qos2Tick, bigTick, tick(3)];
  const wire = Buffer.concat(stream);

  it('takes QoS 0 and 1 tick publishes of a released feed and passes everything else in order, however the bytes are cut', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 12 }), (cuts) => {
        const { passed, captured, heldBeforeRelease } = run(chunked(wire, cuts), true);
        expect(heldBeforeRelease).toBe(true);
        expect(passed.equals(Buffer.concat([connect, ping, chat, qos2Tick, bigTick]))).toBe(true);
        expect(captured.map((f) => f.toString('latin1'))).toEqual([tick(1), tick(2), qos1Tick, tick(3)].map((f) => f.toString('latin1')));
      }),
    );
  });

  it('passes everything through unchanged for a client that may not publish ticks', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 12 }), (cuts) => {
        const { passed, captured } = run(chunked(wire, cuts), false);
        expect(passed.equals(wire)).toBe(true);
        expect(captured).toEqual([]);
      }),
    );
  });

  it('bounds what it holds while CONNECT is being decided', () => {
    const s = new FrameSplitter({ passthrough: () => {}, captured: () => {} }, { prefix: 'ticks/', captureLimit: 4096, maxHeldBytes: 100 });
    s.feed(connect);
    expect(() => s.feed(Buffer.alloc(200, 0xc0))).toThrow(HeldBytesOverflowError);
  });
});

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { FrameSplitter, HeldBytesOverflowError, type CaptureRule } from './frame-splitter.js';
import { publishFrame } from './mqtt-frame.js';

const connect = Buffer.from([0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3c, 0x00, 0x00]);
const ping = Buffer.from([0xc0, 0x00]);
const withQos = (first: number) => Buffer.concat([Buffer.from([first, 0x0c, 0x00, 0x08]), Buffer.from('ticks/EU'), Buffer.from([0x00, 0x01])]);
const qos1Tick = withQos(0x32);
const qos2Tick = withQos(0x34);
const tick = (n: number) => publishFrame('ticks/EURUSD', `{"n":${n}}`, false);
const chat = publishFrame('chat/rooms/lobby', 'x'.repeat(300), false);
const bigTick = publishFrame('ticks/EURUSD', 'y'.repeat(5000), false);
/** A QoS 1 chat publish (packet id 9) of `size` payload bytes. */
const chatQos1 = (size: number) => {
  const topic = Buffer.from('chat/rooms/lobby');
  const body = Buffer.concat([Buffer.from([0, topic.length]), topic, Buffer.from([0, 9]), Buffer.alloc(size, 0x61)]);
  const length = body.length < 128 ? [body.length] : [(body.length % 128) | 0x80, body.length >> 7];
  return Buffer.concat([Buffer.from([0x32, ...length]), body]);
};

type Kind = 'tick' | 'chat' | 'ack';
const TICKS: CaptureRule<Kind> = { kind: 'tick', prefix: 'ticks/', qos: [0, 1], maxFrame: 4096 };
const CHAT: CaptureRule<Kind> = { kind: 'chat', prefix: 'chat/', qos: [1], maxFrame: 1000 };

function run(chunks: Buffer[], rules: CaptureRule<Kind>[], ackKind?: Kind) {
  const passed: Buffer[] = [];
  const captured: Buffer[] = [];
  const kinds: Kind[] = [];
  const s = new FrameSplitter<Kind>(
    {
      passthrough: (b) => passed.push(Buffer.from(b)),
      captured: (f, kind) => {
        captured.push(Buffer.from(f));
        kinds.push(kind);
      },
    },
    { maxHeldBytes: 1 << 20 },
  );
  for (const c of chunks) s.feed(c);
  const heldBeforeRelease = s.isHolding;
  s.release(rules, ackKind);
  return { passed: Buffer.concat(passed), captured, kinds, heldBeforeRelease };
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
        const { passed, captured, heldBeforeRelease } = run(chunked(wire, cuts), [TICKS]);
        expect(heldBeforeRelease).toBe(true);
        expect(passed.equals(Buffer.concat([connect, ping, chat, qos2Tick, bigTick]))).toBe(true);
        expect(captured.map((f) => f.toString('latin1'))).toEqual([tick(1), tick(2), qos1Tick, tick(3)].map((f) => f.toString('latin1')));
      }),
    );
  });

  it('passes everything through unchanged for a client that may not publish ticks', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 12 }), (cuts) => {
        const { passed, captured } = run(chunked(wire, cuts), []);
        expect(passed.equals(wire)).toBe(true);
        expect(captured).toEqual([]);
      }),
    );
  });

  it("takes each rule's publishes (its QoS levels, up to its frame size) and passes the rest in order", () => {
    const smallChat = chatQos1(300);
    const bigChat = chatQos1(2000);
    const mixed = Buffer.concat([connect, smallChat, tick(1), chat, bigChat, qos1Tick, qos2Tick, bigTick, smallChat]);
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 12 }), (cuts) => {
        const { passed, captured, kinds } = run(chunked(mixed, cuts), [TICKS, CHAT]);
        expect(passed.equals(Buffer.concat([connect, chat, bigChat, qos2Tick, bigTick]))).toBe(true);
        expect(captured.map((f) => f.toString('latin1'))).toEqual([smallChat, tick(1), qos1Tick, smallChat].map((f) => f.toString('latin1')));
        expect(kinds).toEqual(['chat', 'tick', 'tick', 'chat']);
      }),
    );
  });

  it('takes PUBACKs when asked, and only well-formed ones', () => {
    const puback = Buffer.from([0x40, 0x02, 0x00, 0x07]);
    const oddPuback = Buffer.from([0x40, 0x03, 0x00, 0x07, 0x00]);
    const acks = Buffer.concat([connect, puback, tick(1), oddPuback, puback]);
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 8 }), (cuts) => {
        const taken = run(chunked(acks, cuts), [TICKS], 'ack');
        expect(taken.passed.equals(Buffer.concat([connect, oddPuback]))).toBe(true);
        expect(taken.kinds).toEqual(['ack', 'tick', 'ack']);
        const left = run(chunked(acks, cuts), []);
        expect(left.passed.equals(acks)).toBe(true);
      }),
    );
  });

  it('bounds what it holds while CONNECT is being decided', () => {
    const s = new FrameSplitter({ passthrough: () => {}, captured: () => {} }, { maxHeldBytes: 100 });
    s.feed(connect);
    expect(() => s.feed(Buffer.alloc(200, 0xc0))).toThrow(HeldBytesOverflowError);
  });
});

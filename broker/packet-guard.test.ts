import { describe, expect, it } from 'vitest';
import { FrameScanner, PacketTooLargeError } from './packet-guard.js';

const frame = (type: number, body: number) => {
  const len: number[] = [];
  let n = body;
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    len.push(b);
  } while (n > 0);
  return Buffer.concat([Buffer.from([type << 4, ...len]), Buffer.alloc(body)]);
};

describe('FrameScanner', () => {
  it('follows frames split anywhere across chunks', () => {
    const s = new FrameScanner(1000);
    const bytes = Buffer.concat([frame(3, 10), frame(12, 0), frame(3, 300)]);
    for (let i = 0; i < bytes.length; i += 7) s.feed(bytes.subarray(i, i + 7));
  });
  it('refuses a declared length over the limit before the body arrives', () => {
    const s = new FrameScanner(1000);
    expect(() => s.feed(frame(3, 2000).subarray(0, 3))).toThrow(PacketTooLargeError);
  });
  it('refuses reserved packet types and over-long length fields', () => {
    expect(() => new FrameScanner(1000).feed(Buffer.from([0x00, 0x00]))).toThrow(/reserved/);
    expect(() => new FrameScanner(1e9).feed(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x7f]))).toThrow(/4 bytes/);
  });
});

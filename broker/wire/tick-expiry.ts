/**
 * When ticks published with an MQTT 5 Message Expiry Interval expire (ms since the epoch), keyed by
 * the frame the wire layer built for them: the same bytes go to every subscriber's queue, and an
 * MQTT 5 subscriber's encoder looks its frames up as they are written (broker/mqtt5/encoder.ts), so
 * a tick that waited past its expiry (a backed-up subscriber's conflated tick) is not sent and one
 * sent carries the interval left. A joined batch (no write window) maps to each of its frames'
 * expiries in order. Ticks without an expiry (all of MQTT 3.1.1's) are never entered: the map stays
 * empty and `active` false, which is all the 3.1.1 path ever checks.
 */
const deadlines = new WeakMap<Buffer, number | readonly (number | undefined)[]>();
let entered = 0;

export const tickExpiry = {
  /** True once any tick with an expiry was seen (a WeakMap cannot say whether it is empty). */
  get active(): boolean {
    return entered > 0;
  },
  set(frame: Buffer, deadline: number | readonly (number | undefined)[]): void {
    deadlines.set(frame, deadline);
    entered++;
  },
  /** The frame's expiry, or each joined frame's in order; undefined when none of them has one. */
  of(frame: Buffer): number | readonly (number | undefined)[] | undefined {
    return entered === 0 ? undefined : deadlines.get(frame);
  },
};

/** The expiry of each frame in a joined batch, or undefined when none has one. */
export function batchDeadlines(frames: readonly Buffer[]): (number | undefined)[] | undefined {
  let any = false;
  const each = frames.map((frame) => {
    const deadline = deadlines.get(frame);
    if (typeof deadline === 'number') any = true;
    return typeof deadline === 'number' ? deadline : undefined;
  });
  return any ? each : undefined;
}

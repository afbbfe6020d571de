import { tickPayloadSchema, type Tick } from '../../protocol/tick.js';
import { checkTickPayload } from '../../protocol/tick-check.js';
import type { PublishView } from './mqtt-frame.js';

export type TickRejection = 'frame' | 'json' | 'schema' | 'symbol-mismatch';

export type IntakeResult = { ok: true; tick: Tick } | { ok: false; reason: TickRejection; message: string };

const TOPIC_ROOT = 'ticks/';

/**
 * Validates a tick a `feed` client published on `ticks/{SYMBOL}` (pure). The cost is paid once per
 * incoming tick, on the publisher's side of the fan-out, never per subscriber. The wire layer tries
 * CanonicalTickReader first; this is the general path. The hand check decides; the schema is asked
 * only for the wording of a refusal (and has the last word should the two ever disagree).
 */
export function readFeedTick(publish: PublishView): IntakeResult {
  if (!publish.topic.startsWith(TOPIC_ROOT)) return { ok: false, reason: 'frame', message: 'not a publish on ticks/' };
  let body: unknown;
  try {
    body = JSON.parse(publish.payload.toString('utf8'));
  } catch {
    return { ok: false, reason: 'json', message: `payload on ${publish.topic} is not JSON` };
  }
  const checked = checkTickPayload(body);
  const parsed = checked ? { success: true as const, data: checked } : tickPayloadSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { ok: false, reason: 'schema', message: `${issue?.path.join('.') || 'payload'}: ${issue?.message ?? 'invalid'}` };
  }
  const symbol = publish.topic.slice(TOPIC_ROOT.length);
  if (parsed.data.symbol !== symbol) {
    return { ok: false, reason: 'symbol-mismatch', message: `payload symbol ${parsed.data.symbol} on ${publish.topic}` };
  }
  return { ok: true, tick: parsed.data };
}

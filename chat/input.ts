import { z } from 'zod';
import { ROOM_PATTERN, USER_PATTERN } from '../protocol/names.js';
import { ChatError } from './errors.js';

/** What a client may put in a chat publish; everything else about the message is stamped. */
export interface ChatInput {
  text: string;
  ref?: string;
}

export const REF_MAX = 64;

/**
 * PostgreSQL text cannot hold U+0000, and its JSON parser refuses a lone surrogate (which a JSON
 * payload can spell as `\ud800`): one such message would fail its whole group-commit batch.
 */
const noNul = (field: string) => [(s: string) => !s.includes('\u0000'), `${field} must not contain U+0000`] as const;
const wellFormed = (field: string) => [(s: string) => s.isWellFormed(), `${field} must be well-formed Unicode (no lone surrogates)`] as const;

export function textSchema(maxLength: number) {
  return z
    .string({ error: 'text must be a string' })
    .refine((t) => t.trim().length > 0, 'text must not be empty')
    .refine(...noNul('text'))
    .refine(...wellFormed('text'))
    .refine((t) => t.length <= maxLength || [...t].length <= maxLength, `text must be at most ${maxLength} characters`);
}

export const refSchema = z
  .string()
  .min(1, 'ref must not be empty')
  .max(REF_MAX, `ref must be at most ${REF_MAX} characters`)
  .refine(...noNul('ref'))
  .refine(...wellFormed('ref'));

/** A person's or bot's display name, as stamped on their messages. */
export const displayNameSchema = z
  .string()
  .trim()
  .min(1, 'name must not be empty')
  .max(64, 'name must be at most 64 characters')
  .refine(...noNul('name'))
  .refine(...wellFormed('name'));

/** Build once per limit and keep: constructing a zod schema costs far more than running it. */
export function chatInputSchema(maxLength: number): z.ZodType<ChatInput> {
  // Unknown keys are dropped, so a client cannot smuggle `user`, `seq` or `ts` into a stamped message.
  return z.object({ text: textSchema(maxLength), ref: refSchema.optional() });
}

/** Parses a raw MQTT payload; throws ChatError('invalid_payload') saying what is wrong. */
export function parseChatPayload(payload: Buffer, schema: z.ZodType<ChatInput>): ChatInput {
  let json: unknown;
  try {
    json = JSON.parse(payload.toString('utf8'));
  } catch {
    throw new ChatError('invalid_payload', 'payload must be JSON: {"text":"...","ref":"..."}');
  }
  return parseOrThrow(schema, json);
}

/** Best effort `ref` of a payload that failed validation, so the error can name the message. */
export function refOfRejected(payload: Buffer): string | null {
  try {
    const ref = (JSON.parse(payload.toString('utf8')) as { ref?: unknown }).ref;
    return typeof ref === 'string' && ref.length <= REF_MAX ? ref : null;
  } catch {
    return null;
  }
}

/** A bot message from RabbitMQ `chat.inbound` (docs/protocol.md#bot-messages). Build once per limit, like chatInputSchema. */
export function botInputSchema(maxLength: number) {
  return z.object({
    user: z.string().regex(USER_PATTERN, 'user must match [A-Za-z0-9_.-]{1,64}'),
    name: displayNameSchema.optional(),
    text: textSchema(maxLength),
    ref: refSchema.optional(),
  });
}

export const roomNameSchema = z.string().regex(ROOM_PATTERN, 'room must match [a-z0-9][a-z0-9_-]{0,63}');
export const userIdSchema = z.string().regex(USER_PATTERN, 'user must match [A-Za-z0-9_.-]{1,64}');

export function parseOrThrow<T>(schema: z.ZodType<T>, value: unknown): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const where = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
  throw new ChatError('invalid_payload', `${where}${issue?.message ?? 'invalid input'}`);
}

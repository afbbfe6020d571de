import * as z from 'zod/mini';

/** Chat payloads the page receives (docs/protocol.md#chat-messages-and-events), checked at the edge like any other input. */

export const messageSchema = z.object({
  type: z.literal('message'),
  id: z.string(),
  room: z.string(),
  seq: z.int().check(z.positive()),
  user: z.string(),
  name: z.string(),
  text: z.string(),
  ts: z.number(),
  ref: z.nullish(z.string()),
  edited_ts: z.nullish(z.number()),
  deleted: z.nullish(z.boolean()),
});
export type ChatMessage = z.infer<typeof messageSchema>;

export const editSchema = z.object({
  type: z.literal('edit'),
  room: z.string(),
  seq: z.int().check(z.positive()),
  text: z.string(),
  edited_ts: z.number(),
});
export const deleteSchema = z.object({ type: z.literal('delete'), room: z.string(), seq: z.int().check(z.positive()), by: z.string() });
export const muteSchema = z.object({ type: z.literal('mute'), room: z.string(), user: z.string(), until: z.number(), by: z.string() });

export const chatEventSchema = z.discriminatedUnion('type', [messageSchema, editSchema, deleteSchema, muteSchema]);
export type ChatEvent = z.infer<typeof chatEventSchema>;

export const historySchema = z.object({ messages: z.array(messageSchema), has_more: z.boolean() });
export type HistoryPage = z.infer<typeof historySchema>;

/** A page of `GET /api/rooms`; `next` is the `after=` of the following page. */
export const roomsSchema = z.object({
  rooms: z.array(z.object({ room: z.string(), last_seq: z.number() })),
  has_more: z.boolean(),
  next: z.optional(z.string()),
});
export type RoomsPage = z.infer<typeof roomsSchema>;

export const sessionOptionsSchema = z.object({ guest: z.boolean() });

export const memberSchema = z.object({ user: z.string(), name: z.string() });
export type Member = z.infer<typeof memberSchema>;
export const presenceListSchema = z.object({ members: z.array(memberSchema) });
export const presenceEventSchema = z.extend(memberSchema, { state: z.enum(['online', 'offline']) });

export const typingSchema = z.object({ user: z.string(), name: z.string() });

export const chatErrorSchema = z.object({ ref: z.nullish(z.string()), code: z.string(), message: z.string() });

import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { TokenIssuer, TokenVerifier } from '../platform/auth.js';
import type { Identity } from '../protocol/identity.js';
import { dmConversation, roomConversation, type Conversation } from './conversation.js';
import { ChatError } from './errors.js';
import { displayNameSchema, roomNameSchema, textSchema, userIdSchema } from './input.js';
import type { ChatService } from './service.js';
import { admit, type RateLimiter } from './rate-limiter.js';

export interface ChatRoutesDeps {
  chat: ChatService;
  auth: TokenVerifier & TokenIssuer;
  /** `POST /api/session` issues guest tokens (AUTH_GUEST). */
  guest: boolean;
  /** Guest sessions per client address (AUTH_GUEST_PER_IP_PER_MIN); unlimited when absent. */
  guestLimit?: { limiter: RateLimiter; refused: { inc(): void } };
  maxLength: number;
  guestTtlSeconds?: number;
}

const PAGE_LIMIT_MAX = 200;
/** Only a missing or non-numeric value is "not a number"; range errors keep their own message. */
const number = () => z.coerce.number({ error: (issue) => (issue.code === 'invalid_type' ? 'must be a number' : undefined) });
const seqNumber = number().int('must be an integer').positive('must be positive');

/** History and room list pages: 50 by default, 200 at most. */
const pageLimit = number()
  .int('must be an integer')
  .min(1, `must be an integer from 1 to ${PAGE_LIMIT_MAX}`)
  .max(PAGE_LIMIT_MAX, `must be an integer from 1 to ${PAGE_LIMIT_MAX}`)
  .default(50);

const historyQuery = z
  .object({
    before: seqNumber.optional(),
    after: number().int('must be an integer').nonnegative('must not be negative').optional(),
    limit: pageLimit,
  })
  .refine((q) => q.before === undefined || q.after === undefined || q.after < q.before, { message: 'after must be below before' });

/** `q`: a room name prefix, any case; `after`: the `next` of the page before. */
const roomsQuery = z.object({
  limit: pageLimit,
  after: roomNameSchema.optional(),
  q: z
    .string()
    .trim()
    .toLowerCase()
    .regex(/^[a-z0-9_-]{0,64}$/, 'must be the start of a room name ([a-z0-9_-], up to 64)')
    .optional(),
});
const roomParams = z.object({ room: roomNameSchema });
const messageParams = z.object({ room: roomNameSchema, seq: seqNumber });
const dmParams = z.object({ other: userIdSchema });
const sessionBody = z.object({ name: displayNameSchema });
/** `until`: Unix milliseconds or an ISO 8601 time. */
const muteBody = z.object({
  user: userIdSchema,
  until: z.union([z.number().int().positive(), z.iso.datetime({ offset: true }).transform((t) => Date.parse(t))]),
});

declare module 'fastify' {
  interface FastifyRequest {
    identity?: Identity;
  }
}

/** The chat HTTP API of docs/protocol.md#chat-api: history, rooms, moderation, presence and guest sign-in. */
export const chatRoutes: FastifyPluginAsync<ChatRoutesDeps> = async (app, deps) => {
  useZodInput(app);
  useChatErrors(app);
  sessionRoutes(app, deps);
  app.register(async (api) => {
    api.addHook('preHandler', signedIn(deps.auth));
    roomRoutes(api, deps.chat);
    historyRoutes(api, deps.chat);
    dmRoutes(api, deps.chat);
    messageRoutes(api, deps.chat, deps.maxLength);
    moderationRoutes(api, deps.chat);
  });
};

/** Encapsulated: zod validates this plugin's input. */
function useZodInput(app: FastifyInstance): void {
  app.setValidatorCompiler(({ schema }) => (data) => {
    const parsed = (schema as z.ZodType).safeParse(data);
    if (parsed.success) return { value: parsed.data };
    const issue = parsed.error.issues[0];
    return { error: new Error(`${issue?.path.length ? `${issue.path.join('.')}: ` : ''}${issue?.message ?? 'invalid input'}`) };
  });
}

/** Errors carry a code and a message; only 500s are logged, and their detail stays in the log. */
function useChatErrors(app: FastifyInstance): void {
  app.setErrorHandler((err: Error & { statusCode?: number; validation?: unknown }, req, reply) => {
    if (err instanceof ChatError) {
      // RFC 9110 §10.2.3: whole seconds, never 0 (that would invite an immediate retry).
      if (err.retryAfterMs !== undefined) void reply.header('retry-after', String(Math.max(1, Math.ceil(err.retryAfterMs / 1000))));
      return reply.status(err.statusCode).send({ error: err.message, code: err.code });
    }
    if (err.validation) return reply.status(400).send({ error: err.message, code: 'invalid_payload' });
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) req.log.error({ err, url: req.url }, 'chat request failed');
    return reply.status(status).send({ error: status === 500 ? 'internal error' : err.message });
  });
}

const signedIn =
  (auth: TokenVerifier) =>
  async (req: FastifyRequest): Promise<void> => {
    const header = req.headers.authorization;
    // The auth scheme is case-insensitive (RFC 7235).
    const token = header && /^bearer /i.test(header) ? header.slice(7).trim() : '';
    if (!token) throw Object.assign(new Error('sign in: Authorization: Bearer <token> required'), { statusCode: 401 });
    try {
      req.identity = await auth.verify(token);
    } catch (err) {
      throw Object.assign(new Error(`not authorized: ${(err as Error).message}`), { statusCode: 401 });
    }
  };
/** Set by the `signedIn` hook on every route behind it. */
const who = (req: FastifyRequest): Identity => req.identity!;
/** Only for names the route schema has already checked. */
const room = (name: string): Conversation => roomConversation(name)!;

/** Guest sign-in (AUTH_GUEST) and the options the sign-in form asks for. */
function sessionRoutes(app: FastifyInstance, deps: ChatRoutesDeps): void {
  const { auth } = deps;
  // The sign-in form asks before offering guest sign-in (no failed request in the console).
  app.get('/api/session/options', async () => ({ guest: deps.guest }));

  if (deps.guest) {
    app.post('/api/session', { schema: { body: sessionBody } }, async (req) => {
      const { name } = req.body as z.output<typeof sessionBody>;
      // Fresh guest identities would each get a fresh chat allowance: bound them per address.
      if (deps.guestLimit) {
        try {
          await admit(deps.guestLimit.limiter, req.ip, 'guest sessions from this address');
        } catch (err) {
          deps.guestLimit.refused.inc();
          throw err;
        }
      }
      const user = { sub: `guest-${randomBytes(8).toString('hex')}`, name, roles: ['trader'] as const };
      const token = await auth.issue(user, deps.guestTtlSeconds ?? 12 * 3600);
      return { token, user };
    });
  } else {
    // The path exists either way: a client asking for a guest session learns why it gets none.
    app.post('/api/session', async () => {
      throw Object.assign(new Error('guest sign-in is off (AUTH_GUEST): sign in with a token from your identity provider'), { statusCode: 403 });
    });
  }
}

/** The room list and who is in a room. */
function roomRoutes(api: FastifyInstance, chat: ChatService): void {
  api.get('/api/rooms', { schema: { querystring: roomsQuery } }, async (req) => {
    const { limit, after, q } = req.query as z.output<typeof roomsQuery>;
    const page = await chat.rooms({ limit, ...(after ? { after } : {}), ...(q ? { prefix: q } : {}) });
    // `next` is the cursor for the following page: pass it back as `after`.
    return page.has_more ? { ...page, next: page.rooms.at(-1)!.room } : page;
  });

  api.get('/api/rooms/:room/presence', { schema: { params: roomParams } }, async (req) => {
    const { room: name } = req.params as z.output<typeof roomParams>;
    return { room: name, members: await chat.members(name) };
  });
}

function historyRoutes(api: FastifyInstance, chat: ChatService): void {
  api.get('/api/rooms/:room/messages', { schema: { params: roomParams, querystring: historyQuery } }, async (req) => {
    const { room: name } = req.params as z.output<typeof roomParams>;
    return chat.history(room(name), req.query as z.output<typeof historyQuery>);
  });
}

function dmRoutes(api: FastifyInstance, chat: ChatService): void {
  api.get('/api/dm/:other/messages', { schema: { params: dmParams, querystring: historyQuery } }, async (req) => {
    const { other } = req.params as z.output<typeof dmParams>;
    // The pair is built from the caller's own id, so nobody can read someone else's DMs.
    const conversation = dmConversation(who(req).sub, other);
    if (!conversation) throw new ChatError('invalid_payload', 'a DM needs another user');
    return chat.history(conversation, req.query as z.output<typeof historyQuery>);
  });
}

/** Editing and deleting one room message (the service decides who may). */
function messageRoutes(api: FastifyInstance, chat: ChatService, maxLength: number): void {
  const editBody = z.object({ text: textSchema(maxLength) });

  api.patch('/api/rooms/:room/messages/:seq', { schema: { params: messageParams, body: editBody } }, async (req) => {
    const { room: name, seq } = req.params as z.output<typeof messageParams>;
    return chat.edit(who(req), room(name), seq, (req.body as { text: string }).text);
  });

  api.delete('/api/rooms/:room/messages/:seq', { schema: { params: messageParams } }, async (req) => {
    const { room: name, seq } = req.params as z.output<typeof messageParams>;
    return chat.delete(who(req), room(name), seq);
  });
}

function moderationRoutes(api: FastifyInstance, chat: ChatService): void {
  api.post('/api/rooms/:room/mutes', { schema: { params: roomParams, body: muteBody } }, async (req, reply) => {
    const { room: name } = req.params as z.output<typeof roomParams>;
    const { user, until } = req.body as z.output<typeof muteBody>;
    return reply.status(201).send(await chat.mute(who(req), room(name), user, until));
  });
}

import { randomUUID } from 'node:crypto';
import type { BrokerExtension, ClientInfo, ClientPublish, PublishRefusal, PublishVerdict } from '../broker/extensions.js';
import type { Logger } from '../platform/logger.js';
import type { Metrics } from '../platform/metrics.js';
import type { Identity } from '../protocol/identity.js';
import { topics } from '../protocol/topics.js';
import {
  conversationTopic,
  isMember,
  parseChatTopic,
  presenceRoomOfFilter,
  roomConversation,
  type ChatTopic,
  type Conversation,
} from './conversation.js';
import { ChatError, type ChatErrorCode } from './errors.js';
import { encodeEvent, type ChatEvent, type DeleteEvent, type EditEvent, type MessageEvent, type MuteEvent } from './events.js';
import { GroupCommit } from './group-commit.js';
import { chatInputSchema, parseChatPayload, refOfRejected, type ChatInput } from './input.js';
import { assertMayMute, mayDelete, mayEdit, mutedError } from './moderation.js';
import type { Presence, PublishFn } from './presence.js';
import type { PresenceMember } from './presence-store.js';
import { admit, MemoryRateLimiter, type Clock, type RateLimiter } from './rate-limiter.js';
import type { AppendOutcome, ChatStore, HistoryPage, HistoryQuery, NewMessage, RoomsPage, RoomsQuery } from './store.js';

const MAX_PARSED_TOPICS = 10_000;

export interface ChatServiceDeps {
  store: ChatStore;
  limiter: RateLimiter;
  presence: Presence;
  /** Server-originated publishes into the MQTT cluster (events, bot messages, errors). */
  publish: PublishFn;
  maxLength: number;
  editWindowMs: number;
  /** Typing signals forwarded per second per user and room, on this node (CHAT_TYPING_PER_S). */
  typingPerS: number;
  log: Logger;
  metrics: Metrics;
  now?: Clock;
}

/** Who speaks: always from a verified identity (or the bot bridge), never from a payload. */
export interface Speaker {
  sub: string;
  name: string;
}

export interface Posted {
  message: MessageEvent;
  /** The message event as subscribers receive it. */
  encoded: Buffer;
  /** The same ref was stored before: this is the original, already delivered. */
  duplicate: boolean;
}

/**
 * The chat feature: the broker's publish path for `chat/…` (validate, rate-limit, stamp, store,
 * then let the broker ack and forward), presence from subscriptions, and the operations the HTTP
 * routes and the bot bridge use.
 */
export class ChatService implements BrokerExtension {
  readonly publishPrefixes = ['chat/'] as const;
  private readonly commit: GroupCommit<NewMessage, AppendOutcome>;
  private readonly now: Clock;
  private readonly inputSchema;
  private readonly outcomes;
  private readonly outcomeCounters = new Map<string, { inc(): void }>();
  private readonly appendSeconds;
  /**
   * Per node, in memory: a user's connection lives on one node, so a node sees all of that
   * connection's typing; connections on several nodes each get the allowance (bounded by how many
   * connections a user may hold). A typing signal is worthless a second later: no need to share.
   */
  private readonly typingLimiter: MemoryRateLimiter;
  private readonly typingThrottled;
  /** Publish topics already parsed: clients publish on the same few topics all session long. */
  private readonly parsedTopics = new Map<string, ChatTopic | null>();

  constructor(private readonly deps: ChatServiceDeps) {
    this.now = deps.now ?? Date.now;
    this.inputSchema = chatInputSchema(deps.maxLength);
    const batchSizes = deps.metrics.histogram(
      'chat_commit_batch_messages',
      'Messages stored per group-commit transaction',
      [1, 4, 16, 64, 256, 1024],
    );
    this.commit = new GroupCommit((batch) => {
      batchSizes.observe(batch.length);
      return deps.store.append(batch);
    });
    this.outcomes = deps.metrics.counter('chat_publishes_total', 'Chat publishes by outcome', ['outcome']);
    this.appendSeconds = deps.metrics.histogram('chat_append_seconds', 'Time from publish to stored', [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3]);
    this.typingLimiter = new MemoryRateLimiter({ ratePerS: deps.typingPerS, burst: Math.max(1, deps.typingPerS) }, this.now);
    this.typingThrottled = deps.metrics.counter('chat_typing_throttled_total', 'Typing signals acked and dropped over CHAT_TYPING_PER_S');
  }

  async onClientPublish(client: ClientInfo, packet: ClientPublish): Promise<PublishVerdict> {
    const who = client.who;
    const target = this.parseTopic(packet.topic);
    if (who === null || target === null) {
      return who ? this.refuse(who.sub, null, new ChatError('invalid_topic', `cannot publish on ${packet.topic}`)) : null;
    }
    if (packet.retain) {
      // A retained chat message would be replayed to every later subscriber as if it were new.
      return this.refuse(who.sub, refOfRejected(packet.payload), new ChatError('invalid_payload', 'chat publishes must not be retained'));
    }
    if (target.kind === 'typing') return this.typing(who, target.room);
    if (packet.qos === 0) {
      // Forwarded at QoS 0 it would skip offline sessions: chat is only ever guaranteed.
      return this.refuse(who.sub, refOfRejected(packet.payload), new ChatError('invalid_payload', 'publish chat messages with QoS 1'));
    }
    if (!isMember(target.conversation, who.sub)) {
      return this.refuse(who.sub, refOfRejected(packet.payload), new ChatError('forbidden', 'not your conversation'));
    }
    try {
      const input = parseChatPayload(packet.payload, this.inputSchema);
      const { encoded, duplicate } = await this.post(who, target.conversation, input, { rateLimited: true });
      return duplicate ? null : encoded;
    } catch (err) {
      const refused = this.refuse(who.sub, refOfRejected(packet.payload), err);
      // Storage failed: throwing makes the broker close the connection without PUBACK, so the
      // client sends the message again (its `ref` keeps the retry from being stored twice).
      if (!(err instanceof ChatError)) throw err;
      return refused;
    }
  }

  onDeniedPublish(client: ClientInfo, packet: ClientPublish): PublishRefusal | undefined {
    if (!client.who) return undefined;
    return this.refuse(client.who.sub, refOfRejected(packet.payload), new ChatError('forbidden', deniedReason(packet.topic))).refused;
  }

  onSubscribe(client: ClientInfo, filters: readonly string[]): void {
    if (!client.who) return;
    for (const f of filters) {
      const room = presenceRoomOfFilter(f);
      if (room) void this.deps.presence.join(client.id, client.who, room);
    }
  }

  onUnsubscribe(client: ClientInfo, filters: readonly string[]): void {
    for (const f of filters) {
      const room = presenceRoomOfFilter(f);
      if (room) void this.deps.presence.leave(client.id, room);
    }
  }

  onDisconnect(client: ClientInfo): void {
    void this.deps.presence.disconnect(client.id);
  }

  /**
   * Stamps and stores one message. Rate limiting applies to people; the bot bridge is bounded by
   * its queue instead. Throws ChatError when refused.
   */
  async post(speaker: Speaker, conversation: Conversation, input: ChatInput, opts: { rateLimited: boolean }): Promise<Posted> {
    const started = performance.now();
    if (opts.rateLimited) {
      const admitted = admit(this.deps.limiter, speaker.sub, 'messages');
      if (admitted) await admitted;
    }
    const outcome = await this.commit.submit({
      room: conversation.key,
      id: randomUUID(),
      user: speaker.sub,
      name: speaker.name,
      text: input.text,
      ts: this.now(),
      ...(input.ref === undefined ? {} : { ref: input.ref }),
    });
    this.appendSeconds.observe((performance.now() - started) / 1000);
    if (outcome.status === 'muted') throw mutedError(outcome.until);
    this.countOutcome(outcome.status);
    return {
      message: outcome.message,
      encoded: (outcome.status === 'stored' ? outcome.encoded : undefined) ?? encodeEvent(outcome.message),
      duplicate: outcome.status === 'duplicate',
    };
  }

  /** A bot message from RabbitMQ `chat.inbound`: stored, then delivered like any other. */
  async postAsBot(room: string, bot: { user: string; name?: string }, input: ChatInput): Promise<Posted> {
    const conversation = roomConversation(room);
    if (!conversation) throw new ChatError('invalid_topic', `bad room ${room}`);
    const posted = await this.post({ sub: `bot:${bot.user}`, name: bot.name ?? bot.user }, conversation, input, { rateLimited: false });
    if (!posted.duplicate) await this.broadcast(conversation, posted.message);
    return posted;
  }

  /** Edits cost a message's token: each one is broadcast to the room like a message. */
  async edit(actor: Identity, room: Conversation, seq: number, text: string): Promise<EditEvent> {
    await admit(this.deps.limiter, actor.sub, 'messages');
    const now = this.now();
    const event = await this.deps.store.edit(room.key, seq, mayEdit(actor, now, this.deps.editWindowMs), text, now);
    await this.broadcast(room, event);
    return event;
  }

  async delete(actor: Identity, room: Conversation, seq: number): Promise<DeleteEvent> {
    const event = await this.deps.store.delete(room.key, seq, mayDelete(actor), actor.sub, this.now());
    await this.broadcast(room, event);
    return event;
  }

  async mute(actor: Identity, room: Conversation, user: string, until: number): Promise<MuteEvent> {
    assertMayMute(actor, until, this.now());
    const event = await this.deps.store.mute(room.key, user, until, actor.sub);
    await this.broadcast(room, event);
    return event;
  }

  /** Re-stamped from the connection; over the allowance it is acked and dropped (null). */
  private typing(who: Speaker, room: string): Buffer | null {
    if (!this.typingLimiter.take(`${who.sub} ${room}`).allowed) {
      this.typingThrottled.inc();
      return null;
    }
    return Buffer.from(JSON.stringify({ user: who.sub, name: who.name }));
  }

  history(conversation: Conversation, query: HistoryQuery): Promise<HistoryPage> {
    return this.deps.store.history(conversation.key, query);
  }

  rooms(query: RoomsQuery): Promise<RoomsPage> {
    return this.deps.store.rooms(query);
  }

  members(room: string): Promise<PresenceMember[]> {
    return this.deps.presence.members(room);
  }

  /** Waits for appends in flight (shutdown: every acked message is stored). */
  settled(): Promise<void> {
    return this.commit.settled();
  }

  private async broadcast(conversation: Conversation, event: ChatEvent): Promise<void> {
    try {
      await this.deps.publish(conversationTopic(conversation), encodeEvent(event).toString(), 1);
    } catch (err) {
      // Stored already: history and the chat.events mirror still carry it.
      this.deps.log.warn({ err, room: conversation.key, type: event.type }, 'chat event stored but not broadcast');
    }
  }

  private parseTopic(topic: string): ChatTopic | null {
    let parsed = this.parsedTopics.get(topic);
    if (parsed === undefined) {
      // Bounded: a client inventing topics only ever costs a re-parse.
      if (this.parsedTopics.size >= MAX_PARSED_TOPICS) this.parsedTopics.clear();
      this.parsedTopics.set(topic, (parsed = parseChatTopic(topic)));
    }
    return parsed;
  }

  /** Counter children are kept: looking one up by its label costs more than the increment. */
  private countOutcome(outcome: string): void {
    let counter = this.outcomeCounters.get(outcome);
    if (!counter) this.outcomeCounters.set(outcome, (counter = this.outcomes.labels(outcome)));
    counter.inc();
  }

  /**
   * A refused chat publish: answered on `users/{sub}/errors` (every client: 3.1.1 has no other
   * place for it, and QoS 0 publishes have no ack), and returned for the MQTT 5 PUBACK, whose reason
   * string is the same message and whose user property `code` the same code.
   */
  private refuse(sub: string, ref: string | null, err: unknown): { refused: PublishRefusal } {
    const chatError = err instanceof ChatError ? err : new ChatError('unavailable', 'message not stored: chat storage unavailable, send it again');
    if (!(err instanceof ChatError)) this.deps.log.error({ err, user: sub }, 'chat publish failed');
    this.countOutcome(chatError.code);
    const body = JSON.stringify({ ref, code: chatError.code, message: chatError.message });
    this.deps.publish(topics.userErrors(sub), body, 0).catch((e: unknown) => this.deps.log.warn({ err: e }, 'could not report chat error'));
    return { refused: { kind: REFUSAL_KINDS[chatError.code], message: chatError.message, code: chatError.code } };
  }
}

/** How each chat error reads as an MQTT 5 PUBACK reason (broker/mqtt5/reasons.ts has the codes). */
const REFUSAL_KINDS: Record<ChatErrorCode, PublishRefusal['kind']> = {
  invalid_payload: 'payload invalid',
  invalid_topic: 'topic invalid',
  rate_limited: 'quota exceeded',
  muted: 'not authorized',
  forbidden: 'not authorized',
  not_found: 'not authorized',
  edit_window_closed: 'not authorized',
  deleted: 'not authorized',
  unavailable: 'not authorized',
};

/** Why the broker's ACL refused a chat publish, in words an integrator can act on. */
function deniedReason(topic: string): string {
  if (topic.startsWith('chat/dm/')) return `cannot publish on ${topic}: chat/dm/{a}/{b} is for users a and b only, with a < b`;
  if (topic.startsWith('chat/presence/')) return 'presence is published by the broker only';
  return `cannot publish on ${topic}: rooms match [a-z0-9][a-z0-9_-]{0,63}`;
}

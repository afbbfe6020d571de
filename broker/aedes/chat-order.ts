import type { InternalPacket } from './internals.js';

/** What the reorder needs to know and to say (CLUSTER_CHAT_ORDER_WAIT_MS and its metrics). */
export interface ChatOrderOptions {
  /** How long a message waits for an earlier `seq` of its conversation before it goes without it. */
  waitMs: number;
  /** Conversations remembered per node (least recently seen forgotten first). */
  maxConversations: number;
  /** Messages one conversation may hold back at most; beyond it they all go at once. */
  maxHeld: number;
  /** A message held back behind a missing earlier one. */
  held(): void;
  /** A wait that ended without the missing message (a member fills the gap from history). */
  gap(): void;
  /** A chat message handed to this node's subscribers; `stampMs` is its server stamp (`ts`). */
  delivered(stampMs: number): void;
}

type Deliver = (packet: InternalPacket) => void;

interface StampedPacket {
  packet: InternalPacket;
  ts: number;
}

/** A server-stamped chat `message` event's `seq` and `ts`. */
interface MessageEvent {
  seq: number;
  ts: number;
}

interface Conversation {
  /** The `seq` this node delivers next. */
  next: number;
  /** Messages that came ahead of `next`, by seq, with their server stamps. */
  held: Map<number, StampedPacket>;
  /** Other events of the conversation (edits, deletes, mutes) that came while messages were held. */
  after: InternalPacket[];
  timer: NodeJS.Timeout | undefined;
}

const CHAT_TOPIC = /^chat\/(rooms|dm)\//;

/** The `seq` and `ts` of a server-stamped chat `message` event, or undefined for anything else. */
function messageEvent(packet: InternalPacket): MessageEvent | undefined {
  if (!CHAT_TOPIC.test(packet.topic)) return undefined;
  try {
    const event = JSON.parse(packet.payload.toString()) as { type?: unknown; seq?: unknown; ts?: unknown };
    if (event.type !== 'message' || !Number.isSafeInteger(event.seq)) return undefined;
    return { seq: event.seq as number, ts: typeof event.ts === 'number' ? event.ts : NaN };
  } catch {
    return undefined;
  }
}

/**
 * Puts each conversation's chat messages back in `seq` order before this node delivers them.
 *
 * In a cluster every node numbers the messages it stores, then sends them through Redis, so two
 * messages numbered close together on different nodes can reach Redis, and every node after it,
 * in the opposite order (seq 8 from node A, then seq 7 from node B). A message that arrives ahead
 * of the next expected seq waits for the missing one, at most `waitMs`; a wait that runs out means
 * the missing one is not coming (its node died between storing and sending), and members fill the
 * gap from history by seq as they do after any gap. Order is per conversation topic; everything
 * else passes straight through. The first message a node sees of a conversation sets its count.
 */
export class ChatOrder {
  private readonly conversations = new Map<string, Conversation>();

  constructor(
    private readonly deliver: Deliver,
    private readonly opts: ChatOrderOptions,
  ) {}

  take(packet: InternalPacket): void {
    const event = messageEvent(packet);
    const conversation = this.conversations.get(packet.topic);
    if (event === undefined) {
      if (conversation && conversation.held.size > 0) conversation.after.push(packet);
      else this.deliver(packet);
      return;
    }
    const stamped = { packet, ts: event.ts };
    const { seq } = event;
    if (!conversation) return this.firstOf(stamped, seq);
    this.touch(packet.topic, conversation);
    if (seq < conversation.next) return this.deliverMessage(stamped);
    if (seq > conversation.next) return this.hold(conversation, seq, stamped);
    this.deliverMessage(stamped);
    conversation.next = seq + 1;
    this.deliverReady(conversation);
  }

  /** Everything held goes out in order (the node is closing). */
  flush(): void {
    for (const conversation of this.conversations.values()) this.release(conversation, false);
    this.conversations.clear();
  }

  private firstOf(stamped: StampedPacket, seq: number): void {
    this.conversations.set(stamped.packet.topic, { next: seq + 1, held: new Map(), after: [], timer: undefined });
    if (this.conversations.size > this.opts.maxConversations) this.forgetOldest();
    this.deliverMessage(stamped);
  }

  private deliverMessage({ packet, ts }: StampedPacket): void {
    this.deliver(packet);
    if (Number.isFinite(ts)) this.opts.delivered(ts);
  }

  private hold(conversation: Conversation, seq: number, stamped: StampedPacket): void {
    conversation.held.set(seq, stamped);
    this.opts.held();
    if (conversation.held.size > this.opts.maxHeld) return this.release(conversation, true);
    if (conversation.timer) return;
    conversation.timer = setTimeout(() => this.release(conversation, true), this.opts.waitMs);
    conversation.timer.unref();
  }

  /** Delivers the held messages that follow on without a gap, then the events behind them. */
  private deliverReady(conversation: Conversation): void {
    let stamped = conversation.held.get(conversation.next);
    while (stamped) {
      conversation.held.delete(conversation.next);
      this.deliverMessage(stamped);
      conversation.next += 1;
      stamped = conversation.held.get(conversation.next);
    }
    if (conversation.held.size > 0) return;
    this.settle(conversation);
  }

  /** The wait is over: whatever is held goes now, in seq order, gaps and all. */
  private release(conversation: Conversation, counted: boolean): void {
    if (conversation.held.size > 0 && counted) this.opts.gap();
    for (const seq of [...conversation.held.keys()].sort((a, b) => a - b)) {
      this.deliverMessage(conversation.held.get(seq)!);
      conversation.next = seq + 1;
    }
    conversation.held.clear();
    this.settle(conversation);
  }

  private settle(conversation: Conversation): void {
    clearTimeout(conversation.timer);
    conversation.timer = undefined;
    const after = conversation.after;
    conversation.after = [];
    for (const packet of after) this.deliver(packet);
  }

  /** Most recently seen last, so the oldest entry is the first to forget. */
  private touch(topic: string, conversation: Conversation): void {
    this.conversations.delete(topic);
    this.conversations.set(topic, conversation);
  }

  private forgetOldest(): void {
    const [topic, conversation] = this.conversations.entries().next().value as [string, Conversation];
    this.release(conversation, false);
    this.conversations.delete(topic);
  }
}

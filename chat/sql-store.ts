import { migrate, type Database, type Sql } from '../platform/database.js';
import { conversationOfKey, eventRoutingKey } from './conversation.js';
import { ChatError } from './errors.js';
import type { ChatEvent, DeleteEvent, EditEvent, MessageEvent, MuteEvent } from './events.js';
import type { AppendOutcome, ChatStore, HistoryPage, HistoryQuery, ModerationCheck, NewMessage, OutboxRow, RoomsPage, RoomsQuery } from './store.js';

/**
 * `seq` comes from `chat_rooms.last_seq`, read under a row lock and written back in the same
 * transaction as the messages. It is gap-free because a failed insert rolls the counter back with
 * it (a Redis INCR or a PostgreSQL SEQUENCE would have burnt the number), and the row lock
 * serialises writers to one conversation across every broker node.
 */
const MIGRATIONS = [
  `CREATE TABLE chat_rooms (
     room text PRIMARY KEY,
     last_seq bigint NOT NULL DEFAULT 0,
     created_at timestamptz NOT NULL DEFAULT now());
   CREATE TABLE chat_messages (
     room text NOT NULL REFERENCES chat_rooms (room),
     seq bigint NOT NULL,
     id text NOT NULL UNIQUE,
     user_id text NOT NULL,
     name text NOT NULL,
     text text NOT NULL,
     ts bigint NOT NULL,
     ref text,
     edited_ts bigint,
     deleted_by text,
     deleted_ts bigint,
     PRIMARY KEY (room, seq));
   CREATE UNIQUE INDEX chat_messages_ref ON chat_messages (room, user_id, ref) WHERE ref IS NOT NULL;
   CREATE TABLE chat_mutes (
     room text NOT NULL,
     user_id text NOT NULL,
     until_ts bigint NOT NULL,
     by_user text NOT NULL,
     PRIMARY KEY (room, user_id));
   CREATE TABLE chat_outbox (
     id bigserial PRIMARY KEY,
     routing_key text NOT NULL,
     body text NOT NULL);
   INSERT INTO chat_rooms (room) VALUES ('lobby')`,
  // One relay at a time across the cluster, without holding a transaction open while RabbitMQ
  // confirms (on PGlite that would stall every other query): a lease that lapses if its holder dies.
  `CREATE TABLE chat_outbox_lease (
     name text PRIMARY KEY,
     holder text NOT NULL,
     until timestamptz NOT NULL);
   INSERT INTO chat_outbox_lease (name, holder, until) VALUES ('relay', '', now())`,
  // The append upserts a message's room in the same statement that inserts it, so the foreign key
  // only re-checked what the statement guarantees, at a trigger call per message.
  `ALTER TABLE chat_messages DROP CONSTRAINT IF EXISTS chat_messages_room_fkey`,
  // Message ids are random UUIDs minted by the server and never looked up: a unique index on them
  // was a random-page B-tree insert per message, a third of the append's cost.
  `ALTER TABLE chat_messages DROP CONSTRAINT IF EXISTS chat_messages_id_key`,
];

const LEASE_SECONDS = 30;

const MESSAGE_COLUMNS = 'room, seq, id, user_id, name, text, ts, ref, edited_ts, deleted_by';
/** The same columns from `chat_messages m`, for queries that join. */
const MESSAGE_COLUMNS_OF_M = MESSAGE_COLUMNS.split(', ')
  .map((c) => `m.${c}`)
  .join(', ');

interface MessageRow extends Record<string, unknown> {
  room: string;
  seq: number | string;
  id: string;
  user_id: string;
  name: string;
  text: string;
  ts: number | string;
  ref: string | null;
  edited_ts: number | string | null;
  deleted_by: string | null;
}

function toMessage(r: MessageRow): MessageEvent {
  const m: MessageEvent = {
    type: 'message',
    id: r.id,
    room: r.room,
    seq: Number(r.seq),
    user: r.user_id,
    name: r.name,
    text: r.deleted_by === null ? r.text : '',
    ts: Number(r.ts),
  };
  if (r.ref !== null) m.ref = r.ref;
  if (r.edited_ts !== null) m.edited_ts = Number(r.edited_ts);
  if (r.deleted_by !== null) Object.assign(m, { deleted: true, deleted_by: r.deleted_by });
  return m;
}

/**
 * Retried with a fresh snapshot: a deadlock or serialization failure, and a unique violation from
 * a concurrent writer of the same ref on another node (see appendOnce).
 */
const UNIQUE_VIOLATION = '23505';
const RETRYABLE = new Set(['40P01', '40001', UNIQUE_VIOLATION]);
/** How long appends keep probing for stored refs after a batch met one (see appendStatement). */
const PROBE_AFTER_STORED_REF_MS = 10_000;

/**
 * A new message's fields as the inside of a JSON object (`"id":…,"ref":…`), in the names the
 * message event uses; an absent ref is left out.
 */
function encodeFields(m: NewMessage): string {
  // Field by field: half the CPU of stringifying an object and slicing its braces off.
  const json = `"id":${JSON.stringify(m.id)},"room":${JSON.stringify(m.room)},"user":${JSON.stringify(m.user)},"name":${JSON.stringify(m.name)},"text":${JSON.stringify(m.text)},"ts":${m.ts}`;
  return m.ref === undefined ? json : `${json},"ref":${JSON.stringify(m.ref)}`;
}

/**
 * The group-commit statement, in two variants. Probing looks every ref up in the ref index before
 * inserting, to answer a resent message with its stored original. Trusting skips that lookup (a
 * fifth of the statement's CPU) and lets the same unique index refuse a stored ref, which fails
 * the whole batch: the store then retries it probing. Refs are rarely resent, so the store trusts
 * until a batch fails that way and probes for a while after. With the outbox, each message is
 * also queued for `chat.events` (its routing key in $2); without, the numbered rows are read once
 * and never copied.
 */
function appendStatement(probeStoredRefs: boolean, outbox: boolean): { name: string; text: string } {
  const storedJoin = probeStoredRefs
    ? // LIMIT keeps this a per-message index probe: flattened into a join, the planner may hash the whole table.
      `LEFT JOIN LATERAL (
           SELECT m.seq, m.id, m.name, m.text, m.ts, m.edited_ts, m.deleted_by FROM chat_messages m
            WHERE i.ref IS NOT NULL AND m.room = i.room AND m.user_id = i."user" AND m.ref = i.ref
            LIMIT 1) o ON true`
    : `CROSS JOIN (SELECT NULL::bigint AS seq, NULL AS id, NULL AS name, NULL AS text, NULL::bigint AS ts,
           NULL::bigint AS edited_ts, NULL AS deleted_by) o`;
  return {
    name: `ticktalk_chat_append_${probeStoredRefs ? 'probing' : 'trusting'}${outbox ? '_outbox' : ''}`,
    text: `WITH input AS (
         SELECT * FROM json_to_recordset($1::json)
           AS i(ord int, id text, room text, "user" text, name text, text text, ts bigint, ref text)),
       judged AS (
         SELECT i.*, mute.until_ts AS muted_until,
           o.seq AS stored_seq, o.id AS stored_id, o.name AS stored_name, o.text AS stored_text, o.ts AS stored_ts,
           o.edited_ts AS stored_edited_ts, o.deleted_by AS stored_deleted_by
         FROM input i
         LEFT JOIN chat_mutes mute ON mute.room = i.room AND mute.user_id = i."user" AND mute.until_ts > i.ts
         ${storedJoin}),
       ranked AS (
         -- One pass numbers the accepted messages of each room (pos of n) and keeps the refused
         -- ones for the answer: a CTE read twice is materialised, and this is the only such copy.
         SELECT k.*,
           count(*) FILTER (WHERE k.ok) OVER (PARTITION BY k.room ORDER BY k.ord ROWS UNBOUNDED PRECEDING) AS pos,
           count(*) FILTER (WHERE k.ok) OVER (PARTITION BY k.room) AS n
         FROM (SELECT j.*, j.muted_until IS NULL AND j.stored_seq IS NULL AS ok FROM judged j) k),
       counters AS (
         INSERT INTO chat_rooms AS r (room, last_seq) SELECT room, count(*) FROM ranked WHERE ok GROUP BY room ORDER BY room
         ON CONFLICT (room) DO UPDATE SET last_seq = r.last_seq + EXCLUDED.last_seq
         RETURNING r.room, r.last_seq),
       numbered AS (
         SELECT a.*, c.last_seq - a.n + a.pos AS seq FROM ranked a JOIN counters c ON c.room = a.room WHERE a.ok),
       messages AS (
         INSERT INTO chat_messages (room, seq, id, user_id, name, text, ts, ref)
         SELECT room, seq, id, "user", name, text, ts, ref FROM numbered)${outbox ? OUTBOX_CTE : ''}
       SELECT c.room AS counter_room, c.last_seq AS counter_seq, NULL::int AS ord, NULL::bigint AS muted_until,
         NULL::bigint AS seq, NULL AS id, NULL AS name, NULL AS text, NULL::bigint AS ts, NULL::bigint AS edited_ts, NULL AS deleted_by
       FROM counters c
       UNION ALL
       SELECT NULL, NULL, j.ord, j.muted_until, j.stored_seq, j.stored_id, j.stored_name, j.stored_text, j.stored_ts,
         j.stored_edited_ts, j.stored_deleted_by
       FROM ranked j WHERE NOT j.ok`,
  };
}
const OUTBOX_CTE = `,
       outbox AS (
         INSERT INTO chat_outbox (routing_key, body)
         SELECT ($2::text[])[ord + 1], json_strip_nulls(json_build_object('type', 'message', 'id', id, 'room', room, 'seq', seq,
                  'user', "user", 'name', name, 'text', text, 'ts', ts, 'ref', ref))::text
         FROM numbered ORDER BY ord)`;

/** A room's counter after the batch, or a message the statement refused (muted, or its ref already stored). */
interface AppendRow extends Partial<MessageRow> {
  counter_room: string | null;
  counter_seq: number | string | null;
  ord: number | null;
  muted_until: number | string | null;
}
const RETRIES = 3;

export interface SqlChatStoreOptions {
  /** Queue every stored event for the RabbitMQ `chat.events` relay. */
  outbox: boolean;
}

/** The ChatStore on PostgreSQL or PGlite (same SQL). */
export class SqlChatStore implements ChatStore {
  private readonly outboxListeners = new Set<() => void>();
  /** When each relay holder of this process last renewed its lease (performance.now()). */
  private readonly leaseRenewedAt = new Map<string, number>();
  /** Until when (performance.now()) appends probe for stored refs instead of trusting the unique index. */
  private probeRefsUntil = 0;
  private readonly appendProbing;
  private readonly appendTrusting;

  private constructor(
    private readonly db: Database,
    private readonly options: SqlChatStoreOptions,
  ) {
    this.appendProbing = appendStatement(true, options.outbox);
    this.appendTrusting = appendStatement(false, options.outbox);
  }

  static async open(db: Database, options: SqlChatStoreOptions): Promise<SqlChatStore> {
    await migrate(db, 'chat', MIGRATIONS);
    return new SqlChatStore(db, options);
  }

  async append(batch: readonly NewMessage[]): Promise<AppendOutcome[]> {
    if (batch.length === 0) return [];
    // Without refs there is nothing to probe for: both statements do the same work.
    let probe = performance.now() < this.probeRefsUntil && batch.some((m) => m.ref !== undefined);
    for (let attempt = 1; ;) {
      try {
        const out = await this.appendOnce(batch, probe);
        this.notifyOutbox(out.some((o) => o.status === 'stored'));
        return out;
      } catch (err) {
        const code = (err as { code?: string }).code ?? '';
        if (!probe && code === UNIQUE_VIOLATION) {
          // A ref in this batch is stored already: find it. The client that resent it (after a
          // reconnect, say) is likely resending more, so keep probing for a while.
          probe = true;
          this.probeRefsUntil = performance.now() + PROBE_AFTER_STORED_REF_MS;
          continue;
        }
        if (++attempt > RETRIES || !RETRYABLE.has(code)) throw err;
      }
    }
  }

  /**
   * One statement per batch, committed on its own: a single round trip to the database however
   * many messages the batch holds. Refs repeated within the batch are settled here first; the
   * statement drops muted senders and refs already stored, then bumps each room's counter with an
   * upsert that locks the row (waiting for a concurrent writer and continuing from its committed
   * value) and numbers the accepted messages from there. It answers with each room's new counter
   * and the messages it refused, not a row per message: the rest are numbered here, in batch
   * order. A ref that a concurrent writer stored after this statement's snapshot surfaces as a
   * unique violation, and the batch is retried; so does any stored ref when not probing.
   */
  private async appendOnce(batch: readonly NewMessage[], probeStoredRefs: boolean): Promise<AppendOutcome[]> {
    // Index of the first message with the same room, user and ref (its own index when unique).
    const firstOf = batch.map((m, i) => i);
    const seen = new Map<string, number>();
    batch.forEach((m, i) => {
      if (m.ref === undefined) return;
      const key = `${m.room}\u0000${m.user}\u0000${m.ref}`;
      const first = seen.get(key);
      if (first === undefined) seen.set(key, i);
      else firstOf[i] = first;
    });
    // Each message is encoded once: the same JSON fields go to PostgreSQL and, with their seq, to subscribers.
    const fields = batch.map((m, i) => (firstOf[i] === i ? encodeFields(m) : ''));
    const input = `[${batch.flatMap((_, i) => (firstOf[i] === i ? [`{"ord":${i},${fields[i]}}`] : [])).join(',')}]`;
    const params = this.options.outbox ? [input, batch.map((m) => eventRoutingKey(conversationOfKey(m.room)!, 'message'))] : [input];
    const statement = probeStoredRefs ? this.appendProbing : this.appendTrusting;
    const { rows } = await this.db.query<AppendRow>(statement.text, params, statement.name);
    const lastSeq = new Map<string, number>();
    const refused = new Map<number, AppendRow>();
    for (const r of rows) {
      if (r.counter_room !== null) lastSeq.set(r.counter_room, Number(r.counter_seq));
      else refused.set(Number(r.ord), r);
    }
    // The statement numbered each room's accepted messages in batch order, ending at its counter.
    const acceptedIn = new Map<string, number>();
    batch.forEach((m, i) => {
      if (firstOf[i] === i && !refused.has(i)) acceptedIn.set(m.room, (acceptedIn.get(m.room) ?? 0) + 1);
    });
    const nextSeq = new Map<string, number>();
    for (const [room, count] of acceptedIn) nextSeq.set(room, lastSeq.get(room)! - count + 1);
    const outcomes: AppendOutcome[] = [];
    batch.forEach((m, i) => {
      if (firstOf[i] !== i) {
        // Repeated within this batch: the first occurrence is the original.
        const first = outcomes[firstOf[i]];
        outcomes.push(first.status === 'stored' ? { status: 'duplicate', message: first.message } : first);
        return;
      }
      const r = refused.get(i);
      if (r?.muted_until != null) {
        outcomes.push({ status: 'muted', until: Number(r.muted_until) });
      } else if (r) {
        // A duplicate shares room, user and ref with its original by definition.
        outcomes.push({ status: 'duplicate', message: toMessage({ ...r, room: m.room, user_id: m.user, ref: m.ref ?? null } as MessageRow) });
      } else {
        const seq = nextSeq.get(m.room)!;
        nextSeq.set(m.room, seq + 1);
        const message: MessageEvent = { type: 'message', id: m.id, room: m.room, seq, user: m.user, name: m.name, text: m.text, ts: m.ts };
        if (m.ref !== undefined) message.ref = m.ref;
        outcomes.push({ status: 'stored', message, encoded: Buffer.from(`{"type":"message",${fields[i]},"seq":${seq}}`) });
      }
    });
    return outcomes;
  }

  async history(room: string, query: HistoryQuery): Promise<HistoryPage> {
    // Paging forward (after=) reads the oldest rows past `after`; otherwise the newest before `before`.
    const forward = query.after !== undefined;
    const { rows } = await this.db.query<MessageRow>(
      `SELECT ${MESSAGE_COLUMNS} FROM chat_messages
        WHERE room = $1 AND seq > $2 AND ($3::bigint IS NULL OR seq < $3)
        ORDER BY seq ${forward ? 'ASC' : 'DESC'} LIMIT $4`,
      [room, query.after ?? 0, query.before ?? null, query.limit + 1],
    );
    const has_more = rows.length > query.limit;
    const page = rows.slice(0, query.limit).map(toMessage);
    if (!forward) page.reverse();
    return { messages: page, has_more };
  }

  async rooms(query: RoomsQuery): Promise<RoomsPage> {
    // Walks the primary key in order from `after`; one row past the limit says whether more follow.
    const { rows } = await this.db.query<{ room: string; last_seq: number | string }>(
      `SELECT room, last_seq FROM chat_rooms
        WHERE room NOT LIKE 'dm:%' AND room > $1 AND starts_with(room, $2)
        ORDER BY room LIMIT $3`,
      [query.after ?? '', query.prefix ?? '', query.limit + 1],
    );
    return {
      rooms: rows.slice(0, query.limit).map((r) => ({ room: r.room, last_seq: Number(r.last_seq) })),
      has_more: rows.length > query.limit,
    };
  }

  edit(room: string, seq: number, check: ModerationCheck, text: string, editedTs: number): Promise<EditEvent> {
    return this.changeMessage(room, seq, check, async (tx) => {
      await tx.query('UPDATE chat_messages SET text = $3, edited_ts = $4 WHERE room = $1 AND seq = $2', [room, seq, text, editedTs]);
      return { type: 'edit', room, seq, text, edited_ts: editedTs };
    });
  }

  delete(room: string, seq: number, check: ModerationCheck, by: string, ts: number): Promise<DeleteEvent> {
    return this.changeMessage(room, seq, check, async (tx) => {
      // A tombstone: the row (and its seq) stays so history has no hole; the text is gone.
      await tx.query("UPDATE chat_messages SET text = '', deleted_by = $3, deleted_ts = $4 WHERE room = $1 AND seq = $2", [room, seq, by, ts]);
      return { type: 'delete', room, seq, by };
    });
  }

  private async changeMessage<E extends EditEvent | DeleteEvent>(
    room: string,
    seq: number,
    check: ModerationCheck,
    change: (tx: Sql) => Promise<E>,
  ): Promise<E> {
    const event = await this.db.transaction(async (tx) => {
      const { rows } = await tx.query<MessageRow & { muted_until: number | string | null }>(
        `SELECT ${MESSAGE_COLUMNS_OF_M}, mute.until_ts AS muted_until
           FROM chat_messages m LEFT JOIN chat_mutes mute ON mute.room = m.room AND mute.user_id = m.user_id
          WHERE m.room = $1 AND m.seq = $2 FOR UPDATE OF m`,
        [room, seq],
      );
      const row = rows[0];
      if (!row) throw new ChatError('not_found', `no message ${seq} in ${room}`);
      check(toMessage(row), row.muted_until === null ? null : Number(row.muted_until));
      const e = await change(tx);
      await this.queueOutbox(tx, [e]);
      return e;
    });
    this.notifyOutbox(true);
    return event;
  }

  async mute(room: string, user: string, until: number, by: string): Promise<MuteEvent> {
    const event: MuteEvent = { type: 'mute', room, user, until, by };
    await this.db.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO chat_mutes (room, user_id, until_ts, by_user) VALUES ($1, $2, $3, $4)
         ON CONFLICT (room, user_id) DO UPDATE SET until_ts = EXCLUDED.until_ts, by_user = EXCLUDED.by_user`,
        [room, user, until, by],
      );
      await this.queueOutbox(tx, [event]);
    });
    this.notifyOutbox(true);
    return event;
  }

  async relayOutbox(holder: string, limit: number, send: (rows: readonly OutboxRow[]) => Promise<void>): Promise<number> {
    // The lease is renewed once a third of it has passed, not on every poll: an idle relay polls
    // four times a second, and each renewal is a committed write.
    const renewedAt = this.leaseRenewedAt.get(holder);
    if (renewedAt === undefined || performance.now() - renewedAt > (LEASE_SECONDS * 1000) / 3) {
      const asked = performance.now();
      const lease = await this.db.query(
        `UPDATE chat_outbox_lease SET holder = $1, until = now() + make_interval(secs => $2)
          WHERE name = 'relay' AND (holder = $1 OR until < now()) RETURNING holder`,
        [holder, LEASE_SECONDS],
      );
      if (lease.rows.length === 0) {
        this.leaseRenewedAt.delete(holder);
        return 0;
      }
      this.leaseRenewedAt.set(holder, asked);
    }
    const { rows } = await this.db.query<{ id: number | string; routing_key: string; body: string }>(
      'SELECT id, routing_key, body FROM chat_outbox ORDER BY id LIMIT $1',
      [limit],
    );
    if (rows.length === 0) return 0;
    const batch = rows.map((r) => ({ id: Number(r.id), routingKey: r.routing_key, body: r.body }));
    await send(batch);
    // Deleted by id, not up to the highest: a row whose transaction committed late keeps its turn.
    await this.db.query('DELETE FROM chat_outbox WHERE id = ANY($1::bigint[])', [batch.map((r) => r.id)]);
    return batch.length;
  }

  async releaseOutbox(holder: string): Promise<void> {
    this.leaseRenewedAt.delete(holder);
    await this.db.query("UPDATE chat_outbox_lease SET until = now() - interval '1 second' WHERE name = 'relay' AND holder = $1", [holder]);
  }

  private async queueOutbox(tx: Sql, events: readonly ChatEvent[]): Promise<void> {
    if (!this.options.outbox || events.length === 0) return;
    await tx.query('INSERT INTO chat_outbox (routing_key, body) SELECT * FROM unnest($1::text[], $2::text[])', this.outboxColumns(events));
  }

  /** Routing keys and bodies of the outbox rows for these events (none when the outbox is off). */
  private outboxColumns(events: readonly ChatEvent[]): [string[], string[]] {
    if (!this.options.outbox) return [[], []];
    return [events.map((e) => eventRoutingKey(conversationOfKey(e.room)!, e.type)), events.map((e) => JSON.stringify(e))];
  }

  onOutboxQueued(listener: () => void): () => void {
    this.outboxListeners.add(listener);
    return () => this.outboxListeners.delete(listener);
  }

  private notifyOutbox(queued: boolean): void {
    if (!queued || !this.options.outbox) return;
    for (const listener of this.outboxListeners) listener();
  }
}

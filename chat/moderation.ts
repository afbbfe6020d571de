import { hasRole, type Identity } from '../protocol/identity.js';
import { ChatError } from './errors.js';
import type { MessageEvent } from './events.js';
import type { ModerationCheck } from './store.js';

/** Who may change a stored message: pure decisions, run by the store under the row lock. */

/**
 * The longest mute: ten years, for all practical purposes permanent. Anything later is refused
 * at the edge, so every stored `until` stays a date JavaScript can print.
 */
export const MUTE_MAX_MS = 10 * 365 * 24 * 3600 * 1000;

/** Edits are speech too: a muted author may not change what the room reads. */
export function mayEdit(actor: Identity, now: number, windowMs: number): ModerationCheck {
  return (m: MessageEvent, authorMutedUntil: number | null) => {
    if (m.deleted) throw new ChatError('deleted', `message ${m.seq} was deleted`);
    if (m.user !== actor.sub) throw new ChatError('forbidden', 'only the author may edit a message');
    if (authorMutedUntil !== null && authorMutedUntil > now) throw mutedError(authorMutedUntil);
    if (now - m.ts > windowMs) throw new ChatError('edit_window_closed', `messages can be edited for ${Math.round(windowMs / 1000)} s`);
  };
}

export function mayDelete(actor: Identity): ModerationCheck {
  return (m: MessageEvent) => {
    if (m.deleted) throw new ChatError('deleted', `message ${m.seq} was already deleted`);
    if (m.user !== actor.sub && !hasRole(actor, 'moderator')) throw new ChatError('forbidden', 'only the author or a moderator may delete a message');
  };
}

export function assertMayMute(actor: Identity, until: number, now: number): void {
  if (!hasRole(actor, 'moderator')) throw new ChatError('forbidden', 'only a moderator may mute');
  if (until <= now) throw new ChatError('invalid_payload', 'until must be in the future');
  if (until > now + MUTE_MAX_MS) throw new ChatError('invalid_payload', 'until must be at most 10 years ahead');
}

/** Never throws, whatever `until` a store holds (a mute stored before the 10-year bound included). */
export function mutedError(until: number): ChatError {
  const date = new Date(until);
  const when = Number.isNaN(date.getTime()) ? 'further notice' : date.toISOString();
  return new ChatError('muted', `you are muted here until ${when}`);
}

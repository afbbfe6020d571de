import { hasRole, type Identity } from '../protocol/identity.js';
import { ChatError } from './errors.js';
import type { MessageEvent } from './events.js';
import type { ModerationCheck } from './store.js';

/** Who may change a stored message: pure decisions, run by the store under the row lock. */

export function mayEdit(actor: Identity, now: number, windowMs: number): ModerationCheck {
  return (m: MessageEvent) => {
    if (m.deleted) throw new ChatError('deleted', `message ${m.seq} was deleted`);
    if (m.user !== actor.sub) throw new ChatError('forbidden', 'only the author may edit a message');
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
}

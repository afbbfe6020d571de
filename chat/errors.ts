/** Why a chat action was refused: a stable code for programs, a message for people. */
export type ChatErrorCode =
  'invalid_payload' | 'invalid_topic' | 'rate_limited' | 'muted' | 'not_found' | 'forbidden' | 'edit_window_closed' | 'deleted' | 'unavailable';

const HTTP_STATUS: Record<ChatErrorCode, number> = {
  invalid_payload: 400,
  invalid_topic: 400,
  rate_limited: 429,
  muted: 403,
  not_found: 404,
  forbidden: 403,
  edit_window_closed: 403,
  deleted: 409,
  unavailable: 503,
};

export class ChatError extends Error {
  constructor(
    readonly code: ChatErrorCode,
    message: string,
    /** For 'rate_limited': when to try again (HTTP `Retry-After`). */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'ChatError';
  }

  get statusCode(): number {
    return HTTP_STATUS[this.code];
  }
}

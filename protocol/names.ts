/** Identifier patterns of docs/protocol.md#conventions, shared by every edge that validates them. */
export const SYMBOL_PATTERN = /^[A-Za-z0-9._-]{1,32}$/;
export const ROOM_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;
export const USER_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

export const ROLES = ['trader', 'feed', 'moderator', 'admin'] as const;
export type UserRole = (typeof ROLES)[number];

export const RESOLUTIONS = ['1S', '1', '5', '15', '30', '60', '240', '1D', '1W', '1M'] as const;
export type Resolution = (typeof RESOLUTIONS)[number];

import type { UserRole } from './names.js';

/** Who is on the other end of a connection or request, as proven by a verified token. */
export interface Identity {
  sub: string;
  name: string;
  roles: readonly UserRole[];
}

/** Unauthenticated MQTT clients (market data only, when allowed). */
export type Principal = Identity | null;

export function hasRole(who: Principal, role: UserRole): boolean {
  return who !== null && who.roles.includes(role);
}

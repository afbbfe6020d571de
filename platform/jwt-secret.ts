import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ConfigError } from '../protocol/config.js';
import type { Logger } from './logger.js';

export const JWT_SECRET_FILE = 'jwt-secret';

/**
 * The HS256 secret when AUTH_JWT_SECRET is unset: generated once into `DATA_DIR/jwt-secret` (mode
 * 0600) and read from there on every later start, so a restart does not sign everyone out. Only the
 * path is logged, never the value. Undefined when DATA_DIR cannot be written (a read-only volume):
 * the caller then uses a secret per start, as it says in the log.
 */
export function keptJwtSecret(dataDir: string, log: Logger): string | undefined {
  const path = join(dataDir, JWT_SECRET_FILE);
  try {
    const created = createSecretFile(path);
    const secret = readFileSync(path, 'utf8').trim();
    if (secret.length < 16) {
      throw new ConfigError('AUTH_JWT_SECRET', `${path} holds fewer than 16 characters: delete it to have one generated, or set AUTH_JWT_SECRET`);
    }
    if ((statSync(path).mode & 0o077) !== 0) log.warn({ path }, 'the JWT secret file is readable by other users: chmod 600 it');
    log.info({ path, created }, `AUTH_JWT_SECRET unset: tokens are signed with the secret ${created ? 'generated into' : 'kept in'} ${path}`);
    return secret;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EACCES' && code !== 'EROFS' && code !== 'EPERM') throw err;
    log.warn({ path, code }, 'AUTH_JWT_SECRET unset and DATA_DIR not writable: tokens are signed with a random per-start secret');
    return undefined;
  }
}

/**
 * The secret a server started without AUTH_JWT_SECRET keeps in `DATA_DIR/jwt-secret`, read without
 * creating it (for `ticktalk token`): undefined when there is none or it is too short to be one.
 */
export function readKeptJwtSecret(dataDir: string): string | undefined {
  try {
    const secret = readFileSync(join(dataDir, JWT_SECRET_FILE), 'utf8').trim();
    return secret.length >= 16 ? secret : undefined;
  } catch {
    return undefined;
  }
}

/** True when this call wrote the file; an existing one (another process may have just written it) is kept. */
function createSecretFile(path: string): boolean {
  mkdirSync(dirname(path), { recursive: true });
  try {
    writeFileSync(path, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

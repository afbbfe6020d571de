import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ConfigError, type ConfigProblem, type RawConfig } from '../protocol/config.js';
import { loadOperatorAcl } from './operator-acl.js';

/**
 * What `serve` would refuse at start beyond the schema, found without a network: an unreadable or
 * invalid ACL_FILE, a DATA_DIR PGlite could not write. Takes the variables that parsed, so
 * `config --check` reports these beside the schema's problems.
 */
export function startProblems(valid: Partial<RawConfig>): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  if (valid.ACL_FILE) {
    try {
      loadOperatorAcl(valid.ACL_FILE);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(...err.problems);
    }
  }
  // PGlite is the database only when DATABASE_URL is validly unset.
  if ('DATABASE_URL' in valid && valid.DATABASE_URL === undefined && valid.DATA_DIR) {
    const problem = unwritableDir(valid.DATA_DIR);
    if (problem) problems.push({ variable: 'DATA_DIR', message: problem });
  }
  return problems;
}

/** PGlite creates the directory when missing: the nearest existing ancestor must be a writable directory. */
function unwritableDir(dir: string): string | undefined {
  let existing = resolve(dir);
  while (!existsSync(existing)) existing = dirname(existing);
  if (!statSync(existing).isDirectory()) return `${existing} is not a directory`;
  try {
    accessSync(existing, constants.W_OK);
    return undefined;
  } catch {
    return existing === resolve(dir) ? `${dir} is not writable` : `${dir} does not exist and ${existing} is not writable`;
  }
}

import { readFileSync } from 'node:fs';
import { OperatorAcl } from '../broker/acl-file.js';
import { ConfigError } from '../protocol/config.js';

/**
 * ACL_FILE read and parsed, as `serve` loads it and `config --check` checks it: an unreadable or
 * invalid file is a ConfigError naming ACL_FILE.
 */
export function loadOperatorAcl(path: string): OperatorAcl {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError('ACL_FILE', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    return OperatorAcl.parse(text);
  } catch (err) {
    throw new ConfigError('ACL_FILE', (err as Error).message);
  }
}

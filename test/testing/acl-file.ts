import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** An ACL_FILE (Mosquitto syntax, docs/protocol.md#operator-rules) with `rules`, in a fresh temporary directory. */
export function writeAclFile(rules: readonly string[]): string {
  const file = join(mkdtempSync(join(tmpdir(), 'ticktalk-acl-')), 'acl');
  writeFileSync(file, [...rules, ''].join('\n'));
  return file;
}

import { z } from 'zod';
import { Hs256Auth, parseTtl } from '../../platform/auth.js';
import { readKeptJwtSecret } from '../../platform/jwt-secret.js';
import { loadConfig } from '../../protocol/config.js';
import { ROLES, USER_PATTERN } from '../../protocol/names.js';
import { parseCommandArgs, UsageError, type Command } from '../args.js';

const inputSchema = z.object({
  sub: z.string({ error: '--sub is required' }).regex(USER_PATTERN, '--sub must match [A-Za-z0-9_.-]{1,64}'),
  name: z.string().min(1, '--name must not be empty').max(64, '--name is at most 64 characters').optional(),
  roles: z.array(z.enum(ROLES, { message: `--roles takes ${ROLES.join(', ')}` })).optional(),
  ttl: z.string().transform((text, ctx) => {
    try {
      return parseTtl(text);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `--ttl: ${(err as Error).message}` });
      return z.NEVER;
    }
  }),
});

const options = {
  sub: { type: 'string', arg: 'ID', doc: 'user id, [A-Za-z0-9_.-]{1,64} (required)' },
  name: { type: 'string', arg: 'N', doc: 'display name, 1 to 64 characters' },
  roles: { type: 'string', arg: 'r1,r2', doc: `comma-separated roles: ${ROLES.join(', ')}` },
  ttl: { type: 'string', arg: 'T', default: '1h', doc: 'lifetime: seconds, or 45s, 30m, 1h, 7d' },
} as const;

export const command: Command = {
  name: 'token',
  summary: 'print a JWT signed with AUTH_JWT_SECRET (or the secret the server keeps in DATA_DIR)',
  usage: 'ticktalk token --sub ID [--name N] [--roles r1,r2] [--ttl 1h]',
  options,
  async run(argv) {
    const { values } = parseCommandArgs(argv, options);
    const parsed = inputSchema.safeParse({
      ...values,
      roles: values.roles
        ?.split(',')
        .map((r) => r.trim())
        .filter(Boolean),
    });
    // Every bad flag at once, so a second try is the last.
    if (!parsed.success) throw new UsageError([...new Set(parsed.error.issues.map((i) => i.message))].join('; '));
    const config = loadConfig(process.env);
    // The same secret `serve` uses: the setting, or else the one a server keeps in DATA_DIR.
    const secret = config.AUTH_JWT_SECRET ?? readKeptJwtSecret(config.DATA_DIR);
    if (!secret) {
      throw new UsageError(
        `AUTH_JWT_SECRET is not set and ${config.DATA_DIR}/jwt-secret does not exist: a token signed with a random secret would be accepted nowhere (start the server once, or set AUTH_JWT_SECRET)`,
      );
    }
    const { ttl, ...claims } = parsed.data;
    const token = await new Hs256Auth(secret).issue(claims, ttl);
    process.stdout.write(`${token}\n`);
    return 0;
  },
};

import { z } from 'zod';
import { Hs256Auth, parseTtl } from '../../platform/auth.js';
import { loadConfig } from '../../protocol/config.js';
import { ROLES, USER_PATTERN } from '../../protocol/names.js';
import { parseCommandArgs, UsageError, type Command } from '../args.js';

const inputSchema = z.object({
  sub: z.string().regex(USER_PATTERN, '--sub must match [A-Za-z0-9_.-]{1,64}'),
  name: z.string().min(1).max(64).optional(),
  roles: z.array(z.enum(ROLES, { message: `--roles takes ${ROLES.join(', ')}` })).optional(),
  ttl: z.number().int().positive(),
});

export const command: Command = {
  name: 'token',
  summary: 'print a JWT signed with AUTH_JWT_SECRET',
  usage: 'ticktalk token --sub ID [--name N] [--roles r1,r2] [--ttl 1h]',
  async run(argv) {
    const { values } = parseCommandArgs(argv, {
      sub: { type: 'string' },
      name: { type: 'string' },
      roles: { type: 'string' },
      ttl: { type: 'string', default: '1h' },
    });
    const config = loadConfig(process.env);
    if (!config.AUTH_JWT_SECRET) {
      throw new UsageError('AUTH_JWT_SECRET is not set: a token signed with a random secret would be accepted nowhere');
    }
    let ttl: number;
    try {
      ttl = parseTtl(values.ttl ?? '1h');
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const parsed = inputSchema.safeParse({
      sub: values.sub,
      name: values.name,
      roles: values.roles?.split(',').map((r) => r.trim()).filter(Boolean),
      ttl,
    });
    if (!parsed.success) throw new UsageError(parsed.error.issues[0]?.message ?? 'invalid arguments');
    const token = await new Hs256Auth(config.AUTH_JWT_SECRET).issue(parsed.data, parsed.data.ttl);
    process.stdout.write(`${token}\n`);
    return 0;
  },
};

import { loadConfig } from '../../protocol/config.js';
import { parseCommandArgs, UsageError, type Command } from '../args.js';
import { parseRoles, startApp, ROLE_NAMES } from '../app.js';

export const command: Command = {
  name: 'serve',
  summary: 'run the chosen roles (default: all, on embedded defaults)',
  usage: `ticktalk serve [--roles ${ROLE_NAMES.join(',')}]`,
  async run(argv) {
    const { values } = parseCommandArgs(argv, { roles: { type: 'string' } });
    let roles;
    try {
      roles = parseRoles(values.roles);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const config = loadConfig(process.env);
    const app = await startApp({ config, roles });
    const log = app.ctx.log;

    await new Promise<void>((resolve) => {
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) {
          log.warn({ signal }, 'second signal: exiting now');
          process.exit(1);
        }
        stopping = true;
        log.info({ signal }, 'shutting down');
        app.stop().then(resolve, (err) => {
          log.error({ err }, 'shutdown failed');
          resolve();
        });
      };
      // `on`, not `once`: a repeated signal must reach the handler (which exits), not Node's default.
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
    });
    log.info('stopped');
    return 0;
  },
};

import { ConfigError, loadConfig } from '../../protocol/config.js';
import { parseCommandArgs, UsageError, type Command } from '../args.js';
import { parseRoles, startApp, ROLE_NAMES } from '../app.js';
import { startProblems } from '../start-checks.js';
import { startSummary } from '../start-summary.js';

const options = {
  roles: { type: 'string', arg: 'r1,r2', doc: `roles to run in this process: ${ROLE_NAMES.join(', ')} (default all)` },
} as const;

export const command: Command = {
  name: 'serve',
  summary: 'run the chosen roles (default: all, on embedded defaults)',
  usage: `ticktalk serve [--roles ${ROLE_NAMES.join(',')}]`,
  options,
  async run(argv) {
    const { values } = parseCommandArgs(argv, options);
    let roles;
    try {
      roles = parseRoles(values.roles);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const config = loadConfig(process.env);
    const problems = startProblems(config);
    if (problems.length > 0) throw new ConfigError(problems);
    const app = await startApp({ config, roles });
    const log = app.ctx.log;
    process.stderr.write(`${startSummary(app, roles)}\n`);

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

import { ConfigError } from '../protocol/config.js';
import { UsageError, type Command } from './args.js';
import { command as serve } from './commands/serve.js';
import { command as token } from './commands/token.js';
import { command as config } from './commands/config.js';
import { command as feedSim } from './commands/feed-sim.js';
import { command as replay } from './commands/replay.js';

const commands: Command[] = [serve, token, feedSim, replay, config];

function help(): string {
  return [
    'ticktalk: live market ticks and chat over one MQTT connection',
    '',
    'usage:',
    // Usage lines differ widely in length: each summary goes on its own line, indented alike.
    ...commands.flatMap((c) => [`  ${c.usage}`, `      ${c.summary}`]),
    '',
    'serve stops gracefully on Ctrl-C (SIGINT) or SIGTERM; a second one exits at once.',
    'configuration is by environment variable; see the README.',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${help()}\n`);
    return name ? 0 : 2;
  }
  const cmd = commands.find((c) => c.name === name);
  if (!cmd) {
    process.stderr.write(`ticktalk: unknown command "${name}"\n\n${help()}\n`);
    return 2;
  }
  try {
    return await cmd.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`ticktalk ${cmd.name}: ${err.message}\nusage: ${cmd.usage}\n`);
      return 2;
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`ticktalk: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    // A failed start may leave timers and pools open: do not wait for them.
    if (code !== 0) process.exit(code);
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`ticktalk: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);

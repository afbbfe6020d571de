import { ConfigError } from '../protocol/config.js';
import { commandHelp, UsageError, type Command } from './args.js';
import { columns } from './columns.js';
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
    'usage: ticktalk COMMAND [options]',
    '',
    'commands:',
    ...columns(commands.map((c) => [c.name, c.summary])),
    '',
    "`ticktalk COMMAND --help` lists a command's options.",
    'serve stops gracefully on Ctrl-C (SIGINT) or SIGTERM; a second one exits at once.',
    'Configuration is by environment variable; see the README.',
  ].join('\n');
}

/** `--help` anywhere before a `--` asks for the command's help instead of running it. */
function wantsHelp(argv: string[]): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).some((a) => a === '--help' || a === '-h');
}

function report(name: string, err: unknown, usage: string): number | undefined {
  if (err instanceof UsageError) {
    process.stderr.write(`ticktalk ${name}: ${err.message}\nusage: ${usage}\n`);
    return 2;
  }
  if (err instanceof ConfigError) {
    // One line per bad variable, each on its own so none hides behind another.
    process.stderr.write(
      err.message
        .split('\n')
        .map((line) => `ticktalk: ${line}\n`)
        .join(''),
    );
    return 2;
  }
  return undefined;
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
  if (wantsHelp(rest)) {
    process.stdout.write(`${commandHelp(cmd)}\n`);
    return 0;
  }
  try {
    return await cmd.run(rest);
  } catch (err) {
    const code = report(cmd.name, err, cmd.usage);
    if (code === undefined) throw err;
    return code;
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

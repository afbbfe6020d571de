import { configTable, loadConfig } from '../../protocol/config.js';
import { parseCommandArgs, type Command } from '../args.js';

export const command: Command = {
  name: 'config',
  summary: 'check the environment (--check) or print the variable table (--markdown)',
  usage: 'ticktalk config [--check | --markdown]',
  async run(argv) {
    const { values } = parseCommandArgs(argv, { check: { type: 'boolean' }, markdown: { type: 'boolean' } });
    if (values.markdown) {
      process.stdout.write(`${configTable()}\n`);
      return 0;
    }
    // loadConfig throws ConfigError naming the variable; main prints it and exits 2.
    const config = loadConfig(process.env);
    const shown = Object.fromEntries(
      Object.entries(config).map(([k, v]) => [k, /SECRET|URL/.test(k) && v !== undefined ? '(set)' : v]),
    );
    process.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
    return 0;
  },
};

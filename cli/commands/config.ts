import { checkConfig, configTable, configVars, ConfigError, shownValue, type Config } from '../../protocol/config.js';
import { parseCommandArgs, UsageError, type Command } from '../args.js';
import { columns } from '../columns.js';
import { startProblems } from '../start-checks.js';
import { engineRows } from '../start-summary.js';

const options = {
  check: { type: 'boolean', doc: 'validate the environment as serve would; list every problem, exit 2 if any (the default)' },
  markdown: { type: 'boolean', doc: 'print the variable table of the README' },
} as const;

/** What a good configuration amounts to: the variables set (secrets hidden) and the engines picked. */
function okSummary(config: Config, env: NodeJS.ProcessEnv): string {
  const set = Object.keys(configVars).filter((name) => env[name] !== undefined && env[name] !== '');
  const setRows = set.map((name): [string, string] => [name, shownValue(name, env[name] ?? '')]);
  return [
    `configuration OK: ${set.length === 0 ? 'every variable at its default' : `${set.length} set, the rest default`}`,
    ...columns(setRows),
    'engines:',
    ...columns(engineRows(config)),
  ].join('\n');
}

export const command: Command = {
  name: 'config',
  summary: 'check the environment (--check) or print the variable table (--markdown)',
  usage: 'ticktalk config [--check | --markdown]',
  options,
  async run(argv) {
    const { values } = parseCommandArgs(argv, options);
    if (values.markdown && values.check) throw new UsageError('give --check or --markdown, not both');
    if (values.markdown) {
      process.stdout.write(`${configTable()}\n`);
      return 0;
    }
    const { config, problems, valid } = checkConfig(process.env);
    const all = [...problems, ...startProblems(valid)];
    // main prints one line per problem on stderr and exits 2, as serve does.
    if (!config || all.length > 0) throw new ConfigError(all);
    process.stdout.write(`${okSummary(config, process.env)}\n`);
    return 0;
  },
};

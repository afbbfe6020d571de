import { parseArgs } from 'node:util';
import { columns } from './columns.js';

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** One flag: what node:util parseArgs needs, plus its line in the command's help. */
export interface OptionSpec {
  type: 'string' | 'boolean';
  default?: string;
  /** Placeholder shown after the flag in help (`--sub ID`). */
  arg?: string;
  doc: string;
}
export type OptionSpecs = Record<string, OptionSpec>;

/** node:util's parse errors, said the way the rest of the CLI speaks (exit code 2, message on stderr). */
function usageMessage(err: NodeJS.ErrnoException): string {
  const quoted = /'([^']*)'/.exec(err.message)?.[1] ?? '';
  switch (err.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option ${quoted}`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return `${quoted.split(' ')[0]} ${/argument missing/.test(err.message) ? 'needs a value' : 'takes no value'}`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument "${quoted}"`;
    default:
      return err.message;
  }
}

/** node:util parseArgs over a command's option specs, with errors turned into UsageError. */
export function parseCommandArgs<T extends OptionSpecs>(argv: string[], options: T, allowPositionals = false) {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (err) {
    throw new UsageError(usageMessage(err as NodeJS.ErrnoException));
  }
}

export interface Command {
  name: string;
  summary: string;
  usage: string;
  options: OptionSpecs;
  /** Positional arguments, for help. */
  operands?: readonly (readonly [string, string])[];
  /** Resolves with the process exit code. */
  run(argv: string[]): Promise<number>;
}

/** `ticktalk COMMAND --help`: usage, summary, then every flag with its meaning in aligned columns. */
export function commandHelp(cmd: Command): string {
  const flags = Object.entries(cmd.options).map(([name, spec]): [string, string] => [
    `--${name}${spec.arg ? ` ${spec.arg}` : ''}`,
    `${spec.doc}${spec.default === undefined ? '' : ` (default ${spec.default})`}`,
  ]);
  return [
    `usage: ${cmd.usage}`,
    '',
    cmd.summary,
    ...(cmd.operands ? ['', 'arguments:', ...columns(cmd.operands)] : []),
    '',
    'options:',
    ...columns([...flags, ['-h, --help', 'show this help']]),
  ].join('\n');
}

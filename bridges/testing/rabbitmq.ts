import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The local RabbitMQ of the dev machine and CI. */
export const RABBIT_URL = process.env.TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

/**
 * A throwaway vhost on the local RabbitMQ (created with rabbitmqctl, guest given full rights), so a
 * suite can use the contract names (`mt.ticks`, …) without touching anyone else's objects.
 */
export async function privateVhost(prefix = 'tt'): Promise<{ name: string; url: string; drop: () => Promise<void> }> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  await run('rabbitmqctl', ['add_vhost', name]);
  await run('rabbitmqctl', ['set_permissions', '-p', name, 'guest', '.*', '.*', '.*']);
  const url = new URL(RABBIT_URL);
  url.pathname = `/${encodeURIComponent(name)}`;
  return {
    name,
    url: url.toString(),
    drop: async () => {
      await run('rabbitmqctl', ['delete_vhost', name]);
    },
  };
}

/** `rabbitmqctl list_queues` for one vhost, as objects. */
export async function listQueues(
  vhost: string,
): Promise<{ name: string; arguments: Record<string, unknown>; messages: number; consumers: number }[]> {
  const { stdout } = await run('rabbitmqctl', ['list_queues', '-p', vhost, '--formatter', 'json', 'name', 'arguments', 'messages', 'consumers']);
  // rabbitmqctl writes arguments as [name, type, value] triples.
  const rows: { name: string; arguments: [string, string, unknown][]; messages: number; consumers: number }[] = JSON.parse(stdout);
  return rows.map((row) => ({ ...row, arguments: Object.fromEntries(row.arguments.map(([key, , value]) => [key, value])) }));
}

/** Server-side close of the connection whose client named itself `connectionName` (a crash, as RabbitMQ sees it). */
export async function closeConnectionNamed(connectionName: string): Promise<void> {
  const { stdout } = await run('rabbitmqctl', ['list_connections', '-q', '--no-table-headers', 'pid', 'client_properties']);
  const line = stdout.split('\n').find((l) => l.includes(`{"connection_name","${connectionName}"}`));
  if (!line) throw new Error(`no connection named ${connectionName}`);
  await run('rabbitmqctl', ['close_connection', line.split('\t')[0], 'killed by test']);
}

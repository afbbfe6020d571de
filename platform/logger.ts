import { pino, type Logger } from 'pino';

export type { Logger };

/** One structured JSON event per line on stdout; every record names the node. */
export function createLogger(level: string, nodeId: string): Logger {
  return pino({ level, base: { node: nodeId }, timestamp: pino.stdTimeFunctions.isoTime });
}

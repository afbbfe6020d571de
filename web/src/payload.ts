import * as z from 'zod/mini';

const decoder = new TextDecoder();

/**
 * An MQTT payload checked against its schema, or undefined when it is not valid JSON of that
 * shape. Messages from the broker are still an edge: a malformed one is skipped, never drawn.
 */
export function parsePayload<T>(schema: z.ZodMiniType<T>, payload: Uint8Array | string): T | undefined {
  let json: unknown;
  try {
    json = JSON.parse(typeof payload === 'string' ? payload : decoder.decode(payload));
  } catch {
    return undefined;
  }
  const parsed = schema.safeParse(json);
  return parsed.success ? parsed.data : undefined;
}

/**
 * Disconnects clients gradually so that a rolling restart does not send every client of a pod to
 * the remaining pods in the same instant: the clients are closed in equal slices spread evenly
 * over the drain period. Clients reconnect (with their own backoff) to another pod behind the
 * load balancer, and persistent sessions resume there from the shared Redis persistence.
 */
export interface Closable {
  close(): void;
}

export async function drainGradually(
  clients: readonly Closable[],
  periodMs: number,
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
): Promise<void> {
  if (clients.length === 0) return;
  const slices = Math.max(1, Math.min(clients.length, Math.floor(periodMs / 100)));
  const perSlice = Math.ceil(clients.length / slices);
  const pause = periodMs / slices;
  for (let i = 0; i < clients.length; i += perSlice) {
    for (const client of clients.slice(i, i + perSlice)) client.close();
    if (i + perSlice < clients.length) await sleep(pause);
  }
}

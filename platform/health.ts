/**
 * Readiness is the conjunction of named checks registered by whatever the process runs
 * (database, Redis, RabbitMQ, listeners). Liveness is just "the event loop answers".
 */
export type ReadinessCheck = () => boolean | Promise<boolean>;

/**
 * A check that has not answered by then fails: /readyz and the readiness metric must answer while a
 * dependency drops packets (a query to it can wait minutes), or the scrape fails with them.
 */
const CHECK_TIMEOUT_MS = 2_000;

export class Health {
  private readonly checks = new Map<string, ReadinessCheck>();
  private draining = false;

  addCheck(name: string, check: ReadinessCheck): void {
    this.checks.set(name, check);
  }

  /** Once shutdown starts the process reports not ready so load balancers stop sending clients. */
  startDraining(): void {
    this.draining = true;
  }

  async readiness(): Promise<{ ready: boolean; checks: Record<string, boolean> }> {
    const checks: Record<string, boolean> = {};
    await Promise.all(
      [...this.checks].map(async ([name, check]) => {
        checks[name] = await answerWithin(check, CHECK_TIMEOUT_MS);
      }),
    );
    if (this.draining) checks.draining = false;
    return { ready: Object.values(checks).every(Boolean), checks };
  }
}

async function answerWithin(check: ReadinessCheck, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([Promise.resolve().then(check), late]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Readiness is the conjunction of named checks registered by whatever the process runs
 * (database, Redis, RabbitMQ, listeners). Liveness is just "the event loop answers".
 */
export type ReadinessCheck = () => boolean | Promise<boolean>;

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
        try {
          checks[name] = await check();
        } catch {
          checks[name] = false;
        }
      }),
    );
    if (this.draining) checks.draining = false;
    return { ready: Object.values(checks).every(Boolean), checks };
  }
}

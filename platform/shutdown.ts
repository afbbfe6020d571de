import type { Logger } from './logger.js';

/**
 * Ordered graceful shutdown: steps registered later stop first (listeners before stores),
 * each bounded so one stuck dependency cannot keep the process alive past its grace period.
 */
export class Shutdown {
  private readonly steps: { name: string; run: () => Promise<void>; timeoutMs?: number }[] = [];
  private running: Promise<void> | undefined;

  constructor(private readonly log: Logger) {}

  /** `timeoutMs` overrides the default bound for a step that is slow by design (the client drain). */
  add(name: string, run: () => Promise<void>, timeoutMs?: number): void {
    this.steps.push({ name, run, timeoutMs });
  }

  run(stepTimeoutMs = 30_000): Promise<void> {
    this.running ??= (async () => {
      for (const step of [...this.steps].reverse()) {
        const started = Date.now();
        try {
          await withTimeout(step.run(), step.timeoutMs ?? stepTimeoutMs, step.name);
          this.log.info({ step: step.name, ms: Date.now() - started }, 'stopped');
        } catch (err) {
          this.log.error({ err, step: step.name }, 'shutdown step failed');
        }
      }
    })();
    return this.running;
  }
}

function withTimeout(p: Promise<void>, ms: number, name: string): Promise<void> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<void>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${name} did not stop within ${ms} ms`)), ms);
      timer.unref();
    }),
  ]);
}

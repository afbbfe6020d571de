import type { Tick } from '../protocol/tick.js';

export type TickListener = (ticks: readonly Tick[]) => void;

/**
 * In-process fan-out of validated ticks. Sources (the simulator, the RabbitMQ tick bridge, replay)
 * publish here; sinks (the MQTT market publisher, the in-process aggregator) listen. A listener that
 * throws is isolated so one faulty sink never starves the others.
 */
export class TickHub {
  private readonly listeners = new Set<TickListener>();

  constructor(private readonly onListenerError: (err: unknown) => void = () => {}) {}

  subscribe(listener: TickListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  publish(ticks: readonly Tick[]): void {
    if (ticks.length === 0) return;
    for (const listener of this.listeners) {
      try {
        listener(ticks);
      } catch (err) {
        this.onListenerError(err);
      }
    }
  }
}

/** Anything that produces ticks into a hub: the simulator, the RabbitMQ bridge. */
export interface TickSource {
  start(hub: TickHub): Promise<void>;
  stop(): Promise<void>;
}

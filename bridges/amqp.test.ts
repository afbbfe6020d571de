import { describe, expect, it } from 'vitest';
import { withHeartbeat } from './amqp.js';

describe('withHeartbeat', () => {
  it('asks RabbitMQ for heartbeats unless the URL already chooses', () => {
    expect(withHeartbeat('amqp://guest:guest@127.0.0.1:5672/vh')).toBe('amqp://guest:guest@127.0.0.1:5672/vh?heartbeat=15');
    expect(withHeartbeat('amqp://127.0.0.1/?heartbeat=5&frameMax=0')).toBe('amqp://127.0.0.1/?heartbeat=5&frameMax=0');
  });
});

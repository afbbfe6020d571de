// One market-day client on a raw socket: CONNECT (JWT), one SUBSCRIBE (its symbols at QoS 0, its room
// at QoS 1), then it receives; a slow one reads in bursts (see SlowReading); it can publish chat.
import net from 'node:net';
import { connectFrame } from '../ticks/mqtt-wire.mjs';
import { connect5Frame, FrameReader, pubackFrame, qos1Publish5Frame, qos1PublishFrame, subscribeFrame } from './frames.mjs';

const CONNACK = 2;
const PUBACK = 4;
const SUBACK = 9;
/** The broker's largest keepalive: the clients send nothing but chat for the whole run. */
const KEEPALIVE_S = 300;
const HANDSHAKE_TIMEOUT_MS = 60_000;
/** An MQTT 5 client accepts this many topic aliases: more than the symbols it subscribes to. */
const TOPIC_ALIAS_MAXIMUM = 16;

export class LoadClient {
  /** `sink` receives what arrives: tick(payload), chat(client, payload), acked(client, messageId). */
  constructor(plan, sink) {
    this.plan = plan;
    this.sink = sink;
    this.socket = undefined;
    this.nextId = 1;
    this.waiting = new Map();
    this.reader = new FrameReader(
      (topic, payload, qos, messageId) => this.onPublish(topic, payload, qos, messageId),
      (type, frame) => this.onOther(type, frame),
      plan.mqtt5 === true,
    );
  }

  async open(port, password) {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress: this.plan.localAddress });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk) => this.reader.feed(chunk));
    socket.on('error', () => {});
    socket.on('close', () => this.sink.closed(this));
    await new Promise((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const connack = this.next(CONNACK, 'CONNACK');
    const connect = {
      clientId: this.plan.user,
      username: this.plan.user,
      password,
      keepalive: KEEPALIVE_S,
      topicAliasMaximum: TOPIC_ALIAS_MAXIMUM,
      maxTickRate: this.plan.maxTickRate,
    };
    socket.write(this.plan.mqtt5 ? connect5Frame(connect) : connectFrame(connect));
    const ack = await connack;
    if (ack[3] !== 0) throw new Error(`CONNACK return code ${ack[3]}`);
    const suback = this.next(SUBACK, 'SUBACK');
    const filters = [...this.plan.symbols.map((s) => [`ticks/${s}`, 0]), [`chat/rooms/${this.plan.room}`, 1]];
    socket.write(subscribeFrame(1, filters, this.plan.mqtt5));
    const granted = await suback;
    // Reason codes follow the packet id (and, in MQTT 5, the property block); any of 0x80 and up is a refusal.
    const codes = this.plan.mqtt5 ? granted.subarray(5 + granted[4]) : granted.subarray(4);
    if (codes.some((code) => code >= 0x80)) throw new Error('subscription refused');
  }

  /** A chat message on the client's room at QoS 1; returns its packet id. */
  publishChat(payload) {
    const id = this.nextId;
    this.nextId = id >= 65535 ? 1 : id + 1;
    const topic = `chat/rooms/${this.plan.room}`;
    this.socket.write(this.plan.mqtt5 ? qos1Publish5Frame(topic, payload, id) : qos1PublishFrame(topic, payload, id));
    return id;
  }

  close() {
    this.socket?.destroy();
  }

  next(type, what) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${what} within ${HANDSHAKE_TIMEOUT_MS / 1000} s`)), HANDSHAKE_TIMEOUT_MS);
      this.waiting.set(type, (frame) => {
        clearTimeout(timer);
        resolve(frame);
      });
    });
  }

  onPublish(topic, payload, qos, messageId) {
    if (qos === 1) this.socket.write(pubackFrame(messageId));
    if (topic.startsWith('ticks/')) this.sink.tick(this, payload);
    else if (topic.startsWith('chat/rooms/')) this.sink.chat(this, payload);
  }

  onOther(type, frame) {
    if (type === PUBACK) return this.sink.acked(this, frame.readUInt16BE(2));
    const waiter = this.waiting.get(type);
    if (!waiter) return;
    this.waiting.delete(type);
    waiter(frame);
  }
}

/**
 * A slow reader: an app that handles the socket in bursts, every 200-500 ms (uniform), reading
 * whatever has arrived and then nothing until the next burst (the kernel and the broker hold what
 * comes in between). It never stops reading for good.
 */
export class SlowReading {
  constructor(socket, rnd, minMs = 200, maxMs = 500) {
    this.socket = socket;
    this.rnd = rnd;
    this.minMs = minMs;
    this.maxMs = maxMs;
    this.timer = undefined;
    socket.pause();
    this.schedule();
  }

  schedule() {
    this.timer = setTimeout(() => this.burst(), this.minMs + this.rnd() * (this.maxMs - this.minMs));
  }

  burst() {
    if (this.socket.destroyed) return;
    this.socket.resume();
    // One pass of the poll phase reads what the kernel holds; then the app is busy again.
    setImmediate(() => {
      if (!this.socket.destroyed) this.socket.pause();
      this.schedule();
    });
  }

  stop() {
    clearTimeout(this.timer);
  }
}

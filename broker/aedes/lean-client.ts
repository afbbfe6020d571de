import { clientInternals, type Client } from './internals.js';

/** bl's plain BufferList: the parser's buffer without the Duplex stream bl wraps it in. */
type BufferListClass = new () => { length: number };

/**
 * Per-connection memory Aedes' client holds that ticktalk never uses (docs/protocol.md, Connection
 * storms and memory). Each step checks the shape it relies on and otherwise leaves the client as is.
 */
export function trimNewClient(client: Client): void {
  // mqtt-packet's parser buffers input in a BufferListStream, a Duplex of which only the list
  // methods are used; bl exports the same list without the stream (two stream states fewer).
  const parser = clientInternals(client)._parser;
  const plain = (parser?._list?.constructor as { BufferList?: unknown } | undefined)?.BufferList;
  if (typeof plain === 'function' && parser._list.length === 0) parser._list = new (plain as BufferListClass)();
}

/**
 * In preConnect: the parser keeps the whole CONNECT packet (password, client id, will) as its
 * settings for the connection's life, though it only reads these two fields of it.
 */
export function releaseConnectPacket(client: Client): void {
  const parser = clientInternals(client)._parser;
  const connect = parser?.settings as { protocolVersion?: unknown; bridgeMode?: unknown } | undefined;
  if (connect) parser.settings = { protocolVersion: connect.protocolVersion, bridgeMode: connect.bridgeMode };
}

// The reference of bench:idle: a bare Node TCP server holding each connection with a 'data' listener
// and nothing else (forked by main.mjs with probe.mjs preloaded).
import net from 'node:net';

const server = net.createServer((socket) => {
  socket.on('data', () => {});
  socket.on('error', () => {});
});
server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => process.send({ port: server.address().port }));
process.on('disconnect', () => process.exit(0));

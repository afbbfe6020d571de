// Preloaded (`node --import`) into every process bench:idle / bench:storm measures (the broker, the
// bare Node server): on request over IPC it forces full garbage collections and reports its memory,
// or writes a heap snapshot.
import v8 from 'node:v8';
import vm from 'node:vm';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');

const commands = {
  memory() {
    gc();
    gc();
    const { rss, heapUsed, heapTotal, external, arrayBuffers } = process.memoryUsage();
    return { rss, heapUsed, heapTotal, external, arrayBuffers };
  },
  snapshot({ path }) {
    return { path: v8.writeHeapSnapshot(path) };
  },
};

if (process.send) {
  process.on('message', (message) => {
    if (message?.probe === undefined) return;
    const { id, probe, args } = message;
    process.send({ id, result: commands[probe](args) });
  });
  // The channel must not keep the process alive once it has shut down.
  process.channel?.unref();
}

/**
 * The ticktalk side of `npm run bench:chat`, in a process of its own so the load generator does not
 * share its event loop: a broker node with the chat extension, wired as the composition root does.
 * Configuration comes from the environment (DATABASE_URL, AUTH_JWT_SECRET, CHAT_*); prints
 * `{"mqttPort":N}` once listening and stops on SIGTERM.
 */
import { loadConfig } from '../../protocol/config.js';
import { startApp } from '../../cli/app.js';
import { createChatService } from '../../chat/role.js';

const config = loadConfig({ ...process.env, HOST: '127.0.0.1', MQTT_PORT: '0', HTTP_PORT: '0', FEED_SIM: 'off', SHUTDOWN_DRAIN_S: '0' });
const app = await startApp({ config, roles: ['broker'] });
app.node.addExtension(await createChatService(app.ctx));
process.stdout.write(`${JSON.stringify({ mqttPort: app.ports.mqtt })}\n`);
process.once('SIGTERM', () => {
  void app.stop().finally(() => process.exit(0));
});

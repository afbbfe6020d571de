import { PostgresDatabase } from '../platform/database.js';
import { freshDatabase } from '../test/support/postgres.js';
import { SqlChatStore } from './sql-store.js';
import { describeChatStore } from './store.suite.js';

describeChatStore('PostgreSQL', async () => {
  const fresh = await freshDatabase('chat');
  const db = new PostgresDatabase(fresh.url);
  return {
    store: await SqlChatStore.open(db, { outbox: true }),
    close: async () => {
      await db.close();
      await fresh.drop();
    },
  };
});

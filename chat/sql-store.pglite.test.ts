import { PgliteDatabase } from '../platform/pglite-database.js';
import { SqlChatStore } from './sql-store.js';
import { describeChatStore } from './testing/store-suite.js';

describeChatStore('PGlite', async () => {
  const db = await PgliteDatabase.open();
  return { store: await SqlChatStore.open(db, { outbox: true }), close: () => db.close() };
});

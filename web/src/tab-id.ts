import { randomId } from './connection.js';

/**
 * A stable id for this browser tab, so a signed-in tab resumes its MQTT session (clean: false)
 * across reloads and reconnects. sessionStorage survives a reload but is copied when a tab is
 * duplicated; two tabs sharing an MQTT client id would take each other's session over in turn,
 * so a tab that finds its id claimed by another (over BroadcastChannel) picks a new one.
 */

const KEY = 'ticktalk.tab-id';
const CLAIM_WAIT_MS = 150;

export async function claimTabId(storage: Storage = sessionStorage): Promise<string> {
  let id = storage.getItem(KEY) ?? randomId();
  if (typeof BroadcastChannel === 'undefined') {
    storage.setItem(KEY, id);
    return id;
  }
  const channel = new BroadcastChannel('ticktalk.tabs');
  const taken = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), CLAIM_WAIT_MS);
    channel.onmessage = (e: MessageEvent<{ taken?: string }>) => {
      if (e.data.taken === id) {
        clearTimeout(timer);
        resolve(true);
      }
    };
    channel.postMessage({ claim: id });
  });
  if (taken) id = randomId();
  storage.setItem(KEY, id);
  // From now on this tab answers for its id.
  channel.onmessage = (e: MessageEvent<{ claim?: string }>) => {
    if (e.data.claim === id) channel.postMessage({ taken: id });
  };
  return id;
}

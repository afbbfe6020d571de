#!/usr/bin/env node
// Compiled entry: `npm install` builds dist/ through the prepare script.
import('../dist/cli/main.js').catch((err) => {
  console.error(err);
  process.exit(1);
});

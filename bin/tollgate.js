#!/usr/bin/env node
// `tollgate` (and `kubectl-tollgate`): runs the compiled CLI. `npm run setup` builds it.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/tollgate.js', import.meta.url);
if (!existsSync(entry)) {
  console.error('tollgate: not built yet; run `npm run setup` in the repository first');
  process.exit(2);
}
await import(entry.href);

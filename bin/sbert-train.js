#!/usr/bin/env node
// The `sbert-train` command. The published package runs the compiled JavaScript in dist/
// (built by `npm run build`, which `prepare` runs on `npm install` in a clone and on `npm pack`),
// so it needs neither TypeScript nor tsx at run time.
//
// In a development checkout (src/ is present; the package does not ship it) the TypeScript
// sources run through tsx's loader instead, when tsx is installed: dist/ is only as fresh as
// the last build, and a command that ran yesterday's code after an edit to src/ would be a
// trap for every test that spawns this file.
import { existsSync } from 'node:fs';

const source = new URL('../src/cli/main.ts', import.meta.url);
let main;
if (existsSync(source)) {
  let register = null;
  try {
    ({ register } = await import('tsx/esm/api'));
  } catch {
    // tsx is a development dependency: without it, run the build below.
  }
  if (register) {
    register();
    ({ main } = await import(source.href));
  }
}
if (!main) {
  const built = new URL('../dist/cli/main.js', import.meta.url);
  if (!existsSync(built)) {
    process.stderr.write('sbert-train: the compiled code (dist/) is missing: run `npm run build` (or `npm install`) in the package folder\n');
    process.exit(2);
  }
  ({ main } = await import(built.href));
}
process.exitCode = await main(process.argv.slice(2));

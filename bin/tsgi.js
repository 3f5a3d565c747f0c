#!/usr/bin/env node
// The `tsgi` command: runs the compiled CLI (build with `npm run build:ts`).
import { main } from '../dist/cli/main.js';

await main(process.argv);

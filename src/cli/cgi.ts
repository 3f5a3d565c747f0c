// cgi.ts: the `tsgi cgi MODULE[:EXPORT]` command: one request under CGI
// (RFC 3875), as wsgiref's CGIHandler. The web server runs it per request.
import type { Command } from 'commander';
import { runCgi } from '../adapters/cgi.js';
import type { Application } from '../types.js';

/**
 * Adds `cgi` to the `tsgi` program. `load` is the command's own module
 * loader (`MODULE[:EXPORT]`, as for `serve`). Exits 0 once the response is
 * written, 1 when it was cut; an error before the headers is a 500 on
 * stdout with the error on stderr.
 *
 * @example
 * ```sh
 * #!/bin/sh
 * # app.cgi, run by the web server for each request
 * exec tsgi cgi /srv/app.mjs
 * ```
 */
export function registerCgi(program: Command, load: (target: string) => Promise<Application>): void {
  program
    .command('cgi')
    .description('run one request under CGI: environ from the CGI variables, body from stdin, response on stdout')
    .argument('<module>', 'MODULE[:EXPORT], as for serve')
    .action(async (target: string) => {
      const app = await load(target);
      const ok = await runCgi(app);
      // One request per process: what the application left running
      // (timers, sockets) does not hold the web server's response.
      process.exit(ok ? 0 : 1);
    });
}

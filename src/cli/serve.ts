// serve.ts: `tsgi serve`: the supervisor and its workers when the addon
// loads; without it, the node server in this thread on the one bind it can
// open (TCP or unix), as before there were workers.
import { dirname, isAbsolute, resolve } from 'node:path';
import { loadNative } from '../native/loader.js';
import { serve } from '../serve.js';
import { SETTINGS } from '../settings.js';
import type { BoundAddress, SupervisorOptions } from '../types.js';
import { BindError } from '../supervisor/binds.js';
import { watchForReload } from '../supervisor/dev-reload.js';
import { stderrLogger, type SupervisorLogger } from '../supervisor/events.js';
import { loadApplication } from '../supervisor/load-app.js';
import { handleSignals } from '../supervisor/signals.js';
import { supervise } from '../supervisor/supervisor.js';

function announce(addresses: readonly BoundAddress[], kind: string): void {
  for (const a of addresses) process.stdout.write(`listening on ${a.url} (${kind})\n`);
}

/**
 * Serves `target` with `options` (flags parsed, checked by the table).
 * Resolves once serving; throws AppLoadError or BindError (usage) or
 * another Error (runtime) otherwise. `logger` is where the supervisor's
 * events go (the error log plugs in here).
 */
export async function runServe(target: string, options: SupervisorOptions, logger: SupervisorLogger = stderrLogger()): Promise<void> {
  const native = loadNative();
  if (!native.ok) {
    // No addon: no SO_REUSEPORT sockets to hand to workers (Node 20's net
    // has no reusePort), so one server in this thread.
    for (const s of SETTINGS) {
      const value = (options as Record<string, unknown>)[s.key];
      const isDefault = value === undefined || value === s.default || (s.key === 'workers' && value === 1);
      if (s.supervisor && !isDefault) {
        throw new Error(`${s.flag} needs the native addon, which did not load (npx tsgi doctor says why); without it one node server runs in one thread`);
      }
    }
    const supervisorKeys = new Set(SETTINGS.filter((s) => s.supervisor).map((s) => s.key));
    const serveOptions = Object.fromEntries(Object.entries(options).filter(([k]) => !supervisorKeys.has(k)));
    const app = await loadApplication(target);
    const server = await serve(app, serveOptions);
    handleSignals(server);
    announce(server.addresses, server.kind);
    return;
  }
  const supervisor = await supervise(target, options, { logger, bindSource: "error: option '--bind'" });
  handleSignals(supervisor, (signal) => logger.event({ type: 'stop', signal }));
  if (options.reload) {
    const file = target.replace(/:[A-Za-z_$][\w$]*$/, '');
    const dir = dirname(isAbsolute(file) ? file : resolve(process.cwd(), file));
    watchForReload(dir, (changed) => void supervisor.reload(`${changed || 'a file'} changed`));
  }
  announce(supervisor.addresses, supervisor.kind);
}

export { BindError };

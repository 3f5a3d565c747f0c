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
import type { ErrorLog } from '../log/error-log.js';
import { errorLogLogger } from '../log/supervisor-log.js';
import type { LifecycleEvent, SupervisorLogger } from '../supervisor/events.js';
import { loadApplication } from '../supervisor/load-app.js';
import { handleSignals } from '../supervisor/signals.js';
import { supervise } from '../supervisor/supervisor.js';

/** The listening lines on stdout (the first is what scripts wait for) and
 * in the error log; then where the metrics are. */
function announce(addresses: readonly BoundAddress[], kind: string, stats: string | null, log: ErrorLog): void {
  for (const a of addresses) {
    process.stdout.write(`listening on ${a.url} (${kind})\n`);
    log.info(`listening on ${a.url} (${kind})`);
  }
  if (stats !== null) {
    const where = stats.startsWith('unix:') ? stats : `http://${stats}/metrics`;
    process.stdout.write(`metrics on ${where}\n`);
    log.info(`metrics on ${where}`);
  }
}

/** The error log's logger, holding the events of the start-up until it
 * has succeeded: a start-up that fails is said in one line (the error
 * main.ts prints), not after the workers' start and exit. */
function startupLogger(log: ErrorLog): SupervisorLogger & { serving(): void } {
  const inner = errorLogLogger(log);
  let held: LifecycleEvent[] | null = [];
  return {
    event(e) {
      if (held !== null) held.push(e);
      else inner.event(e);
    },
    reopen: () => inner.reopen?.(),
    serving() {
      const events = held ?? [];
      held = null;
      for (const e of events) inner.event(e);
    },
  };
}

/**
 * Serves `target` with `options` (from their sources, checked by the
 * table). Resolves once serving; throws AppLoadError or BindError (usage)
 * or another Error (runtime) otherwise. `log` is the error log: the
 * supervisor's events and the workers' tsgi.errors go there. `bindSource`
 * names where `bind` came from in its messages.
 */
export async function runServe(target: string, options: SupervisorOptions, log: ErrorLog, bindSource = "error: option '--bind'"): Promise<void> {
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
    const server = await serve(app, { ...serveOptions, errors: log });
    const signalled = {
      close: () => server.close(),
      reopenLogs() {
        log.reopen();
        server.reopenLogs();
        log.info('SIGUSR1: log files reopened');
      },
    };
    handleSignals(signalled, (signal) => log.info(`${signal}: stopping`), (message) => log.warning(message));
    announce(server.addresses, server.kind, server.stats, log);
    return;
  }
  const logger = startupLogger(log);
  const supervisor = await supervise(target, options, { logger, bindSource });
  logger.serving();
  handleSignals(supervisor, (signal) => logger.event({ type: 'stop', signal }), (message) => log.warning(message));
  if (options.reload) {
    const file = target.replace(/:[A-Za-z_$][\w$]*$/, '');
    const dir = dirname(isAbsolute(file) ? file : resolve(process.cwd(), file));
    watchForReload(dir, (changed) => void supervisor.reload(`${changed || 'a file'} changed`));
  }
  announce(supervisor.addresses, supervisor.kind, supervisor.stats, log);
}

export { BindError };

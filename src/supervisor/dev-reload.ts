// dev-reload.ts: `--reload`: watches the application's directory
// (recursively, with fs.watch: inotify on Linux, no polling) and reloads
// the workers once changes have settled. node_modules, .git and dotfiles
// are not watched for changes.
import { watch, type FSWatcher } from 'node:fs';
import { sep } from 'node:path';

/** Quiet time after the last change before the reload. */
export const RELOAD_DEBOUNCE_MS = 200;

function ignored(file: string): boolean {
  return file.split(sep).some((part) => part === 'node_modules' || part.startsWith('.'));
}

/**
 * Calls `reload(file)` after files under `dir` change (debounced). Returns
 * the watcher (close() stops it).
 *
 * @example
 * ```ts
 * watchForReload('/srv/app', (file) => void supervisor.reload(`${file} changed`));
 * ```
 */
export function watchForReload(dir: string, reload: (file: string) => void): FSWatcher {
  let timer: NodeJS.Timeout | null = null;
  let last = '';
  const watcher = watch(dir, { recursive: true, persistent: false }, (_event, name) => {
    const file = name === null ? '' : String(name);
    if (file !== '' && ignored(file)) return;
    last = file;
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      reload(last);
    }, RELOAD_DEBOUNCE_MS);
  });
  return watcher;
}

// bind.ts: the addresses a server listens on, as `--bind` and
// `--stats-bind` write them: HOST:PORT, [IPv6]:PORT, unix:PATH.

/** Where to listen. */
export type Bind = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

const kTcp = /^(?:\[([0-9A-Fa-f:.%\w]+)\]|([^:[\]\s]+)):(\d+)$/;

/**
 * Parses one address. IPv6 hosts are written in brackets (`[::1]:8000`);
 * the host comes back without them. `unix:` only where `unix` is true.
 * Returns what is wrong instead (`must be HOST:PORT ...`), for a message
 * that names where the value came from.
 *
 * @example
 * ```ts
 * parseBind('[::1]:8000', false); // { kind: 'tcp', host: '::1', port: 8000 }
 * parseBind('unix:/run/tsgi.sock', true); // { kind: 'unix', path: '/run/tsgi.sock' }
 * ```
 */
export function parseBind(text: string, unix: boolean): Bind | { problem: string } {
  if (unix && text.startsWith('unix:')) {
    const path = text.slice(5);
    if (path === '' || path.includes('\0')) return { problem: 'must be unix:PATH with a path' };
    return { kind: 'unix', path };
  }
  const m = kTcp.exec(text);
  if (!m) return { problem: unix ? 'must be HOST:PORT (IPv6 as [HOST]:PORT) or unix:PATH' : 'must be HOST:PORT (IPv6 as [HOST]:PORT)' };
  const port = Number(m[3]);
  if (!Number.isSafeInteger(port) || port > 65535) return { problem: `port must be 0-65535` };
  return { kind: 'tcp', host: (m[1] ?? m[2])!, port };
}

/** `http://127.0.0.1:8000`, `http://[::1]:8000`, `unix:/run/x.sock`. */
export function formatBind(bind: Bind): string {
  if (bind.kind === 'unix') return `unix:${bind.path}`;
  return `${bind.host.includes(':') ? `[${bind.host}]` : bind.host}:${bind.port}`;
}

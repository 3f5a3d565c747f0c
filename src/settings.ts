// settings.ts: every setting of a tsgi server in one table: its type,
// default, range and help, and the names it has as a `serve()` option (also
// its config-file key), a `tsgi serve` flag and an environment variable.
// serve()'s checks, the CLI's flags and --help, the TSGI_* variables and
// config-file keys `tsgi serve` reads (src/config/load.ts), DEFAULT_LIMITS,
// the native server's limits, the README's table of settings and the JSDoc
// of ServeOptions are all derived from it (`npm run docs` writes the last
// two). Checks a type cannot express live in src/config/checks.ts.
// ARCHITECTURE.md, "Where each rule lives".
import type { ServeOptions, SupervisorOptions } from './types.js';

/** How a setting's value is written and checked. */
export type SettingType =
  /** Bytes: a whole number; on the command line with a k, M or G suffix. */
  | 'size'
  /** A whole number of things. */
  | 'count'
  /** Seconds, fractions allowed; 0 disables what it bounds. */
  | 'seconds'
  /** A whole number without a unit (a port, a backlog). */
  | 'integer'
  | 'string'
  | 'boolean'
  /** One of `choices`. */
  | 'choice'
  /** A file mode creation mask: a whole number from 0 to 0o777; in text,
   * octal (`007`, `0o007`). */
  | 'mode';

/** A row of the table: a setting without the names derived from its key. */
interface Row {
  readonly type: SettingType;
  /** `undefined`: none (`server`: the native one when the addon loads). */
  readonly default: number | string | boolean | undefined;
  /** Inclusive range of a number. */
  readonly min?: number;
  readonly max?: number;
  /** The values of a 'choice'. */
  readonly choices?: readonly string[];
  /** What it is, and what happens beyond it: one line, no default. */
  readonly help: string;
  /** Omitted: the flag is derived from the key (`--max-url-size`); null:
   * none, the CLI sets it another way (host and port: `--bind`). */
  readonly flag?: null;
  /** A one-letter alias of the flag. */
  readonly short?: string;
  /** A limit or timeout the servers enforce (part of `Limits`). */
  readonly limit?: true;
  /** A 'string' that may also be a list of them; the flag may repeat. */
  readonly list?: true;
  /** A number that may also be the string "auto". */
  readonly auto?: true;
  /** A setting of the supervisor (`tsgi serve`, `supervise()`: workers,
   * their watchdog and replacement), not of `serve()`: a SupervisorOptions
   * option, not a ServeOptions one. */
  readonly supervisor?: true;
  /** What a valid 'string' value is, for the docs and the messages;
   * src/config/checks.ts holds the check itself. */
  readonly accepts?: string;
  /** The placeholder of the flag's value in --help. */
  readonly meta?: string;
}

/** One setting, with its names. */
export interface Setting extends Omit<Row, 'flag'> {
  /** The `serve()` option, and the key in a config file. */
  readonly key: string;
  /** The `tsgi serve` flag, or null. */
  readonly flag: string | null;
  /** The environment variable (read by `tsgi serve`: src/config/load.ts). */
  readonly env: string;
}

const KiB = 1024;
const MiB = 1024 * KiB;
const kDay = 86_400;

/** `maxUrlSize` -> `TSGI_MAX_URL_SIZE`. */
function envName(key: string): string {
  return `TSGI_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

/** `maxUrlSize` -> `--max-url-size`. */
function flagName(key: string): string {
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** The table, by key. Its order is the order of --help and of the docs. */
const TABLE = {
  bind: { type: 'string', list: true, default: undefined, short: '-b', help: 'where to listen: HOST:PORT, [IPv6]:PORT, unix:PATH or fd://N; repeat it for several' },
  host: { type: 'string', default: '127.0.0.1', help: 'address to listen on (IPv6 without brackets), when bind is not given', flag: null },
  port: { type: 'integer', default: 8000, min: 0, max: 65535, help: 'port to listen on, when bind is not given; 0 takes a free one', flag: null },
  server: { type: 'choice', choices: ['native', 'node'], default: undefined, short: '-s', help: 'which server runs the application: native, or node (the reference server)' },
  backlog: { type: 'integer', default: 511, min: 1, max: 2 ** 31 - 1, help: 'connections the kernel queues before they are accepted', flag: null },
  multiprocess: { type: 'boolean', default: false, help: 'the value of tsgi.multiprocess: other processes serve the same application (true anyway with more than one worker)', flag: null },
  umask: { type: 'mode', default: undefined, help: 'the file mode creation mask of unix socket files that bind creates (octal)' },
  // The supervisor (src/supervisor/): workers, their watchdog, replacement.
  workers: { type: 'count', auto: true, default: 1, min: 1, max: 1024, supervisor: true, short: '-w', help: 'worker threads, each with the application and a server of its own; auto: one per CPU this process may use' },
  timeout: { type: 'seconds', default: 30, min: 0, max: kDay, supervisor: true, help: 'a worker whose event loop has not turned for this long is logged with its requests in flight, terminated and replaced' },
  maxRequests: { type: 'count', default: 0, min: 0, max: 2 ** 31 - 1, supervisor: true, help: 'a worker is replaced gracefully after this many requests; 0 never' },
  maxRequestsJitter: { type: 'count', default: 0, min: 0, max: 2 ** 31 - 1, supervisor: true, help: 'up to this many requests more, chosen at random per worker, so that workers are not all replaced at once' },
  reload: { type: 'boolean', default: false, supervisor: true, help: 'restart the workers when a file under the application\'s directory changes (development)' },
  // Logs (README, "Logs"). gunicorn's names and defaults. With workers, each
  // appends to the same access log; the error log is the supervisor's.
  accessLog: { type: 'string', default: undefined, meta: 'file|-', accepts: 'a file path, or - for stdout', help: 'where each response is logged: a file (appended to; reopened on SIGUSR1), or - for stdout; none by default' },
  accessLogFormat: { type: 'string', default: '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"', meta: 'format', accepts: "gunicorn's %(atom)s format, or json", help: "an access log line: gunicorn's atoms, or json for one JSON object per line" },
  errorLog: { type: 'string', default: '-', meta: 'file|-', accepts: 'a file path, or - for stderr', help: "where the server's events and tsgi.errors go: a file (appended to; reopened on SIGUSR1), or - for stderr" },
  logLevel: { type: 'choice', choices: ['debug', 'info', 'warning', 'error', 'critical'], default: 'info', help: 'the least severe event the error log keeps' },
  // Proxies (README, "Behind a proxy").
  forwardedAllowIps: { type: 'string', list: true, default: '127.0.0.1,::1', meta: 'ips', accepts: 'IP addresses and CIDR ranges (IPv4, IPv6), or *, with commas between them', help: 'front-ends trusted to name the client (X-Forwarded-*, Forwarded, the PROXY header); unix-socket peers always are' },
  proxyProtocol: { type: 'choice', choices: ['off', 'v1', 'v2', 'auto'], default: 'off', help: "haproxy's PROXY header before HTTP on connections from trusted front-ends: v1, v2, auto (either) or off" },
  // Metrics (README, "Metrics").
  statsBind: { type: 'string', default: undefined, meta: 'host:port|unix:path', accepts: 'HOST:PORT, [IPv6]:PORT or unix:PATH', help: 'where /metrics (Prometheus text) is served, by the supervisor for all its workers; off by default' },
  // Limits (RFC 9112 §2.3, §3; RFC 9110 §15.5.14, §15.5.15; RFC 6585 §5):
  // each is answered with a ready-made response and the connection closed.
  maxUrlSize: { type: 'size', default: 8 * KiB, min: 1, max: 64 * MiB, limit: true, help: 'longest request target, in bytes: 414 beyond it' },
  maxHeaderSize: { type: 'size', default: 16 * KiB, min: 1, max: 64 * MiB, limit: true, help: 'largest header section (names, values, line ends), in bytes: 431 beyond it' },
  maxHeaderCount: { type: 'count', default: 100, min: 1, max: 65_536, limit: true, help: 'most header fields in one request: 431 beyond it' },
  maxBodySize: { type: 'size', default: 16 * MiB, min: 1, max: Number.MAX_SAFE_INTEGER, limit: true, help: 'largest request body, declared or chunked, in bytes: 413 beyond it' },
  // Timeouts, in seconds (fractions allowed; 0 disables one).
  headersTimeout: { type: 'seconds', default: 60, min: 0, max: kDay, limit: true, help: 'time to receive a complete request head (slowloris): 408' },
  requestTimeout: { type: 'seconds', default: 300, min: 0, max: kDay, limit: true, help: 'time to receive a complete request, body included: 408' },
  keepAliveTimeout: { type: 'seconds', default: 5, min: 0, max: kDay, limit: true, help: 'how long an idle keep-alive connection stays open: closed silently' },
  sendTimeout: { type: 'seconds', default: 60, min: 0, max: kDay, limit: true, help: 'how long a response may wait for a client that does not read: the connection is cut' },
  gracefulTimeout: { type: 'seconds', default: 30, min: 0, max: kDay, limit: true, help: 'how long close() (and SIGTERM) waits for requests in flight: their connections are cut' },
} as const satisfies Record<string, Row>;

type Table = typeof TABLE;

/** Every setting, in table order. */
export const SETTINGS: readonly Setting[] = Object.freeze(
  Object.entries(TABLE).map(([key, r]: [string, Row]) =>
    Object.freeze({ ...r, key, flag: r.flag === null ? null : flagName(key), env: envName(key) }),
  ),
);

/** The keys of the settings. */
export type SettingKey = keyof Table;

/** The names of the limits and timeouts. */
export type LimitKey = { [K in SettingKey]: Table[K] extends { limit: true } ? K : never }[SettingKey];

/** The value type of each setting. */
type ValueOf<R> = R extends { list: true }
  ? string | readonly string[]
  : R extends { auto: true }
    ? number | 'auto'
    : R extends { type: 'string' }
  ? string
  : R extends { type: 'boolean' }
    ? boolean
    : R extends { type: 'choice'; choices: readonly (infer C)[] }
      ? C
      : number;

/** The keys of the serve() settings (the others are the supervisor's). */
export type ServeKey = { [K in SettingKey]: Table[K] extends { supervisor: true } ? never : K }[SettingKey];

/** Every setting with its value, defaults filled in. */
export type ResolvedSettings = {
  [K in SettingKey]: ValueOf<Table[K]> | (Table[K]['default'] extends undefined ? undefined : never);
};

/** The limits and timeouts a server runs with, defaults filled in. */
export type Limits = { [K in LimitKey]: number };

/** The setting named `key`. */
export function setting(key: SettingKey): Setting {
  return SETTINGS.find((s) => s.key === key)!;
}

/** The defaults of the limits and timeouts. */
export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze(
  Object.fromEntries(SETTINGS.filter((s) => s.limit).map((s) => [s.key, s.default as number])) as Limits,
);

/** The default of a setting, as the README and --help show it. */
export function formatDefault(s: Setting): string {
  if (s.default === undefined) {
    if (s.key === 'server') return 'native, when the addon loads';
    if (s.key === 'bind') return 'host:port (127.0.0.1:8000), or the sockets systemd passes';
    if (s.key === 'umask') return "the process's";
    return 'none';
  }
  if (s.type === 'size') return formatSize(s.default as number);
  if (s.type === 'seconds') return `${s.default} s`;
  if (typeof s.default === 'string') return JSON.stringify(s.default);
  return String(s.default);
}

/** `16384` -> `16 KiB`; sizes that are not a whole unit stay in bytes. */
export function formatSize(bytes: number): string {
  for (const [unit, size] of [['GiB', 1024 * MiB], ['MiB', MiB], ['KiB', KiB]] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size} ${unit}`;
  }
  return `${bytes} bytes`;
}

/** What a valid value of `s` is, for error messages and the docs. */
export function describeRange(s: Setting): string {
  if (s.auto) return `${describeRange({ ...s, auto: undefined })} or "auto"`;
  if (s.list) return s.accepts === undefined ? 'a string or a list of strings' : `${s.accepts} (a string or a list)`;
  switch (s.type) {
    case 'size':
      return `a whole number of bytes from ${s.min} to ${s.max === Number.MAX_SAFE_INTEGER ? '2^53 - 1' : formatSize(s.max!)}`;
    case 'count':
    case 'integer':
      return `a whole number from ${s.min} to ${s.max}`;
    case 'seconds':
      return `a number of seconds from ${s.min} to ${s.max}`;
    case 'choice':
      return s.choices!.map((c) => JSON.stringify(c)).join(' or ');
    case 'boolean':
      return 'true or false';
    case 'string':
      return s.accepts ?? 'a string';
    case 'mode':
      return 'a file mode mask from 0 to 0o777 (octal in text: 007)';
  }
}

/** Why `value` is not a valid value of `s`, or null. */
export function settingProblem(s: Setting, value: unknown): string | null {
  if (s.auto && value === 'auto') return null;
  if (s.list && Array.isArray(value)) {
    return value.length > 0 && value.every((v) => typeof v === 'string') ? null : `must be ${describeRange(s)}`;
  }
  let ok: boolean;
  switch (s.type) {
    case 'size':
    case 'count':
    case 'integer':
      ok = Number.isSafeInteger(value) && (value as number) >= s.min! && (value as number) <= s.max!;
      break;
    case 'seconds':
      ok = typeof value === 'number' && Number.isFinite(value) && value >= s.min! && value <= s.max!;
      break;
    case 'choice':
      ok = typeof value === 'string' && s.choices!.includes(value);
      break;
    case 'boolean':
      ok = typeof value === 'boolean';
      break;
    case 'string':
      // Empty is a value only of a list (forwardedAllowIps: trust no IP
      // peer).
      ok = typeof value === 'string' && (value !== '' || s.list === true);
      break;
    case 'mode':
      ok = Number.isSafeInteger(value) && (value as number) >= 0 && (value as number) <= 0o777;
      break;
  }
  return ok ? null : `must be ${describeRange(s)}`;
}

/** A problem with a value: a TypeError when it is of the wrong kind, a
 * RangeError when it is out of range. Its message names `where`. */
export function settingError(s: Setting, value: unknown, where: string): TypeError | RangeError {
  const problem = settingProblem(s, value)!;
  const message = `${where}${s.key} ${problem}, got ${showValue(value)}`;
  const numeric = s.type !== 'choice' && s.type !== 'boolean' && s.type !== 'string';
  return numeric && typeof value === 'number' ? new RangeError(message) : new TypeError(message);
}

/** A value as the messages show it: strings and lists as JSON. */
export function showValue(value: unknown): string {
  if (typeof value === 'string' || Array.isArray(value)) {
    try {
      return JSON.stringify(value);
    } catch {
      return 'a list';
    }
  }
  return String(value);
}

/** The items of a list setting: `"a, b ,c"` -> `["a", "b", "c"]` (commas
 * separate items in one string, as gunicorn's forwarded_allow_ips); a list
 * stays a list. */
export function toList(value: string | readonly string[]): readonly string[] {
  return (typeof value === 'string' ? [value] : value)
    .flatMap((item) => item.split(','))
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

/** Fills in the defaults of `options` and checks every value given;
 * throws a TypeError or RangeError whose message starts with `where`. */
export function resolveSettings(options: Record<string, unknown>, where = 'serve: '): ResolvedSettings {
  const out: Record<string, unknown> = {};
  for (const s of SETTINGS) {
    const value = options[s.key];
    if (value === undefined) {
      out[s.key] = s.default;
      continue;
    }
    if (settingProblem(s, value) !== null) throw settingError(s, value, where);
    out[s.key] = value;
  }
  return out as unknown as ResolvedSettings;
}

/** The limits and timeouts of resolved settings. */
export function limitsOf(settings: ResolvedSettings): Limits {
  return Object.fromEntries(SETTINGS.filter((s) => s.limit).map((s) => [s.key, settings[s.key as LimitKey]])) as Limits;
}

/**
 * A derived limit, not an option of its own: the bytes of chunk extensions
 * (RFC 9112 §7.1.1, whitespace included) one chunk-size line may carry,
 * 413 beyond. Per chunk, so that a long upload with an extension on every
 * chunk is served; as large as a header section, the metadata a request
 * may carry in one piece. node:http has a fixed bound of its own (16 KiB,
 * the default here), which `maxHeaderSize` does not move.
 *
 * @example
 * ```ts
 * maxChunkExtensionSize({ ...DEFAULT_LIMITS }); // 16384
 * ```
 */
export function maxChunkExtensionSize(limits: Limits): number {
  return limits.maxHeaderSize;
}

// ServeOptions and SupervisorOptions (src/types.ts, whose settings blocks
// `npm run docs` writes from this table) have exactly these settings, with
// these types.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const optionsMatchTable: Same<Required<Pick<ServeOptions, ServeKey>>, { [K in ServeKey]: ValueOf<Table[K]> }> = true;
const supervisorMatchTable: Same<Required<Pick<SupervisorOptions, SettingKey>>, { [K in SettingKey]: ValueOf<Table[K]> }> = true;
void optionsMatchTable;
void supervisorMatchTable;

/**
 * How often timeouts are checked: a quarter of the shortest enabled one,
 * from 10 ms to 1 s, so that a timeout fires at most a quarter late (RFC
 * level timeouts are seconds; tests use fractions). Both servers use it:
 * the native server's deadline wheel ticks at this rate, the node server's
 * connection checks and send watch too.
 */
export function timerTickMs(timeoutsMs: readonly number[]): number {
  const enabled = timeoutsMs.filter((ms) => ms > 0);
  const shortest = enabled.length === 0 ? Infinity : Math.min(...enabled);
  return Math.min(1000, Math.max(10, Math.floor(shortest / 4)));
}

// settings.test.ts: the table of settings (src/settings.ts) is the one
// source of every default and range: serve() applies its ranges, both
// servers accept everything it accepts, and the docs written from it
// (README.md, the ServeOptions block of src/types.ts) are not stale.
import { describe, expect, it } from 'vitest';
import * as settings from '../src/settings.js';
import * as rules from '../src/gateway/http-rules.js';
import { serve, type Application } from '../src/index.js';
import { buildRequest, request } from './helpers/http.js';
import { forEachServer, start } from './helpers/servers.js';
import { generate } from '../scripts/docs.mjs';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const { DEFAULT_LIMITS, SETTINGS, resolveSettings, timerTickMs } = settings;
const root = fileURLToPath(new URL('..', import.meta.url));
const app: Application = (_environ, startResponse) => {
  startResponse('200 OK', []);
  return ['ok'];
};

describe('the settings table', () => {
  it('gives DEFAULT_LIMITS the defaults of its limits and timeouts', () => {
    const limits = SETTINGS.filter((s) => s.limit);
    expect(Object.keys(DEFAULT_LIMITS)).toEqual(limits.map((s) => s.key));
    for (const s of limits) expect(DEFAULT_LIMITS[s.key as settings.LimitKey]).toBe(s.default);
  });

  it('names every flag and environment variable after the option', () => {
    for (const s of SETTINGS) {
      expect(s.env).toMatch(/^TSGI_[A-Z_]+$/);
      if (s.flag !== null) expect(s.flag).toMatch(/^--[a-z]+(?:-[a-z]+)*$/);
    }
    expect(settings.setting('maxUrlSize')).toMatchObject({ flag: '--max-url-size', env: 'TSGI_MAX_URL_SIZE' });
  });

  it('fills in every default', () => {
    const resolved = resolveSettings({});
    for (const s of SETTINGS) {
      // A list's default is written as one string with commas.
      const want = s.type === 'list' && s.default !== undefined ? (s.default as string).split(',') : s.default;
      expect(resolved[s.key as settings.SettingKey]).toEqual(want);
    }
  });

  for (const s of SETTINGS.filter((x) => x.min !== undefined)) {
    it(`refuses ${s.key} outside ${s.min}..${s.max} with a RangeError naming it`, () => {
      expect(() => resolveSettings({ [s.key]: s.min! - 1 })).toThrow(RangeError);
      expect(() => resolveSettings({ [s.key]: s.min! - 1 })).toThrow(`serve: ${s.key} must be`);
      if (s.max! < Number.MAX_SAFE_INTEGER) expect(() => resolveSettings({ [s.key]: s.max! + 1 })).toThrow(RangeError);
      expect(resolveSettings({ [s.key]: s.max! })[s.key as settings.SettingKey]).toBe(s.max);
      expect(() => resolveSettings({ [s.key]: String(s.min) })).toThrow(TypeError);
    });
  }

  it('refuses a whole-number setting that has a fraction, and takes fractions of seconds', () => {
    expect(() => resolveSettings({ maxHeaderCount: 1.5 })).toThrow('serve: maxHeaderCount must be a whole number from 1 to 65536, got 1.5');
    expect(resolveSettings({ keepAliveTimeout: 0.25 }).keepAliveTimeout).toBe(0.25);
  });

  it('refuses a server that is neither native nor node', () => {
    expect(() => resolveSettings({ server: 'fast' })).toThrow(new TypeError('serve: server must be "native" or "node", got "fast"'));
  });

  it('serve() applies the table before starting anything', async () => {
    await expect(serve(app, { port: 70_000 })).rejects.toThrow('serve: port must be a whole number from 0 to 65535, got 70000');
    await expect(serve(app, { maxUrlSize: 0 })).rejects.toThrow(RangeError);
  });

  it('ticks the timeouts at a quarter of the shortest, from 10 ms to 1 s', () => {
    expect(timerTickMs([60_000, 5_000, 0])).toBe(1000);
    expect(timerTickMs([400, 60_000])).toBe(100);
    expect(timerTickMs([8])).toBe(10);
    expect(timerTickMs([0, 0])).toBe(1000);
  });
});

forEachServer((kind) => {
  // The native server used to refuse limits above 1 MiB in its own range
  // check, and the node server counted the request line in the header limit.
  it('accepts the largest limits of the table, and serves a target of 1 MiB with maxUrlSize 2 MiB', async () => {
    const { server } = await start(kind, (environ, startResponse) => {
      startResponse('200 OK', []);
      return [String(environ.REQUEST_URI.length)];
    }, { maxUrlSize: 2 * 1024 * 1024, validate: false });
    const target = '/' + 'u'.repeat(1024 * 1024 - 1);
    const { responses } = await request(server.port, buildRequest('GET', target), { timeoutMs: 10_000 });
    expect(responses[0]!.status).toBe(200);
    expect(responses[0]!.body.toString()).toBe(String(1024 * 1024));
    await server.close();
    const largest = Object.fromEntries(SETTINGS.filter((s) => s.limit).map((s) => [s.key, s.max]));
    const big = await start(kind, app, largest);
    const small = await request(big.port, buildRequest('GET', '/x'));
    expect(small.responses[0]!.status).toBe(200);
  });

  it('still answers 431 beyond maxHeaderSize when maxUrlSize is large', async () => {
    const { port } = await start(kind, app, { maxUrlSize: 1024 * 1024, maxHeaderSize: 1024 });
    const { responses } = await request(port, buildRequest('GET', '/', { headers: [['X-Big', 'v'.repeat(2048)]] }));
    expect(responses[0]!.statusLine).toBe('HTTP/1.1 431 Request Header Fields Too Large');
  });
});

describe('the docs written from the tables', () => {
  it('are up to date (npm run docs)', () => {
    for (const [path, text] of generate(settings, rules) as [string, string][]) {
      expect(readFileSync(`${root}/${path}`, 'utf8') === text, `${path} is stale: run npm run docs`).toBe(true);
    }
  });
});

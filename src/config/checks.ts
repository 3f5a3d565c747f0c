// checks.ts: the checks of the settings whose values a type alone cannot
// judge (an access log format, a list of front-ends, an address), by
// setting; src/settings.ts checks types and ranges. Both serve() (through
// validateSettings) and the config loader (load.ts) run them, so a value is
// refused the same way wherever it came from.
import { accessFormatProblem } from '../log/access-format.js';
import { allowListProblem } from '../gateway/forwarded.js';
import { resolveSettings, setting, settingError, settingProblem, showValue, toList, type ResolvedSettings, type SettingKey } from '../settings.js';
import { BindError, parseBind } from '../supervisor/binds.js';

/** Why `value` (of the type the table wants) is not valid for `key`, or
 * null: `must be ...`, to follow the setting's name. */
export function valueProblem(key: SettingKey, value: unknown): string | null {
  const typed = settingProblem(setting(key), value);
  if (typed !== null) return typed;
  switch (key) {
    case 'accessLogFormat': {
      const problem = accessFormatProblem(value as string);
      return problem === null ? null : `${problem} (gunicorn's %(atom)s format, or json)`;
    }
    case 'forwardedAllowIps':
      return allowListProblem(toList(value as string | string[]));
    case 'statsBind':
      return statsBindProblem(value as string);
    default:
      return null;
  }
}

/** What is wrong with a statsBind (binds.ts's forms, but fd://), or null. */
function statsBindProblem(text: string): string | null {
  try {
    if (parseBind(text, '').kind !== 'fd') return null;
  } catch (err) {
    if (!(err instanceof BindError)) throw err;
  }
  return 'must be HOST:PORT, [IPv6]:PORT or unix:PATH';
}

/** A TypeError whose message names `where` and the value. */
export function valueError(key: SettingKey, value: unknown, where: string): TypeError | RangeError {
  const problem = valueProblem(key, value)!;
  if (settingProblem(setting(key), value) !== null) return settingError(setting(key), value, where);
  return new TypeError(`${where}${key} ${problem}, got ${showValue(value)}`);
}

/**
 * resolveSettings (types, ranges, defaults), then the checks above: what
 * serve() runs on its options. Throws a TypeError or RangeError whose
 * message starts with `where` and names the setting.
 */
export function validateSettings(options: Record<string, unknown>, where = 'serve: '): ResolvedSettings {
  const resolved = resolveSettings(options, where);
  for (const key of ['accessLogFormat', 'forwardedAllowIps', 'statsBind'] as const) {
    const value = options[key];
    if (value !== undefined && valueProblem(key, value) !== null) throw valueError(key, value, where);
  }
  return resolved;
}

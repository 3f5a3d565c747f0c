// format.mjs: how the benchmark writes its figures: integers with
// separators, ratios, latencies, CPU times, MiB; "-" for a figure that is
// missing.

const missing = (x) => x == null || !Number.isFinite(x);

/** @param {number | null | undefined} n */
export function fmtInt(n) {
  return missing(n) ? '-' : Math.round(n).toLocaleString('en-US');
}

/** @param {number | null | undefined} r */
export function fmtRatio(r) {
  if (missing(r)) return '-';
  return r >= 100 ? `${r.toFixed(0)}x` : r >= 10 ? `${r.toFixed(1)}x` : `${r.toFixed(2)}x`;
}

/** @param {number | null | undefined} ms */
export function fmtMs(ms) {
  if (missing(ms)) return '-';
  return ms < 1 ? `${Math.round(ms * 1000)}us` : ms < 100 ? `${ms.toFixed(2)}ms` : `${ms.toFixed(0)}ms`;
}

/** @param {number | null | undefined} us */
export function fmtUs(us) {
  if (missing(us)) return '-';
  return us < 10 ? `${us.toFixed(2)}us` : us < 1000 ? `${us.toFixed(1)}us` : `${(us / 1000).toFixed(2)}ms`;
}

/** @param {number | null | undefined} m */
export function fmtMiB(m) {
  return missing(m) ? '-' : m.toFixed(1);
}

/** The last `n` characters of `s`, marked as cut. */
export function tail(s, n = 2000) {
  return s.length > n ? `...${s.slice(-n)}` : s;
}

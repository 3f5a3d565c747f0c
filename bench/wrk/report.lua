-- report.lua: what every wrk script of the benchmark shares: its
-- arguments, the dump of its first batch for the harness's answer check,
-- and the report of a run as one JSON line from wrk's done() hook, which
-- bench/wrk.mjs reads instead of wrk's text.
--
-- A script loads it next to itself and takes `done` from it:
--
--   local bench = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")
--   done = bench.done
--
-- Arguments after wrk's `--` are key=value words (wrk passes the URL as
-- args[0]); every script knows:
--   depth=N    requests per batch (1 = unpipelined); a batch is written in
--              one send and answered in full before the next one
--   dump=FILE  write the first batch to FILE and exit before connecting:
--              the check sends the very bytes the measurement sends

local M = {}

--- The key=value arguments as a table; a word without "=" is an error.
function M.args(args)
  local out = {}
  for i = 1, #args do
    local k, v = string.match(args[i], "^([%w_]+)=(.*)$")
    if not k then error("report.lua: expected key=value, got " .. args[i]) end
    out[k] = v
  end
  out.depth = tonumber(out.depth or "16")
  if not out.depth or out.depth < 1 or out.depth % 1 ~= 0 then
    error("report.lua: depth must be a positive integer")
  end
  return out
end

--- With dump=FILE: writes `batch` there and exits wrk (in init, before any
-- connection is made).
function M.dump(opts, batch)
  if not opts.dump then return end
  local f = assert(io.open(opts.dump, "wb"))
  f:write(batch)
  f:close()
  os.exit(0)
end

local function num(x)
  return string.format("%.0f", x)
end

--- wrk's done(): one line `{"tsgiWrk":1,...}` on stdout. Durations and
-- latencies in microseconds (wrk's units); a percentile wrk cannot place
-- comes as 0, as in its text. cpuSeconds: wrk's own CPU time (all
-- threads, os.clock), to tell a load generator that was the bottleneck.
function M.done(summary, latency, requests)
  local e = summary.errors
  local p = {}
  for _, q in ipairs({ 50, 90, 99, 99.9 }) do
    p[#p + 1] = string.format('"%s":%s', tostring(q), num(latency:percentile(q)))
  end
  io.write(string.format(
    '{"tsgiWrk":1,"durationUs":%s,"requests":%s,"bytes":%s,' ..
      '"errors":{"connect":%s,"read":%s,"write":%s,"status":%s,"timeout":%s},' ..
      '"latencyUs":{"min":%s,"mean":%.1f,"stdev":%.1f,"max":%s,"percentiles":{%s}},' ..
      '"threadRps":{"mean":%.1f,"stdev":%.1f,"max":%s},"cpuSeconds":%.3f}\n',
    num(summary.duration), num(summary.requests), num(summary.bytes),
    num(e.connect), num(e.read), num(e.write), num(e.status), num(e.timeout),
    num(latency.min), latency.mean, latency.stdev, num(latency.max), table.concat(p, ","),
    requests.mean, requests.stdev, num(requests.max), os.clock()))
end

return M

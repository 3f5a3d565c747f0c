-- pipeline.lua: wrk script that sends one fixed request, `depth` at a time.
--
--   wrk -t1 -c64 -d5s -s bench/wrk/pipeline.lua http://127.0.0.1:PORT/ -- depth=16 request=FILE
--
-- request=FILE: a file holding one complete raw request (head and body),
-- written by the harness (bench/scenarios.mjs); without it, `GET /`. Each
-- connection writes `depth` requests in one send and waits for all their
-- responses before writing the next batch; wrk counts every response. The
-- other arguments and the report: report.lua.
local bench = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")

init = function(args)
  local opts = bench.args(args)
  local one
  if opts.request then
    local f = assert(io.open(opts.request, "rb"))
    one = f:read("*a")
    f:close()
  else
    one = "GET / HTTP/1.1\r\nHost: " .. wrk.headers["Host"] .. "\r\n\r\n"
  end
  local batch = string.rep(one, opts.depth)
  bench.dump(opts, batch)
  -- A static request: no global request(), so wrk copies these bytes
  -- once per thread and never calls into Lua per batch. wrk.init builds
  -- wrk.request from wrk.format() right after this init() returns.
  wrk.format = function()
    return batch
  end
end

done = bench.done

-- pipeline.lua: wrk script that sends a fixed request, DEPTH at a time.
--
--   wrk -t1 -c64 -d5s -s bench/pipeline.lua http://127.0.0.1:PORT/ -- 16 /
--   wrk -t1 -c64 -d5s -s bench/pipeline.lua http://127.0.0.1:PORT/ -- 16 @/tmp/x/browser.http
--
-- Arguments after `--`: the pipeline depth (default 16; 1 = unpipelined)
-- and either a path for a plain GET (default "/") or @FILE, a file holding
-- one complete raw request (head and body) that bench/run.mjs wrote; its
-- pre-check sends the very same bytes. Each connection writes DEPTH
-- requests in one send and waits for all DEPTH responses before writing the
-- next batch; wrk counts every response.

init = function(args)
  local depth = tonumber(args[1]) or 16
  local target = args[2] or "/"
  local one
  if string.sub(target, 1, 1) == "@" then
    local f = assert(io.open(string.sub(target, 2), "rb"))
    one = f:read("*a")
    f:close()
  else
    one = wrk.format("GET", target)
  end
  batch = string.rep(one, depth)
end

request = function()
  return batch
end

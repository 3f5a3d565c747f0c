-- pipeline.lua: wrk script for the pipelined scenario.
--
--   wrk -t1 -c64 -d5s -s bench/pipeline.lua http://127.0.0.1:PORT/ -- 16 /
--
-- Arguments after `--`: pipeline depth (default 16) and path (default "/").
-- Each connection writes DEPTH GET requests in one send and waits for all
-- DEPTH responses before writing the next batch; wrk counts every response.

init = function(args)
  local depth = tonumber(args[1]) or 16
  local path = args[2] or "/"
  local r = {}
  for i = 1, depth do
    r[i] = wrk.format("GET", path)
  end
  batch = table.concat(r)
end

request = function()
  return batch
end

-- varied.lua: wrk script that sends browser-like requests of which no two
-- are alike, `depth` at a time, so that no server can gain from having
-- seen a request before (bench/scenarios.mjs, scenario browser-varied).
--
--   wrk -t1 -c64 -d5s -s bench/wrk/varied.lua http://127.0.0.1:PORT/ -- depth=16
--
-- Request n (a counter per wrk thread, from 1) is the browser scenario's
-- request with, varied by n: the path /items/<n>, the query
-- q=item<n>&page=<1..50>&sort=<one of 4>, the cookie's session id (12
-- digits) and _ga value, the Referer, the User-Agent (one of 5),
-- Accept-Language (one of 4) and the theme cookie (one of 2). The headers, their
-- order and the sizes stay those of a browser. Each connection writes
-- `depth` requests in one send and waits for all their responses; request()
-- builds every batch afresh. The other arguments and the report: report.lua.
local bench = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")

local AGENTS = {
  "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15",
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.51",
  "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36",
}
local LANGUAGES = {
  "en-US,en;q=0.9,de;q=0.8",
  "de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7",
  "fr-FR,fr;q=0.9,en;q=0.6",
  "ja-JP,ja;q=0.9,en-US;q=0.8",
}
local SORTS = { "desc", "asc", "price", "newest" }
local THEMES = { "dark", "light" }

local depth
local n = 0
-- The constant stretches between the varied values, built once in init()
-- (string.format per request costs wrk a third more CPU):
--   GET /items/<n>?q=item<n>&page=<p>&sort=<s> HTTP/1.1
--   Host, User-Agent: <ua>, Accept, Accept-Language: <lang>, Accept-Encoding,
--   Cookie: theme=<t>; session=<12 digits>; _ga=GA1.1.<n>.1700000000
--   Referer: http://HOST/items/<n - 1>, Cache-Control, Sec-Fetch-Dest/Mode/Site
local PAGE = {} -- n % 50: "&page=<1..50>&sort="
local MIDDLE = {} -- n % 20: sort, Host, User-Agent, Accept, Accept-Language, Accept-Encoding, "Cookie: theme=<t>"
local REFERER
local TAIL

local function prepare(host)
  for i = 0, 49 do PAGE[i + 1] = "&page=" .. (i + 1) .. "&sort=" end
  -- 20 = lcm(4 sorts, 5 agents, 4 languages, 2 themes): n % 20 picks each.
  for i = 0, 19 do
    MIDDLE[i + 1] = SORTS[i % #SORTS + 1] .. " HTTP/1.1\r\n" ..
      "Host: " .. host .. "\r\n" ..
      "User-Agent: " .. AGENTS[i % #AGENTS + 1] .. "\r\n" ..
      "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n" ..
      "Accept-Language: " .. LANGUAGES[i % #LANGUAGES + 1] .. "\r\n" ..
      "Accept-Encoding: gzip, deflate, br\r\n" ..
      "Cookie: theme=" .. THEMES[i % #THEMES + 1] .. "; session="
  end
  REFERER = ".1700000000\r\nReferer: http://" .. host .. "/items/"
  TAIL = "\r\n" ..
    "Cache-Control: no-cache\r\n" ..
    "Sec-Fetch-Dest: document\r\n" ..
    "Sec-Fetch-Mode: navigate\r\n" ..
    "Sec-Fetch-Site: same-origin\r\n" ..
    "\r\n"
end

--- Request number n, whole. The session id: 12 decimal digits, distinct
-- for every n below 9e11 (7919 is prime to 9e11, and n * 7919 stays exact
-- in a double).
local function one()
  n = n + 1
  return "GET /items/" .. n .. "?q=item" .. n .. PAGE[n % 50 + 1] .. MIDDLE[n % 20 + 1] ..
    (100000000000 + (n * 7919 + 40503) % 900000000000) .. "; _ga=GA1.1." .. (100000000 + n) ..
    REFERER .. (n - 1) .. TAIL
end

local function batch()
  local t = {}
  for i = 1, depth do t[i] = one() end
  return table.concat(t)
end

init = function(args)
  local opts = bench.args(args)
  depth = opts.depth
  -- The same Host as the browser scenario's fixed request.
  prepare(opts.host or "127.0.0.1")
  bench.dump(opts, batch())
end

request = batch

done = bench.done

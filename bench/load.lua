-- The one wrk script of the benches (bench/_wrk.py runs it): requests come from a file, answers are counted.
--
--   wrk -t2 -c64 -d8s --latency -s bench/load.lua http://127.0.0.1:PORT -- FILE MODE IDEMPOTENCY CODES RUN THREADS
--
-- FILE has one request a line, tab-separated: METHOD, PATH, HEADERS ("Name: value" joined by "|"), BODY.
-- Thread t of T takes lines t, t+T, t+2T, ... (its share), so that no two threads send the same line.
-- MODE "cycle": each thread goes round its share until wrk's -d ends the run.
-- MODE "once": each thread sends each line of its share once, then stops; when every thread has stopped
--   the harness interrupts wrk (SIGINT), and the rate is answers / (last answer - first request), measured
--   here with CLOCK_MONOTONIC, because wrk's own Requests/sec divides by the whole -d.
-- IDEMPOTENCY "1": every request gets its own "Idempotency-Key: bench-RUN-THREAD-N" header.
-- CODES "1": the answer's "code", "result" or "status" field is counted with its HTTP status (booking and
--   scan answers); "0": statuses only.
-- Every run counts statuses, so the yardstick (hello-world) pays for this script exactly as the app does.
-- done() prints one line "@@bench " followed by JSON: statuses, codes, percentiles, timings.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local timespec = ffi.new("bench_timespec")

local function now()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, timespec)
  return tonumber(timespec.tv_sec) + tonumber(timespec.tv_nsec) * 1e-9
end

-- setup phase (main thread) ----------------------------------------------------------------------

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end

-- running phase (one Lua state per wrk thread) ----------------------------------------------------

local function split_headers(text)
  local headers = {}
  for item in string.gmatch(text, "[^|]+") do
    local name, value = string.match(item, "^%s*([^:]+):%s*(.-)%s*$")
    if name then
      headers[name] = value
    end
  end
  return headers
end

function init(args)
  local path, mode, idempotency, codes, run = args[1], args[2], args[3], args[4], args[5]
  nthreads = tonumber(args[6] or "1") -- wrk's -t, so that each thread knows its share
  once = mode == "once"
  with_key = idempotency == "1"
  with_codes = codes == "1"
  run_id = run or "0"
  local all = {}
  for line in io.lines(path) do
    local method, target, headers, body = string.match(line, "^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
    if method then
      local entry = { method = method, path = target, headers = split_headers(headers), body = body }
      if body == "" then
        entry.body = nil
      end
      table.insert(all, entry)
    end
  end
  lines = {}
  for n, entry in ipairs(all) do
    -- With fewer lines than threads (one fixed request), every thread sends them all.
    if #all < nthreads or (n - 1) % nthreads == id - 1 then
      if not with_key then
        entry.text = wrk.format(entry.method, entry.path, entry.headers, entry.body)
      end
      table.insert(lines, entry)
    end
  end
  share = #lines
  reserved = 0
  issued = 0
  answered = 0
  sent = 0
  statuses = {}
  results = {}
  first_sent = 0
  last_answer = 0
  finished = share == 0
  -- wrk calls request() once on the first thread's state to check the request before the run starts
  -- (script_verify_request): that call must not use up a line.
  verifying = id == 1
  if not once then
    delay = nil -- no per-request timer when cycling
  end
end

local function build(entry)
  if entry.text then
    return entry.text
  end
  local headers = {}
  for name, value in pairs(entry.headers) do
    headers[name] = value
  end
  sent = sent + 1
  headers["Idempotency-Key"] = string.format("bench-%s-%d-%d", run_id, id, sent)
  return wrk.format(entry.method, entry.path, headers, entry.body)
end

function request()
  if verifying then
    verifying = false
    if share > 0 then
      return build(lines[1])
    end
    return wrk.format("GET", "/")
  end
  if issued == 0 then
    first_sent = now()
  end
  local entry = lines[(issued % share) + 1]
  issued = issued + 1
  return build(entry)
end

-- In "once" mode a connection whose thread has no line left waits (an hour, far past any -d) instead
-- of sending anything; the thread stops when its last answer has arrived. A line is reserved here,
-- because several connections may pass delay() before the first of them calls request().
function delay()
  if reserved < share then
    reserved = reserved + 1
    return 0
  end
  return 3600000
end

function response(status, headers, body)
  answered = answered + 1
  statuses[status] = (statuses[status] or 0) + 1
  if with_codes then
    local code = string.match(body, '"code":"([%w_]+)"')
      or string.match(body, '"result":"([%w_]+)"')
      or string.match(body, '"status":"([%w_]+)"')
      or ""
    local key = status .. " " .. code
    results[key] = (results[key] or 0) + 1
  end
  last_answer = now()
  if once and answered >= share and not finished then
    finished = true
    io.stderr:write("@@thread-done\n")
    io.stderr:flush()
    wrk.thread:stop()
  end
end

-- done phase (main thread) -----------------------------------------------------------------------

local function quote(text)
  return '"' .. string.gsub(text, '[%c"\\]', function(c)
    return string.format("\\u%04x", string.byte(c))
  end) .. '"'
end

local function encode(value)
  local kind = type(value)
  if kind == "table" then
    local parts = {}
    for k, v in pairs(value) do
      table.insert(parts, quote(tostring(k)) .. ":" .. encode(v))
    end
    if #value > 0 then -- a list
      parts = {}
      for _, v in ipairs(value) do
        table.insert(parts, encode(v))
      end
      return "[" .. table.concat(parts, ",") .. "]"
    end
    return "{" .. table.concat(parts, ",") .. "}"
  elseif kind == "string" then
    return quote(value)
  elseif kind == "boolean" then
    return tostring(value)
  elseif value == nil then
    return "null"
  end
  return string.format("%.17g", value)
end

function done(summary, latency, requests)
  local out = {
    duration_us = summary.duration,
    requests = summary.requests,
    bytes = summary.bytes,
    errors = summary.errors,
    latency_us = {
      p50 = latency:percentile(50),
      p90 = latency:percentile(90),
      p99 = latency:percentile(99),
      max = latency.max,
      mean = latency.mean,
    },
    statuses = {},
    results = {},
    threads = {},
  }
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses") or {}) do
      local key = tostring(status)
      out.statuses[key] = (out.statuses[key] or 0) + n
    end
    for key, n in pairs(thread:get("results") or {}) do
      out.results[key] = (out.results[key] or 0) + n
    end
    table.insert(out.threads, {
      share = thread:get("share"),
      issued = thread:get("issued"),
      answered = thread:get("answered"),
      first_sent = thread:get("first_sent"),
      last_answer = thread:get("last_answer"),
    })
  end
  io.write("@@bench " .. encode(out) .. "\n")
end

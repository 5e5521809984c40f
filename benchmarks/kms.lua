-- wrk script for benchmarks/run.py: replays a pool of pre-signed AWS JSON 1.1 requests.
--
-- The pool is a Lua file written by run.py (path in the BENCH_POOL environment variable) that returns
-- a list of {headers = {...}, body = "..."}; each request carries its own SigV4 signature, valid for
-- the five minutes of the server's clock skew window. Every wrk thread formats the pool once and then
-- cycles through it, starting at a different offset. `done` prints one machine-readable line.

local pool = dofile(os.getenv("BENCH_POOL"))
local formatted = {}
for i, item in ipairs(pool) do
  formatted[i] = wrk.format("POST", "/", item.headers, item.body)
end
local size = #formatted
local index = 0

local thread_count = 0
function setup(thread)
  thread:set("offset", thread_count)
  thread_count = thread_count + 1
end

function init(args)
  index = ((offset or 0) * 7) % size
end

function request()
  index = index % size + 1
  return formatted[index]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "non_2xx": %d, "connect": %d, "read": %d, '
      .. '"write": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, '
      .. '"mean_us": %.1f}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean
  ))
end

-- Shared by the bench's wrk scripts (track.lua, batch.lua): pacing, a clean stop, and exact counts.
--
-- Environment (set by bench/load.py):
--   BENCH_PREFIX     event_id prefix of this phase (ids are "<prefix>-<thread>-<n>[-<i>]")
--   BENCH_ACTIVE_S   seconds during which requests are sent; afterwards delay() parks every
--                    connection so in-flight requests finish before wrk's -d ends (nothing is
--                    abandoned half-way, which would make "accepted" vs "stored" inexact)
--   BENCH_RATE       total requests/s to pace at (0 or unset: as fast as possible)
--   BENCH_THREADS    wrk's -t, to split BENCH_RATE between threads
--   BENCH_COUNTS     file that done() writes the per-run JSON summary to
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local clock = ffi.new("bench_timespec")
local function now()
  ffi.C.clock_gettime(1, clock) -- CLOCK_MONOTONIC: os.time() only has 1 s resolution
  return tonumber(clock.tv_sec) + tonumber(clock.tv_nsec) * 1e-9
end

local M = {}
local threads = {}
local thread_count = 0

-- Per-thread state (each wrk thread has its own Lua state, so these are per thread).
tid = 0
sent = 0
responses = 0
statuses = {}
partial_events = 0 -- events accepted by 207 (partly accepted) answers, as their bodies say
local running = false -- wrk calls request() once to verify it before the run: not a send
local deadline = math.huge
local interval = 0
local next_slot = 0

function M.setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
  table.insert(threads, thread)
end

function M.init()
  M.prefix = os.getenv("BENCH_PREFIX") or "bench"
  local started = now()
  local active = tonumber(os.getenv("BENCH_ACTIVE_S") or "")
  if active then
    deadline = started + active
  end
  local rate = tonumber(os.getenv("BENCH_RATE") or "0") or 0
  local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1") or 1
  if rate > 0 then
    interval = nthreads / rate
  end
  next_slot = started
end

-- Called before every request (wrk calls it only because it is defined).
function M.delay()
  running = true
  local t = now()
  if t >= deadline then
    return 3600000 -- parked until wrk's -d ends
  end
  if interval == 0 then
    return 0
  end
  -- Claim the thread's next send slot: an open-loop schedule at BENCH_RATE / threads.
  local slot = math.max(next_slot, t)
  next_slot = slot + interval
  if slot >= deadline then
    return 3600000
  end
  return (slot - t) * 1000
end

function M.sent_one()
  if running then
    sent = sent + 1
  end
end

function M.response(status)
  responses = responses + 1
  statuses[status] = (statuses[status] or 0) + 1
end

function M.partial(n)
  partial_events = partial_events + n
end

local function json_counts(statuses_total)
  local parts = {}
  for status, n in pairs(statuses_total) do
    table.insert(parts, string.format('"%d":%d', status, n))
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

function M.done(summary, latency)
  local total_sent, total_responses, total_statuses, total_partial = 0, 0, {}, 0
  for _, thread in ipairs(threads) do
    total_sent = total_sent + (thread:get("sent") or 0)
    total_partial = total_partial + (thread:get("partial_events") or 0)
    total_responses = total_responses + (thread:get("responses") or 0)
    for status, n in pairs(thread:get("statuses") or {}) do
      total_statuses[status] = (total_statuses[status] or 0) + n
    end
  end
  local errors = summary.errors
  local out = string.format(
    '{"sent":%d,"responses":%d,"statuses":%s,"partial_events":%d,"requests":%d,"duration_us":%d,' ..
    '"latency_us":{"p50":%d,"p99":%d,"mean":%.1f,"max":%d},' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
    total_sent, total_responses, json_counts(total_statuses), total_partial, summary.requests, summary.duration,
    latency:percentile(50.0), latency:percentile(99.0), latency.mean, latency.max,
    errors.connect, errors.read, errors.write, errors.status, errors.timeout)
  local path = os.getenv("BENCH_COUNTS")
  if path then
    local file = assert(io.open(path, "w"))
    file:write(out)
    file:close()
  else
    io.write(out)
  end
end

return M

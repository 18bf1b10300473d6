-- wrk script: POST a JSON array of BENCH_EVENTS_PER_REQUEST (default 100) copies of the contract's
-- detailed example to /api/events/batch, each with a unique event_id "<prefix>-<thread>-<n>-<i>".
-- Pacing, the clean stop and the exact counts live in common.lua (see its header for the env).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")

setup = common.setup
delay = common.delay

-- 201: all accepted; 207: some, and the body says how many ("accepted": n).
response = function(status, headers, body)
  common.response(status)
  if status == 207 then
    common.partial(tonumber(body:match('"accepted"%s*:%s*(%d+)')) or 0)
  end
end
done = common.done

local counter = 0
local user_agent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) " ..
  "Chrome/124.0.0.0 Safari/537.36"
local per_request = 100
local event =
  '{"event_type":"conversion","event_id":"%s-%d-%d-%d","link_id":"abc123","link_slug":"promo-summer",' ..
  '"link_original_url":"https://example.com/summer-promotion",' ..
  '"event_attributes":{"page":"/checkout","product_id":"xyz789"},"user_id":"user123",' ..
  '"team_id":"team456","project_id":"proj789","visitor_id":"vis987","is_bounce":false,' ..
  '"time_spent_sec":120,"conversion_type":"purchase","conversion_value":99.99,' ..
  '"utm_source":"email","utm_campaign":"summer_sale"}'

function init(args)
  common.init()
  prefix = common.prefix
  per_request = tonumber(os.getenv("BENCH_EVENTS_PER_REQUEST") or "100") or 100
end

request = function()
  counter = counter + 1
  common.sent_one()
  local events = {}
  for i = 1, per_request do
    events[i] = string.format(event, prefix, tid, counter, i)
  end
  local body = "[" .. table.concat(events, ",") .. "]"
  -- A real browser's user agent, so the API's enrichment does the work it does in production.
  return wrk.format("POST", nil, {["Content-Type"] = "application/json", ["User-Agent"] = user_agent}, body)
end

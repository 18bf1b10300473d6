-- wrk script: POST the contract's detailed example with a unique event_id per request.
-- Pacing, the clean stop and the exact counts live in common.lua (see its header for the env).
-- BENCH_HEADERS: extra request headers, one "Name: value" a line (a write key, an Origin).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")

setup = common.setup
delay = common.delay
response = common.response
done = common.done

local counter = 0
local user_agent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) " ..
  "Chrome/124.0.0.0 Safari/537.36"

-- A real browser's user agent, so the API's enrichment does the work it does in production.
local headers = {["Content-Type"] = "application/json", ["User-Agent"] = user_agent}

function init(args)
  common.init()
  prefix = common.prefix
  for line in (os.getenv("BENCH_HEADERS") or ""):gmatch("[^\n]+") do
    local name, value = line:match("^([^:]+):%s*(.-)%s*$")
    if name then
      headers[name] = value
    end
  end
end

request = function()
  counter = counter + 1
  common.sent_one()
  local body = string.format(
    '{"event_type":"conversion","event_id":"%s-%d-%d","link_id":"abc123","link_slug":"promo-summer",' ..
    '"link_original_url":"https://example.com/summer-promotion",' ..
    '"event_attributes":{"page":"/checkout","product_id":"xyz789"},"user_id":"user123",' ..
    '"team_id":"team456","project_id":"proj789","visitor_id":"vis987","is_bounce":false,' ..
    '"time_spent_sec":120,"conversion_type":"purchase","conversion_value":99.99,' ..
    '"utm_source":"email","utm_campaign":"summer_sale"}', prefix, tid, counter)
  return wrk.format("POST", nil, headers, body)
end

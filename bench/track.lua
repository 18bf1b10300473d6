-- wrk script: POST the contract's detailed example with a unique event_id per request.
-- Pacing, the clean stop and the exact counts live in common.lua (see its header for the env).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")

setup = common.setup
delay = common.delay
response = common.response
done = common.done

local counter = 0

function init(args)
  common.init()
  prefix = common.prefix
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
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end

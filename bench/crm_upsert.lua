-- wrk script: a web form submitting a new lead (an audited upsert that
-- creates), with an externalId no other request uses.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")

local counter = 0
local prefix = ""

function init(args)
  prefix = string.format("%d-%d", os.time(), math.random(1, 1e9))
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"externalId":"wrk-%s-%d","name":"Bench Customer %d","source":"web_form","projectType":"kitchen",' ..
    '"estimatedValue":"18450.00","currency":"USD","phone":"+1 555 0100"}', prefix, counter, counter)
  return wrk.format(nil, nil, nil, body)
end

-- wrk prints p50 to p99; p99.9 comes from here.
function done(summary, latency, requests)
  io.write(string.format("p99.9 %.3fms\n", latency:percentile(99.9) / 1000))
end

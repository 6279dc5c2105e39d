-- wrk script: a mixed CRM workload as a shop's users make it: 60 % lead
-- list pages, 15 % pipeline summaries, 10 % filtered lists, 10 % new leads
-- from the web form (audited upserts), 5 % activity lists.
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
wrk.headers["Content-Type"] = "application/json"

local counter = 0
local prefix = ""

function init(args)
  prefix = string.format("%d-%d", os.time(), math.random(1, 1e9))
end

function request()
  counter = counter + 1
  local r = math.random(100)
  if r <= 60 then
    return wrk.format("GET", "/api/crm/leads?limit=50")
  elseif r <= 75 then
    return wrk.format("GET", "/api/crm/leads/summary")
  elseif r <= 85 then
    return wrk.format("GET", "/api/crm/leads?status=qualified,quoted&sort=-updatedAt&limit=20")
  elseif r <= 95 then
    local body = string.format('{"externalId":"mix-%s-%d","name":"Walk-in %d","source":"showroom","projectType":"closet"}',
      prefix, counter, counter)
    return wrk.format("POST", "/api/crm/leads", nil, body)
  else
    return wrk.format("GET", "/api/crm/activities?limit=20")
  end
end

function done(summary, latency, requests)
  io.write(string.format("p99.9 %.3fms\n", latency:percentile(99.9) / 1000))
end

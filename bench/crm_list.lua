-- wrk script: the first page of the lead list (50 per page), as a signed-in
-- user of the demo shop. TOKEN comes from the environment.
wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")

-- wrk prints p50 to p99; p99.9 comes from here.
function done(summary, latency, requests)
  io.write(string.format("p99.9 %.3fms\n", latency:percentile(99.9) / 1000))
end

-- wrk script: the first page of the lead list (50 per page), as a signed-in
-- user of the demo shop. TOKEN comes from the environment.
wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")

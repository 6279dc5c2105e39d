-- wrk script: POST a small JSON item, as a CRM form would.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"name":"Base cabinet 600 mm, two drawers","notes":"soft-close"}'

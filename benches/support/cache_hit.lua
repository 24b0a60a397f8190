-- wrk script: the same deterministic chat request each time (a cache hit after the first).
wrk.method = "POST"
wrk.body = '{"model":"bench","temperature":0,"messages":[{"role":"user","content":"hi"}]}'
wrk.headers["Content-Type"] = "application/json"

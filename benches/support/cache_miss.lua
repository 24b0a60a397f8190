-- wrk script: the same request, told not to use the cache (always answered by the upstream).
wrk.method = "POST"
wrk.body = '{"model":"bench","temperature":0,"messages":[{"role":"user","content":"hi"}]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Cache-Control"] = "no-cache, no-store"

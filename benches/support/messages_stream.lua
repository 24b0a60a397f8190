-- wrk script: streaming Anthropic Messages request, translated by Lodestar to the chat
-- upstream and its chunks back to Anthropic events (proxy_load bench, translation case).
wrk.method = "POST"
wrk.path = "/v1/messages"
wrk.body = '{"model":"bench","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["anthropic-version"] = "2023-06-01"

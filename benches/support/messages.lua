-- wrk script: non-streaming Anthropic Messages request, translated by Lodestar to the chat
-- upstream (proxy_load bench, translation case).
wrk.method = "POST"
wrk.path = "/v1/messages"
wrk.body = '{"model":"bench","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["anthropic-version"] = "2023-06-01"

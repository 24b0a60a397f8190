-- wrk script: non-streaming OpenAI Responses request, translated by Lodestar to the chat
-- upstream (proxy_load bench, translation case).
wrk.method = "POST"
wrk.path = "/v1/responses"
wrk.body = '{"model":"bench","max_output_tokens":64,"input":"hi"}'
wrk.headers["Content-Type"] = "application/json"

-- wrk script: streaming OpenAI Responses request, translated by Lodestar to the chat upstream
-- and its chunks back to Responses events (proxy_load bench, translation case).
wrk.method = "POST"
wrk.path = "/v1/responses"
wrk.body = '{"model":"bench","max_output_tokens":64,"stream":true,"input":"hi"}'
wrk.headers["Content-Type"] = "application/json"

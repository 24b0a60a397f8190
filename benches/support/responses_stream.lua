-- wrk script: streaming OpenAI Responses request, translated by Lodestar to the chat upstream
-- and its chunks back to Responses events (proxy_load bench, translation case). `store: false`
-- as Codex sends it: keeping the answer for `previous_response_id` is measured by benches/ledger.rs.
wrk.method = "POST"
wrk.path = "/v1/responses"
wrk.body = '{"model":"bench","max_output_tokens":64,"stream":true,"store":false,"input":"hi"}'
wrk.headers["Content-Type"] = "application/json"

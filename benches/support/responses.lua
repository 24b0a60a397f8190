-- wrk script: non-streaming OpenAI Responses request, translated by Lodestar to the chat
-- upstream (proxy_load bench, translation case). `store: false` as Codex sends it: keeping
-- the answer for `previous_response_id` is measured apart, by benches/ledger.rs.
wrk.method = "POST"
wrk.path = "/v1/responses"
wrk.body = '{"model":"bench","max_output_tokens":64,"store":false,"input":"hi"}'
wrk.headers["Content-Type"] = "application/json"

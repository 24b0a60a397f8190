-- wrk script: a different deterministic request each time (fills the cache).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
counter = 0
-- A different sequence in every wrk run (Lua's generator starts the same each time).
math.randomseed(os.time() + os.clock() * 1000000)
request = function()
  counter = counter + 1
  local body = '{"model":"bench","temperature":0,"messages":[{"role":"user","content":"fill ' .. counter .. ' ' .. math.random(1, 1000000000) .. '"}]}'
  return wrk.format(nil, nil, nil, body)
end

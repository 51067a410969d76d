-- wrk script for bench/heartbeats.py: each request posts a heartbeat with the next agent's token.
local tokens = {}
for line in io.lines(os.getenv("HICLAW_BENCH_TOKENS")) do tokens[#tokens + 1] = line end
local counter = 0
local body = '{"state": "idle", "activeTasks": 0, "runtimeVersion": "bench-1.0", "skillsVersion": "v1"}'

request = function()
  counter = counter + 1
  local token = tokens[(counter % #tokens) + 1]
  local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}
  return wrk.format("POST", "/api/v1/heartbeats", headers, body)
end

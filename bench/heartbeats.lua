-- wrk script for bench/heartbeats.py: each request posts a heartbeat.
-- Ingestion: with the next agent's token, the same report each time.
-- Flood (HICLAW_BENCH_FLOOD=1): always the first agent's token, each report with a note of its own,
-- so the history's sampling cannot hide the flood and only the rate limit and the cap bound it.
local tokens = {}
for line in io.lines(os.getenv("HICLAW_BENCH_TOKENS")) do tokens[#tokens + 1] = line end
local flood = os.getenv("HICLAW_BENCH_FLOOD") == "1"
local counter = 0
local body = '{"state": "idle", "activeTasks": 0, "runtimeVersion": "bench-1.0", "skillsVersion": "v1"}'

request = function()
  counter = counter + 1
  local token = tokens[(counter % #tokens) + 1]
  local report = body
  if flood then
    token = tokens[1]
    report = '{"state": "busy", "activeTasks": 1, "note": "flood ' .. counter .. '"}'
  end
  local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}
  return wrk.format("POST", "/api/v1/heartbeats", headers, report)
end

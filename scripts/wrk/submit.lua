-- wrk script: POST pre-signed tx_submit bodies, one per line of the file named by BODIES,
-- each thread its own share (thread k of n takes lines k, k+n, ...), each body once; then
-- counts the transactions the mempool accepted (answers with a result). Usage:
--   BODIES=target/bench-rpc/bodies.jsonl wrk -t2 -c64 -d10s --latency -s scripts/wrk/submit.lua URL
local threads = {}
local counter = 0

function setup(thread)
  thread:set("index", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local n = tonumber(os.getenv("THREADS") or "2")
  bodies = {}
  local k = 0
  for line in io.lines(os.getenv("BODIES")) do
    if k % n == index then table.insert(bodies, line) end
    k = k + 1
  end
  next_body, ok, failed, exhausted = 1, 0, 0, 0
end

function request()
  local body = bodies[next_body]
  if body == nil then
    exhausted = exhausted + 1
    body = '{"jsonrpc":"2.0","id":0,"method":"node_health","params":[]}'
  else
    next_body = next_body + 1
  end
  return wrk.format("POST", "/", {["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
  if string.find(body, '"result":"0x', 1, true) then
    ok = ok + 1
  elseif string.find(body, '"error"', 1, true) then
    failed = failed + 1
  end
end

function done(summary, latency, requests)
  local total_ok, total_failed, total_exhausted = 0, 0, 0
  for _, t in ipairs(threads) do
    total_ok = total_ok + t:get("ok")
    total_failed = total_failed + t:get("failed")
    total_exhausted = total_exhausted + t:get("exhausted")
  end
  local secs = summary.duration / 1e6
  io.write(string.format("results: %d accepted, %d refused, %d after the bodies ran out; %.0f accepted/s; p50 %.2f ms, p99 %.2f ms\n",
    total_ok, total_failed, total_exhausted, total_ok / secs, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end

-- wrk script: POST one JSON-RPC body (from the BODY environment variable) over and over,
-- counting answers that carry a result. Usage:
--   BODY='{"jsonrpc":"2.0","id":1,"method":"node_health","params":[]}' \
--     wrk -t2 -c64 -d10s --latency -s scripts/wrk/post.lua http://127.0.0.1:26756
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.body = os.getenv("BODY")
  ok, failed = 0, 0
end

function response(status, headers, body)
  if string.find(body, '"result"', 1, true) then ok = ok + 1 else failed = failed + 1 end
end

function done(summary, latency, requests)
  local total_ok, total_failed = 0, 0
  for _, t in ipairs(threads) do
    total_ok = total_ok + t:get("ok")
    total_failed = total_failed + t:get("failed")
  end
  local secs = summary.duration / 1e6
  io.write(string.format("results: %d ok, %d errors; %.0f ok/s; p50 %.2f ms, p99 %.2f ms\n",
    total_ok, total_failed, total_ok / secs, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end

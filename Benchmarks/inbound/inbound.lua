-- wrk script: posts pre-signed inbound SMS webhooks, each thread walking its own share of the request file.
-- Environment: REQUESTS (file from gen_requests.py), PATHNAME (/inbound/sms/bench-sms), DELAY_MS (0 = as fast as possible).
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  lines = {}
  for line in io.lines(os.getenv("REQUESTS")) do
    local tab = line:find("\t")
    table.insert(lines, { line:sub(1, tab - 1), line:sub(tab + 1) })
  end
  stride = tonumber(os.getenv("THREADS") or "1")
  index = tonumber(os.getenv("OFFSET") or "0") + id + 1
  delay_ms = tonumber(os.getenv("DELAY_MS") or "0")
  path = os.getenv("PATHNAME")
  non2xx = 0
end

function request()
  local entry = lines[index]
  index = index + stride
  if index > #lines then index = (index % #lines) + 1 end
  return wrk.format("POST", path, {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["X-Twilio-Signature"] = entry[1],
  }, entry[2])
end

function delay()
  return delay_ms
end

function response(status, headers, body)
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
end

function done(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do bad = bad + (thread:get("non2xx") or 0) end
  io.write(string.format('{"benchmark":"inbound-sms","requests":%d,"seconds":%.1f,"rate":%.0f,"p50_ms":%.2f,"p90_ms":%.2f,"p99_ms":%.2f,"max_ms":%.2f,"non_2xx":%d,"socket_errors":%d,"delay_ms":%s}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    bad, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    os.getenv("DELAY_MS") or "0"))
end

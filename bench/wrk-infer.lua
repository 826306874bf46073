-- wrk-infer.lua - wrk script for stippled: POSTs one JPEG, cycling through
-- budgets given in the environment (WRK_BUDGETS="0.25,0.5,1"). By default as
-- KServe v2 infer requests asking only for a small output in binary form;
-- with WRK_ROUTE=detect (or segment) as raw-JPEG POST
-- /v1/models/MODEL/detect?budget=B (or .../segment).
-- WRK_IMAGE is the JPEG file, WRK_MODEL the model, WRK_OUTPUT the output name.

local function b64(data)
  local chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
  return ((data:gsub(".", function(x)
    local r, b = "", x:byte()
    for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and "1" or "0") end
    return r
  end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(x)
    if #x < 6 then return "" end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == "1" and 2 ^ (6 - i) or 0) end
    return chars:sub(c + 1, c + 1)
  end) .. ({"", "==", "="})[#data % 3 + 1])
end

local f = assert(io.open(os.getenv("WRK_IMAGE"), "rb"))
local jpeg = f:read("*a")
f:close()
local image = b64(jpeg)
local model = os.getenv("WRK_MODEL")
local output = os.getenv("WRK_OUTPUT")
local requests = {}
local route = os.getenv("WRK_ROUTE") or "infer"
for budget in string.gmatch(os.getenv("WRK_BUDGETS") or "0.5", "[^,]+") do
  if route ~= "infer" then
    requests[#requests + 1] = wrk.format("POST", "/v1/models/" .. model .. "/" .. route .. "?budget=" .. budget,
      {["Content-Type"] = "image/jpeg"}, jpeg)
  else
    local body = '{"parameters": {"sparsity_budget": ' .. budget .. ', "binary_data_output": true}, ' ..
      '"inputs": [{"name": "image", "shape": [1], "datatype": "BYTES", "data": ["' .. image .. '"]}], ' ..
      '"outputs": [{"name": "' .. output .. '"}]}'
    requests[#requests + 1] = wrk.format("POST", "/v2/models/" .. model .. "/infer",
      {["Content-Type"] = "application/json"}, body)
  end
end
local counter = 0

request = function()
  counter = counter + 1
  return requests[counter % #requests + 1]
end

done = function(summary, latency, requests_)
  io.write(string.format('WRK_JSON {"requests": %d, "duration_s": %.3f, "errors_connect": %d, ' ..
    '"errors_read": %d, "errors_timeout": %d, "non_2xx": %d, "p50_ms": %.2f, "p90_ms": %.2f, ' ..
    '"p99_ms": %.2f, "max_ms": %.2f, "mean_ms": %.2f}\n',
    summary.requests, summary.duration / 1e6, summary.errors.connect, summary.errors.read,
    summary.errors.timeout, summary.errors.status, latency:percentile(50) / 1000,
    latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    latency.mean / 1000))
end

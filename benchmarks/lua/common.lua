-- Shared by every scenario: counts non-2xx answers and prints one JSON line at the end.
local M = {}

function M.done(summary, latency, requests)
  local function p(q) return latency:percentile(q) / 1000.0 end
  io.write(string.format(
    '@@RESULT {"requests": %d, "duration_s": %.6f, "errors_status": %d, ' ..
    '"errors_connect": %d, "errors_read": %d, "errors_write": %d, "errors_timeout": %d, ' ..
    '"p50_ms": %.3f, "p95_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f, "mean_ms": %.3f}\n',
    summary.requests, summary.duration / 1e6, summary.errors.status, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.timeout,
    p(50), p(95), p(99), latency.max / 1000.0, latency.mean / 1000.0))
end

-- Base64 of the few hundred bytes that change in each deposited document (LuaJIT bit ops).
local bit = require('bit')
local band, bor, lshift, rshift = bit.band, bit.bor, bit.lshift, bit.rshift
local alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
local chars = {}
for i = 1, 64 do chars[i - 1] = alphabet:sub(i, i) end

function M.base64(s)
  local out, n = {}, #s
  local i = 1
  while i + 2 <= n do
    local a, b2, c = s:byte(i, i + 2)
    local v = bor(lshift(a, 16), lshift(b2, 8), c)
    out[#out + 1] = chars[rshift(v, 18)] .. chars[band(rshift(v, 12), 63)]
      .. chars[band(rshift(v, 6), 63)] .. chars[band(v, 63)]
    i = i + 3
  end
  local rest = n - i + 1
  if rest == 1 then
    local v = lshift(s:byte(i), 16)
    out[#out + 1] = chars[rshift(v, 18)] .. chars[band(rshift(v, 12), 63)] .. '=='
  elseif rest == 2 then
    local a, b2 = s:byte(i, i + 1)
    local v = bor(lshift(a, 16), lshift(b2, 8))
    out[#out + 1] = chars[rshift(v, 18)] .. chars[band(rshift(v, 12), 63)]
      .. chars[band(rshift(v, 6), 63)] .. '='
  end
  return table.concat(out)
end

function M.read_lines(path)
  local lines = {}
  for line in io.lines(path) do lines[#lines + 1] = line end
  return lines
end

function M.read_file(path)
  local f = assert(io.open(path, 'rb'))
  local data = f:read('*a')
  f:close()
  return data
end

return M

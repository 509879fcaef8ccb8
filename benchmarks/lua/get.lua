-- GET scenarios (ITI-67 search, ITI-68 retrieve, TD0.2 existence test): one path per line
-- in BENCH_PATHS, taken round-robin per thread; bearer token in BENCH_TOKEN.
package.path = os.getenv('BENCH_LUA') .. '/?.lua;' .. package.path
local common = require('common')
local paths = common.read_lines(os.getenv('BENCH_PATHS'))
local token = os.getenv('BENCH_TOKEN')
local accept = os.getenv('BENCH_ACCEPT') or 'application/fhir+json'
local n = 0

function setup(thread) end

function init(args)
  n = math.random(1, #paths)
end

function request()
  n = n % #paths + 1
  return wrk.format('GET', paths[n], {
    ['Authorization'] = 'Bearer ' .. token,
    ['Accept'] = accept,
  })
end

done = common.done

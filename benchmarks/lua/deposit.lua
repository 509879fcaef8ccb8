-- ITI-65 one-document bundle. The runner prepares the body in pieces so that each request
-- only rewrites the document's uniqueId and patient INS: in the JSON metadata, and in the
-- CDA header, whose base64 is the concatenation of three 3-byte-aligned pieces (only the
-- middle one, holding both values, is encoded per request).
package.path = os.getenv('BENCH_LUA') .. '/?.lua;' .. package.path
local common = require('common')
local dir = os.getenv('BENCH_DEPOSIT')
local token = os.getenv('BENCH_TOKEN')
local head = common.read_file(dir .. '/head.json')
local b64_prefix = common.read_file(dir .. '/prefix.b64')
local middle = common.read_file(dir .. '/middle.bin')
local b64_suffix = common.read_file(dir .. '/suffix.b64')
local tail = common.read_file(dir .. '/tail.json')
local patients = common.read_lines(dir .. '/patients.txt')
local uid_placeholder = common.read_file(dir .. '/uid.txt')
local ins_placeholder = common.read_file(dir .. '/ins.txt')
local thread_id = 0
local counter = 0

function setup(thread)
  thread_id = thread_id + 1
  thread:set('tid', thread_id)
end

function init(args)
  math.randomseed(os.time() + (tid or 0) * 7919)
end

local function plain(s)
  return (s:gsub('[%-%.%+%[%]%(%)%$%^%%%?%*]', '%%%1'))
end

function request()
  counter = counter + 1
  local uid = string.format('2.25.9%02d%012d%05d', tid or 0, counter, math.random(0, 99999))
  local ins = patients[math.random(1, #patients)]
  local mid = middle:gsub(plain(uid_placeholder), uid):gsub(plain(ins_placeholder), ins)
  local meta = head:gsub('@@UID@@', uid):gsub('@@INS@@', ins)
  local body = table.concat({ meta, b64_prefix, common.base64(mid), b64_suffix, tail })
  return wrk.format('POST', '/fhir', {
    ['Authorization'] = 'Bearer ' .. token,
    ['Content-Type'] = 'application/fhir+json',
    ['Accept'] = 'application/fhir+json',
  }, body)
end

done = common.done

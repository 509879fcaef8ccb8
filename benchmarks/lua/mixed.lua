-- A professional's working session, repeated: search one patient's documents (ITI-67),
-- read three of them (ITI-68), deposit one (ITI-65). BENCH_MIXED lines: "INS docid docid docid".
package.path = os.getenv('BENCH_LUA') .. '/?.lua;' .. package.path
local common = require('common')
local dir = os.getenv('BENCH_DEPOSIT')
local token = os.getenv('BENCH_TOKEN')
local oid = os.getenv('BENCH_INS_OID')
local head = common.read_file(dir .. '/head.json')
local b64_prefix = common.read_file(dir .. '/prefix.b64')
local middle = common.read_file(dir .. '/middle.bin')
local b64_suffix = common.read_file(dir .. '/suffix.b64')
local tail = common.read_file(dir .. '/tail.json')
local uid_placeholder = common.read_file(dir .. '/uid.txt')
local ins_placeholder = common.read_file(dir .. '/ins.txt')
local sessions = {}
for _, line in ipairs(common.read_lines(os.getenv('BENCH_MIXED'))) do
  local parts = {}
  for word in line:gmatch('%S+') do parts[#parts + 1] = word end
  sessions[#sessions + 1] = parts
end
local thread_id = 0
local step, counter, current = 0, 0, nil

function setup(thread)
  thread_id = thread_id + 1
  thread:set('tid', thread_id)
end

local function plain(s)
  return (s:gsub('[%-%.%+%[%]%(%)%$%^%%%?%*]', '%%%1'))
end

local headers = {
  ['Authorization'] = 'Bearer ' .. token,
  ['Accept'] = 'application/fhir+json',
}

function request()
  step = step % 5 + 1
  if step == 1 then
    current = sessions[math.random(1, #sessions)]
    return wrk.format('GET', '/fhir/DocumentReference?status=current&_count=20&patient.identifier='
      .. 'urn:oid:' .. oid .. '%7C' .. current[1], headers)
  elseif step <= 4 then
    return wrk.format('GET', '/fhir/Binary/' .. current[step], {
      ['Authorization'] = 'Bearer ' .. token, ['Accept'] = '*/*' })
  end
  counter = counter + 1
  local uid = string.format('2.25.8%02d%012d%05d', tid or 0, counter, math.random(0, 99999))
  local ins = current[1]
  local mid = middle:gsub(plain(uid_placeholder), uid):gsub(plain(ins_placeholder), ins)
  local meta = head:gsub('@@UID@@', uid):gsub('@@INS@@', ins)
  return wrk.format('POST', '/fhir', {
    ['Authorization'] = 'Bearer ' .. token,
    ['Content-Type'] = 'application/fhir+json',
    ['Accept'] = 'application/fhir+json',
  }, table.concat({ meta, b64_prefix, common.base64(mid), b64_suffix, tail }))
end

done = common.done

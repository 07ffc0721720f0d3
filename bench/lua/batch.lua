-- $batch against separate requests (bench/batch.py). args: IDS_FILE MODE N
--   MODE "single": GET one run by id per request;
--   MODE "batch":  POST /beta/$batch holding N such GETs (ids at random).
dofile(os.getenv("BENCH_LUA") .. "/common.lua")
function init(args)
  ids = load_ids(args[1])
  mode = args[2]
  n = tonumber(args[3])
  math.randomseed(tid * 7919 + 1)
end
local function run_url()
  return "industryData/runs/" .. ids[math.random(#ids)]
end
function request()
  if mode == "single" then
    return wrk.format("GET", "/beta/" .. run_url())
  end
  local items = {}
  for i = 1, n do
    items[i] = string.format('{"id":"%d","method":"GET","url":"%s"}', i, run_url())
  end
  return wrk.format("POST", "/beta/$batch", headers, '{"requests":[' .. table.concat(items, ",") .. ']}')
end

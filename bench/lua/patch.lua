-- PATCH the statistics of a running run (progress), ids at random. args: IDS_FILE
dofile(os.getenv("BENCH_LUA") .. "/common.lua")
function init(args)
  ids = load_ids(args[1])
  math.randomseed(tid * 104729 + 3)
  n = 0
end
function request()
  n = n + 1
  return wrk.format("PATCH", "/beta/industryData/runs/" .. ids[math.random(#ids)], headers,
    '{"statistics":{"rows":' .. n .. ',"phase":"load"}}')
end

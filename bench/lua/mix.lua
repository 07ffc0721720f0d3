-- 80% reads (GET a run by id), 20% writes (PATCH a running run's statistics). args: READ_IDS WRITE_IDS
dofile(os.getenv("BENCH_LUA") .. "/common.lua")
function init(args)
  reads = load_ids(args[1])
  writes = load_ids(args[2])
  math.randomseed(tid * 15485863 + 5)
  n = 0
end
function request()
  n = n + 1
  if math.random(5) == 1 then
    return wrk.format("PATCH", "/beta/industryData/runs/" .. writes[math.random(#writes)], headers,
      '{"statistics":{"rows":' .. n .. '}}')
  end
  return wrk.format("GET", "/beta/industryData/runs/" .. reads[math.random(#reads)])
end

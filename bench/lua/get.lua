-- GET a run by id, ids drawn at random from a sample. args: IDS_FILE
dofile(os.getenv("BENCH_LUA") .. "/common.lua")
function init(args)
  ids = load_ids(args[1])
  math.randomseed(tid * 7919 + 1)
end
function request()
  return wrk.format("GET", "/beta/industryData/runs/" .. ids[math.random(#ids)])
end

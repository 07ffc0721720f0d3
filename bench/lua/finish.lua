-- PATCH a running run to completed: each request finishes a different run. args: IDS_FILE THREADS
dofile(os.getenv("BENCH_LUA") .. "/common.lua")
function init(args)
  ids = load_ids(args[1])
  stride = tonumber(args[2])
  idx = tid
end
function request()
  local id = ids[(idx % #ids) + 1]
  idx = idx + stride
  return wrk.format("PATCH", "/beta/industryData/runs/" .. id, headers, '{"status":"completed"}')
end

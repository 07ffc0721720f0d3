-- PATCH a running run to completed: every request finishes a different running run, never one
-- already finished. Thread k takes ids k, k+THREADS, ...; when its share runs out it stops (its
-- last requests go to /livez) and the summary says so, since the figure then covers a shorter
-- time. args: IDS_FILE THREADS
dofile(os.getenv("BENCH_LUA") .. "/common.lua")
function init(args)
  ids = load_ids(args[1])
  stride = tonumber(args[2])
  idx = tid
  exhausted = 0
end
function request()
  if idx >= #ids then
    exhausted = 1
    return wrk.format("GET", "/livez")
  end
  local id = ids[idx + 1]
  idx = idx + stride
  return wrk.format("PATCH", "/beta/industryData/runs/" .. id, headers, '{"status":"completed"}')
end
function response(status, headers, body)
  if exhausted == 1 then wrk.thread:stop() end
end
function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    if thread:get("exhausted") == 1 then
      io.stderr:write("finish.lua: ran out of running runs before the end of the run\n")
      return
    end
  end
end

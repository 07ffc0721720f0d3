-- POST a new running run to one flow's runs. args: FLOW_ID
dofile(os.getenv("BENCH_LUA") .. "/common.lua")
function init(args)
  path = "/beta/industryData/incomingFlows/" .. args[1] .. "/runs"
  n = 0
end
function request()
  n = n + 1
  return wrk.format("POST", path, headers, '{"displayName":"bench create ' .. n .. '","statistics":{"rows":0}}')
end

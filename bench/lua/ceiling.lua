-- The do-nothing route of the same binary: this machine's HTTP ceiling at this moment.
dofile(os.getenv("BENCH_LUA") .. "/common.lua")
function request()
  return wrk.format("GET", "/livez")
end

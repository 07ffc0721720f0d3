-- GET a filtered page of 100, newest first. args: none
dofile(os.getenv("BENCH_LUA") .. "/common.lua")
function request()
  return wrk.format("GET", "/beta/industryData/runs?$filter=status%20eq%20%27failed%27&$orderby=startDateTime%20desc&$top=100")
end

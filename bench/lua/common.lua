-- Shared by the scenario scripts: loads an id list and gives each wrk thread its own slice, so that
-- scenarios that consume ids (finishing runs) never hit the same run twice.
local threads = {}
local next_tid = 0

function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
  table.insert(threads, thread)
end

function load_ids(path)
  local ids = {}
  for line in io.lines(path) do
    if #line > 0 then table.insert(ids, line) end
  end
  return ids
end

headers = { ["Content-Type"] = "application/json" }

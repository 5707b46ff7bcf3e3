-- wrk script for self-service throughput: every completion is a real native (API) flow, one
-- GET that starts it and one POST that submits it, so each completion costs one password hash.
-- Usage: wrk ... -s bench/flows.lua URL -- login|registration NONCE USERS PASSWORD
-- Prints COMPLETED, ERRORS and DURATION_US for bench/bench.py.

local threads = {}
local next_tid = 0

function setup(thread)
  next_tid = next_tid + 1
  thread:set("tid", next_tid)
  table.insert(threads, thread)
end

function init(args)
  mode = args[1] or "login"
  nonce = args[2] or "0"
  users = tonumber(args[3] or "1")
  password = args[4] or "Kx9#mTq2-plover-anvil"
  completed = 0
  errors = 0
  counter = 0
  queue = {}
end

local json_headers = { ["Content-Type"] = "application/json", ["Accept"] = "application/json" }

function request()
  local id = table.remove(queue)
  if id == nil then
    return wrk.format("GET", "/self-service/" .. mode .. "/api", { ["Accept"] = "application/json" })
  end
  counter = counter + 1
  local body
  if mode == "login" then
    local user = (counter * 7 + tid) % users
    body = '{"method":"password","identifier":"user' .. user .. '@bench.test","password":"' .. password .. '"}'
  else
    body = '{"method":"password","password":"' .. password .. '","traits":{"email":"reg-' .. nonce .. '-' .. tid .. '-' .. counter .. '@bench.test"}}'
  end
  return wrk.format("POST", "/self-service/" .. mode .. "?flow=" .. id, json_headers, body)
end

function response(status, headers, body)
  if status ~= 200 then
    errors = errors + 1
    return
  end
  if body:find('"request_url"', 1, true) then
    -- A new flow: its id is the document's first field.
    local id = body:match('^{"id":"([0-9a-f%-]+)"')
    if id then
      table.insert(queue, id)
    else
      errors = errors + 1
    end
  else
    completed = completed + 1
  end
end

function done(summary, latency, requests)
  local total, errs = 0, 0
  for _, t in ipairs(threads) do
    total = total + t:get("completed")
    errs = errs + t:get("errors")
  end
  io.write(string.format("COMPLETED %d\nERRORS %d\nDURATION_US %d\n", total, errs, summary.duration))
end

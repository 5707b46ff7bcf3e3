-- wrk script for self-service throughput: every completion is a real native (API) flow, one
-- GET that starts it and one POST that submits it, so each completion costs one password hash.
-- Usage: wrk ... -s bench/flows.lua URL -- login|registration|attack NONCE USERS PASSWORD
-- `attack` is a login with a wrong password against expensive0..USERS-1@bench.test (imported
-- identities with expensive hashes): a 400 (invalid credentials) counts as REJECTED, a 503
-- (the expensive-hash lane is full) as REFUSED.
-- Prints COMPLETED, ERRORS, REJECTED, REFUSED and DURATION_US for bench/bench.py.

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
  rejected = 0
  refused = 0
  counter = 0
  queue = {}
end

local json_headers = { ["Content-Type"] = "application/json", ["Accept"] = "application/json" }

function request()
  local id = table.remove(queue)
  local flow = mode == "attack" and "login" or mode
  if id == nil then
    return wrk.format("GET", "/self-service/" .. flow .. "/api", { ["Accept"] = "application/json" })
  end
  counter = counter + 1
  local body
  if mode == "login" or mode == "attack" then
    local user = (counter * 7 + tid) % users
    local who = mode == "attack" and "expensive" or "user"
    body = '{"method":"password","identifier":"' .. who .. user .. '@bench.test","password":"' .. password .. '"}'
  else
    body = '{"method":"password","password":"' .. password .. '","traits":{"email":"reg-' .. nonce .. '-' .. tid .. '-' .. counter .. '@bench.test"}}'
  end
  return wrk.format("POST", "/self-service/" .. flow .. "?flow=" .. id, json_headers, body)
end

function response(status, headers, body)
  if mode == "attack" and status == 400 then
    rejected = rejected + 1
    return
  end
  if mode == "attack" and status == 503 then
    refused = refused + 1
    return
  end
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
  local total, errs, rej, ref = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    total = total + t:get("completed")
    errs = errs + t:get("errors")
    rej = rej + t:get("rejected")
    ref = ref + t:get("refused")
  end
  io.write(string.format("COMPLETED %d\nERRORS %d\nREJECTED %d\nREFUSED %d\nDURATION_US %d\n",
    total, errs, rej, ref, summary.duration))
end

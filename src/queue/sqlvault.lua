#!lua name=sqlvault
--[[
sqlvault.lua -- the sqlvault job protocol as one Redis Function library.

Every function takes exactly one key: the pool's key prefix, for example
"sqlvault:{default}:". Every key a function touches starts with it, so they all
share the pool's hash slot (Redis Cluster safe). Times are Redis server time in
ms since the epoch (TIME), so hosts with skewed clocks agree on leases.
docs/PROTOCOL.md describes every key, field and state; keep the two in step.
Load with: redis-cli FUNCTION LOAD REPLACE "$(cat sqlvault.lua)"
]]

local VERSION = 10           -- bump on every change (QUEUE_LIBRARY_VERSION in queue.h)
local EVENTS_MAXLEN = 10000   -- events stream cap (approximate trimming)
local DEAD_MAXLEN = 10000     -- dead-letter stream cap
local RECENT_MAX = 10000      -- recent-jobs index cap
local WAKE_MAX = 1000         -- wake tokens kept
local TTL_OK = 7 * 86400      -- finished job hash TTL after success or cancel (s)
local TTL_FAIL = 30 * 86400   -- after failure (s)
local GROUP = 'workers'
local CONSUMER = 'claim'
local SCAN_LIMIT = 50         -- delayed / stalled jobs handled per call
local DRAIN_MAX = 1000        -- dirty workspaces one sqlvault_dirty_drain call takes at most

-- Lock mode of a job type: x exclusive on its workspace, s shared, n none.
local LOCKS = { backup = 'x', export = 'x', restore = 'x', verify = 's', prune = 'x', inspect = 'n',
                ['import-url'] = 'n', replicate = 's' }

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function valid_id(s)
  return type(s) == 'string' and #s >= 1 and #s <= 128 and s:match('^[%w][%w_%-]*$') ~= nil
end

-- True when s is well-formed UTF-8: no stray or missing continuation bytes,
-- no overlong forms, no surrogates, nothing past U+10FFFF.
local function utf8_ok(s)
  if not s:find('[\128-\255]') then return true end
  local i, n = 1, #s
  while i <= n do
    local c = s:byte(i)
    if c < 0x80 then
      i = i + 1
    else
      local len, cp, min
      if c >= 0xC2 and c <= 0xDF then len, cp, min = 2, c - 0xC0, 0x80
      elseif c >= 0xE0 and c <= 0xEF then len, cp, min = 3, c - 0xE0, 0x800
      elseif c >= 0xF0 and c <= 0xF4 then len, cp, min = 4, c - 0xF0, 0x10000
      else return false end
      if i + len - 1 > n then return false end
      for k = i + 1, i + len - 1 do
        local b = s:byte(k)
        if b < 0x80 or b > 0xBF then return false end
        cp = cp * 64 + (b - 0x80)
      end
      if cp < min or cp > 0x10FFFF or (cp >= 0xD800 and cp <= 0xDFFF) then return false end
      i = i + len
    end
  end
  return true
end

-- The name of the first option (key or string value, at any depth) that is
-- not valid UTF-8, or nil. Only called when the packed options hold a byte
-- >= 0x80, so the usual ASCII options cost one string.find.
local function opts_bad_utf8(v, name)
  local t = type(v)
  if t == 'string' then
    if not utf8_ok(v) then return name end
  elseif t == 'table' then
    for k, x in pairs(v) do
      if type(k) == 'string' and not utf8_ok(k) then return 'with an invalid name' end
      local bad = opts_bad_utf8(x, type(k) == 'string' and k or name)
      if bad then return bad end
    end
  end
  return nil
end

-- Appends an event to the capped stream and publishes it as JSON.
local function event(B, id, ev, extra)
  local args = { B .. 'events', 'MAXLEN', '~', EVENTS_MAXLEN, '*', 'job', id, 'event', ev }
  local msg = { job = id, event = ev }
  if extra then
    for k, v in pairs(extra) do
      table.insert(args, k); table.insert(args, tostring(v)); msg[k] = v
    end
  end
  local eid = redis.call('XADD', unpack(args))
  msg.id = eid
  redis.call('PUBLISH', B .. 'events', cjson.encode(msg))
end

-- The three priorities, in the order claims serve them: user-facing work
-- first, then the dirty set's RPO backups (sqlvault_dirty_drain: a burst of
-- thousands a minute at scale must not hold up a user's restore or export),
-- then the cron sweep. Each has its own stream PREFIX:{POOL}:q:PRIORITY (the
-- pool's hash tag, so one slot in a cluster).
local PRIORITIES = { 'interactive', 'dirty', 'scheduled' }

local function stream(B, prio)
  if prio == 'scheduled' then return B .. 'q:scheduled' end
  if prio == 'dirty' then return B .. 'q:dirty' end
  return B .. 'q:interactive'
end

-- Puts a job id on its priority stream and wakes one idle worker.
local function push(B, id, prio)
  local eid = redis.call('XADD', stream(B, prio), '*', 'id', id)
  redis.call('HSET', B .. 'job:' .. id, 'entry', eid)
  redis.call('LPUSH', B .. 'wake', '1')
  redis.call('LTRIM', B .. 'wake', 0, WAKE_MAX - 1)
end

-- Releases a job's workspace lock and requeues every job parked on it.
local function unlock(B, id, ws)
  if not ws or ws == '' then return end
  local lk = B .. 'lock:' .. ws
  if redis.call('HDEL', lk, id) == 0 then return end
  local wk = B .. 'wait:' .. ws
  local waiters = redis.call('LRANGE', wk, 0, -1)
  redis.call('DEL', wk)
  for _, w in ipairs(waiters) do
    local st = redis.call('HMGET', B .. 'job:' .. w, 'state', 'priority')
    if st[1] == 'queued' then push(B, w, st[2]) end
  end
end

-- Takes the workspace lock in mode m for job id; false if another job holds it.
local function lock(B, id, ws, m)
  local lk = B .. 'lock:' .. ws
  local h = redis.call('HGETALL', lk)
  for i = 1, #h, 2 do
    local holder, hm = h[i], h[i + 1]
    if holder ~= id then
      local st = redis.call('HGET', B .. 'job:' .. holder, 'state')
      if st ~= 'active' and st ~= 'queued' then
        redis.call('HDEL', lk, holder)            -- stale holder
      elseif m == 'x' or hm == 'x' then
        return false
      end
    end
  end
  redis.call('HSET', lk, id, m)
  return true
end

-- A dirty-set backup (sqlvault_dirty_drain) that has ended: forget it as its
-- workspace's pending one, so PREFIX:{POOL}:dirtyjobs holds only unfinished jobs.
local function dirty_forget(B, id, ws)
  if not ws or ws == '' then return end
  local dj = B .. 'dirtyjobs'
  if redis.call('HGET', dj, ws) == id then redis.call('HDEL', dj, ws) end
end

-- Ends a job for good: failed (dead-lettered) or after max attempts.
local function fail_final(B, id, j, now, msg, code)
  local jk = B .. 'job:' .. id
  redis.call('HSET', jk, 'state', 'failed', 'finished_at', now, 'error', msg, 'error_code', code)
  redis.call('HDEL', jk, 'lease', 'lease_until')
  redis.call('ZREM', B .. 'active', id)
  redis.call('XADD', B .. 'dead', 'MAXLEN', '~', DEAD_MAXLEN, '*', 'job', id, 'type', j.type or '',
             'workspace', j.workspace or '', 'attempt', j.attempt or '0', 'error_code', code,
             'error', msg, 'failed_at', now)
  redis.call('EXPIRE', jk, TTL_FAIL)
  redis.call('HINCRBY', B .. 'stats', 'failed', 1)
  unlock(B, id, j.workspace)
  dirty_forget(B, id, j.workspace)
  event(B, id, 'failed', { error = msg, error_code = code, attempt = j.attempt })
end

local function hash(B, id, ...)
  local v = redis.call('HMGET', B .. 'job:' .. id, ...)
  local r = {}
  for i, f in ipairs({ ... }) do r[f] = v[i] end
  return r
end

-- Moves due delayed jobs (retries) back onto their streams.
local function promote(B, now)
  local due = redis.call('ZRANGEBYSCORE', B .. 'delayed', '-inf', now, 'LIMIT', 0, SCAN_LIMIT)
  for _, id in ipairs(due) do
    redis.call('ZREM', B .. 'delayed', id)
    local j = hash(B, id, 'state', 'priority')
    if j.state == 'retrying' then
      redis.call('HSET', B .. 'job:' .. id, 'state', 'queued')
      push(B, id, j.priority)
      event(B, id, 'queued')
    end
  end
end

-- Requeues jobs whose lease lapsed (worker died or stalled), or fails them
-- once they have used up their attempts.
local function reap(B, now)
  local lapsed = redis.call('ZRANGEBYSCORE', B .. 'active', '-inf', now, 'LIMIT', 0, SCAN_LIMIT)
  for _, id in ipairs(lapsed) do
    redis.call('ZREM', B .. 'active', id)
    local j = hash(B, id, 'state', 'attempt', 'max_attempts', 'priority', 'workspace', 'type', 'worker')
    if j.state == 'active' then
      local jk = B .. 'job:' .. id
      redis.call('HINCRBY', B .. 'stats', 'stalled', 1)
      if tonumber(j.attempt or '0') >= tonumber(j.max_attempts or '1') then
        fail_final(B, id, j, now, 'worker ' .. (j.worker or '?') .. ' lost its lease on attempt ' ..
                   (j.attempt or '?') .. ' (crashed or stalled) and no attempts are left', 'lease')
      else
        redis.call('HDEL', jk, 'lease', 'lease_until')
        redis.call('HSET', jk, 'state', 'queued', 'stage', 'stalled')
        push(B, id, j.priority)
        event(B, id, 'stalled', { worker = j.worker or '' })
      end
    end
  end
end

-- FCALL sqlvault_enqueue 1 B id type workspace priority max_attempts opts [reason]
-- opts: a msgpack map ('' = empty). Returns {1, 'queued'} for a new job or
-- {0, state} when the id exists (dedup).
local function enqueue(keys, args)
  local B = keys[1]
  local id, typ, ws, prio, maxa, opts, reason = args[1], args[2], args[3] or '',
      args[4] or 'interactive', tonumber(args[5] or '5'), args[6] or '', args[7] or ''
  if not valid_id(id) then return redis.error_reply('ERR invalid job id') end
  if not typ or typ == '' or #typ > 64 then return redis.error_reply('ERR invalid job type') end
  if ws ~= '' and not valid_id(ws) then return redis.error_reply('ERR invalid workspace id') end
  if prio ~= 'interactive' and prio ~= 'dirty' and prio ~= 'scheduled' then
    return redis.error_reply('ERR priority must be interactive, dirty or scheduled')
  end
  if not maxa or maxa < 1 then return redis.error_reply('ERR invalid max_attempts') end
  if opts ~= '' then
    local b = string.byte(opts, 1)
    if not ((b >= 0x80 and b <= 0x8f) or b == 0xde or b == 0xdf) then
      return redis.error_reply('ERR opts must be a msgpack map')
    end
    if opts:find('[\128-\255]', 2) then
      local ok, v = pcall(cmsgpack.unpack, opts)
      if not ok then return redis.error_reply('ERR opts must be a msgpack map') end
      local bad = opts_bad_utf8(v, '?')
      if bad then return redis.error_reply('ERR option ' .. bad .. ' is not valid UTF-8') end
    end
  end
  if not utf8_ok(reason) then return redis.error_reply('ERR reason is not valid UTF-8') end
  local jk = B .. 'job:' .. id
  local st = redis.call('HGET', jk, 'state')
  if st then return { 0, st } end
  local now = now_ms()
  local pool = B:match('{(.*)}') or ''
  redis.call('HSET', jk, 'type', typ, 'workspace', ws, 'pool', pool, 'priority', prio,
             'state', 'queued', 'attempt', 0, 'max_attempts', maxa, 'stage', '',
             'bytes_done', 0, 'bytes_total', 0, 'created_at', now, 'reason', reason,
             'lock', LOCKS[typ] or 'x', 'opts', opts)
  if ws == '' then redis.call('HSET', jk, 'lock', 'n') end
  local sk = stream(B, prio)
  if redis.call('EXISTS', sk) == 0 then
    redis.call('XGROUP', 'CREATE', sk, GROUP, '0', 'MKSTREAM')
  end
  push(B, id, prio)
  redis.call('ZADD', B .. 'recent', now, id)
  redis.call('ZREMRANGEBYRANK', B .. 'recent', 0, -(RECENT_MAX + 1))
  redis.call('HINCRBY', B .. 'stats', 'enqueued', 1)
  event(B, id, 'queued', { type = typ, workspace = ws })
  return { 1, 'queued' }
end

-- Reads the next stream entry of one priority, creating the group if needed.
-- The consumer name is fixed: the entry is acknowledged in the same atomic
-- call, so the group's pending list stays empty and its consumer list holds
-- one name, however many workers come and go.
local function next_entry(B, sk)
  local ok, r = pcall(redis.call, 'XREADGROUP', 'GROUP', GROUP, CONSUMER, 'COUNT', 1, 'STREAMS', sk, '>')
  if not ok then
    redis.call('XGROUP', 'CREATE', sk, GROUP, '0', 'MKSTREAM')
    r = redis.call('XREADGROUP', 'GROUP', GROUP, CONSUMER, 'COUNT', 1, 'STREAMS', sk, '>')
  end
  if not r or not r[1] or #r[1][2] == 0 then return nil end
  local e = r[1][2][1]
  redis.call('XACK', sk, GROUP, e[1])
  redis.call('XDEL', sk, e[1])
  local f = e[2]
  for i = 1, #f, 2 do if f[i] == 'id' then return f[i + 1] end end
  return ''
end

-- FCALL sqlvault_claim 1 B worker token lease_ms
-- Takes the next runnable job, interactive before dirty before scheduled
-- (PRIORITIES), and leases it.
-- Jobs whose workspace lock is held are parked on the workspace's wait list
-- (no thread waits). Returns {id, type, workspace, attempt, max_attempts,
-- opts, ts, fence} or nil when nothing is runnable.
local function claim(keys, args)
  local B, worker, token, lease = keys[1], args[1], args[2], tonumber(args[3])
  local now = now_ms()
  promote(B, now)
  local exhausted = true
  for _, prio in ipairs(PRIORITIES) do
    local sk = stream(B, prio)
    for n = 1, 101 do
      if n == 101 then exhausted = false; break end   -- parked 100: let others run
      local id = next_entry(B, sk)
      if not id then break end
      local jk = B .. 'job:' .. id
      local j = hash(B, id, 'state', 'type', 'workspace', 'attempt', 'max_attempts', 'opts', 'ts', 'lock')
      if j.state == 'queued' then
        local ws = j.workspace or ''
        if ws ~= '' and j.lock ~= 'n' and not lock(B, id, ws, j.lock or 'x') then
          redis.call('RPUSH', B .. 'wait:' .. ws, id)
          redis.call('HSET', jk, 'stage', 'waiting for workspace lock')
        else
          local fence = redis.call('INCR', B .. 'fence')
          local attempt = tonumber(j.attempt or '0') + 1
          local ts = j.ts
          if not ts then ts = tostring(now); redis.call('HSET', jk, 'ts', ts) end
          redis.call('HDEL', jk, 'done_by', 'cancel_requested')
          redis.call('HSET', jk, 'state', 'active', 'attempt', attempt, 'worker', worker,
                     'lease', token, 'lease_until', now + lease, 'fence', fence,
                     'started_at', now, 'stage', 'starting', 'bytes_done', 0, 'bytes_total', 0)
          redis.call('ZADD', B .. 'active', now + lease, id)
          event(B, id, 'active', { worker = worker, attempt = attempt })
          return { id, j.type, ws, attempt, tonumber(j.max_attempts or '1'), j.opts or '', ts, fence }
        end
      end
    end
  end
  if exhausted then redis.call('DEL', B .. 'wake') end  -- nothing runnable: wake tokens are stale
  return nil
end

-- FCALL sqlvault_complete 1 B id token outcome payload error_code retry_ms rt
-- outcome: ok (payload = result JSON), fail (payload = error message; retry_ms
-- >= 0 asks for a retry after that delay, -1 = do not retry), cancel.
-- Returns {1, state} or {0, 'lease lost'} when token no longer holds the lease.
local function complete(keys, args)
  local B, id, token, outcome, payload = keys[1], args[1], args[2], args[3], args[4] or ''
  local code, retry, rt = args[5] or 'internal', tonumber(args[6] or '-1'), tonumber(args[7] or '0')
  local jk = B .. 'job:' .. id
  local j = hash(B, id, 'state', 'lease', 'attempt', 'max_attempts', 'workspace', 'type', 'done_by')
  if j.done_by == token and token ~= '' then return { 1, j.state } end  -- a retried call
  if j.state ~= 'active' or j.lease ~= token then return { 0, 'lease lost' } end
  local now = now_ms()
  redis.call('ZREM', B .. 'active', id)
  redis.call('HDEL', jk, 'lease', 'lease_until')
  redis.call('HSET', jk, 'done_by', token)
  if rt and rt > 0 then redis.call('HINCRBY', B .. 'stats', 'rt_jobs', rt) end
  if outcome == 'ok' then
    redis.call('HSET', jk, 'state', 'succeeded', 'finished_at', now, 'result', payload, 'stage', 'done')
    redis.call('HDEL', jk, 'error', 'error_code')
    redis.call('EXPIRE', jk, TTL_OK)
    redis.call('HINCRBY', B .. 'stats', 'succeeded', 1)
    unlock(B, id, j.workspace)
    dirty_forget(B, id, j.workspace)
    event(B, id, 'succeeded', { type = j.type })
    return { 1, 'succeeded' }
  elseif outcome == 'cancel' then
    redis.call('HSET', jk, 'state', 'cancelled', 'finished_at', now, 'error', payload, 'error_code', 'cancel')
    redis.call('EXPIRE', jk, TTL_OK)
    redis.call('HINCRBY', B .. 'stats', 'cancelled', 1)
    unlock(B, id, j.workspace)
    dirty_forget(B, id, j.workspace)
    event(B, id, 'cancelled')
    return { 1, 'cancelled' }
  end
  if retry >= 0 and tonumber(j.attempt) < tonumber(j.max_attempts) then
    redis.call('HSET', jk, 'state', 'retrying', 'error', payload, 'error_code', code,
               'retry_at', now + retry, 'stage', 'retrying')
    redis.call('ZADD', B .. 'delayed', now + retry, id)
    redis.call('HINCRBY', B .. 'stats', 'retried', 1)
    unlock(B, id, j.workspace)
    event(B, id, 'retrying', { error = payload, error_code = code, attempt = j.attempt,
                                retry_at = now + retry })
    return { 1, 'retrying' }
  end
  fail_final(B, id, j, now, payload, code)
  return { 1, 'failed' }
end

-- FCALL sqlvault_progress 1 B id token stage bytes_done bytes_total
-- Returns 1, or 0 when the lease is lost.
local function progress(keys, args)
  local B, id, token = keys[1], args[1], args[2]
  local jk = B .. 'job:' .. id
  if redis.call('HGET', jk, 'lease') ~= token then return 0 end
  redis.call('HSET', jk, 'stage', args[3], 'bytes_done', args[4], 'bytes_total', args[5])
  return 1
end

-- FCALL sqlvault_renew 1 B id token lease_ms
-- Renews one lease now (a job about to pass a commit point). Returns 1, or 0
-- when token no longer holds the lease.
local function renew(keys, args)
  local B, id, token, lease = keys[1], args[1], args[2], tonumber(args[3])
  local jk = B .. 'job:' .. id
  local j = redis.call('HMGET', jk, 'lease', 'state')
  if j[1] ~= token or j[2] ~= 'active' then return 0 end
  local now = now_ms()
  redis.call('HSET', jk, 'lease_until', now + lease)
  redis.call('ZADD', B .. 'active', 'XX', now + lease, id)
  return 1
end

-- FCALL sqlvault_commit 1 B id token lease_ms record
-- The one commit point of a job that writes a backup (docs/DESIGN.md,
-- "Exactly one backup per job"). Renews the lease first and refuses without
-- it. With record '' it only reads the job's commit record; otherwise it
-- stores record unless the job has one already (set once: the first attempt
-- to reach its commit point names the backup, every later attempt adopts
-- it). Returns {1, ''} (stored, or nothing to read), {2, record} (the record
-- there is), or {0, 'lease lost'}.
local function commit_record(keys, args)
  local B, id, token, lease, rec = keys[1], args[1], args[2], tonumber(args[3]), args[4] or ''
  local jk = B .. 'job:' .. id
  local j = redis.call('HMGET', jk, 'lease', 'state', 'commit')
  if j[1] ~= token or j[2] ~= 'active' then return { 0, 'lease lost' } end
  local now = now_ms()
  redis.call('HSET', jk, 'lease_until', now + lease)
  redis.call('ZADD', B .. 'active', 'XX', now + lease, id)
  if j[3] then return { 2, j[3] } end
  if rec ~= '' then redis.call('HSET', jk, 'commit', rec) end
  return { 1, '' }
end

-- FCALL sqlvault_wslock 1 B id token ws on|off
-- A job without a workspace of its own (a prune of every workspace) takes
-- each workspace's lock in turn, exclusively, for as long as it works on it.
-- Refused without the lease. Returns 1 (taken, or released), 0 when another
-- job holds the lock (nothing waits: the caller skips the workspace), or -1
-- when the lease is lost.
local function wslock(keys, args)
  local B, id, token, ws, on = keys[1], args[1], args[2], args[3], args[4] == 'on'
  local j = redis.call('HMGET', B .. 'job:' .. id, 'lease', 'state')
  if j[1] ~= token or j[2] ~= 'active' then return -1 end
  if not valid_id(ws) then return redis.error_reply('ERR invalid workspace id') end
  if not on then
    unlock(B, id, ws)
    return 1
  end
  return lock(B, id, ws, 'x') and 1 or 0
end

-- FCALL sqlvault_tick 1 B worker lease_ms rt_overhead [id token]...
-- The housekeeping call: marks the worker alive, renews the leases it holds,
-- requeues stalled jobs and promotes due retries. Returns {lost ids, ids
-- whose cancel was requested}. A job the same token has just completed is
-- neither renewed nor lost (the tick raced the completion).
local function tick(keys, args)
  local B, worker, lease, rt = keys[1], args[1], tonumber(args[2]), tonumber(args[3] or '0')
  local now = now_ms()
  redis.call('ZADD', B .. 'workers', now, worker)
  redis.call('ZREMRANGEBYSCORE', B .. 'workers', '-inf', now - 3600000)
  if rt and rt > 0 then redis.call('HINCRBY', B .. 'stats', 'rt_overhead', rt) end
  local lost, cancel = {}, {}
  for i = 4, #args - 1, 2 do
    local id, token = args[i], args[i + 1]
    local jk = B .. 'job:' .. id
    local j = redis.call('HMGET', jk, 'lease', 'state', 'cancel_requested', 'done_by')
    if j[1] == token and j[2] == 'active' then
      redis.call('HSET', jk, 'lease_until', now + lease)
      redis.call('ZADD', B .. 'active', 'XX', now + lease, id)
      if j[3] then table.insert(cancel, id) end
    elseif j[4] ~= token then
      -- (done_by == token: this attempt has just completed; not lost)
      table.insert(lost, id)
    end
  end
  reap(B, now)
  promote(B, now)
  return { lost, cancel }
end

-- FCALL sqlvault_release 1 B id token
-- A worker that shuts down gives a running job back without using an attempt.
local function release(keys, args)
  local B, id, token = keys[1], args[1], args[2]
  local jk = B .. 'job:' .. id
  local j = hash(B, id, 'state', 'lease', 'attempt', 'priority')
  if j.state ~= 'active' or j.lease ~= token then return 0 end
  redis.call('ZREM', B .. 'active', id)
  redis.call('HDEL', jk, 'lease', 'lease_until')
  redis.call('HSET', jk, 'state', 'queued', 'stage', 'released', 'attempt',
             math.max(0, tonumber(j.attempt) - 1))
  push(B, id, j.priority)
  event(B, id, 'released')
  return 1
end

-- FCALL sqlvault_emit 1 B id token event data_json
-- An event a job body emits (restore.started, ...), refused without the lease.
local function emit(keys, args)
  local B, id, token = keys[1], args[1], args[2]
  local j = hash(B, id, 'lease', 'workspace')
  if j.lease ~= token then return 0 end
  event(B, id, args[3], { workspace = j.workspace or '', data = args[4] or '{}' })
  return 1
end

-- Fields a job body may record once on its job (sqlvault_pin).
local PINNABLE = { source = true }

-- FCALL sqlvault_pin 1 B id token field value
-- Records value in the job's field once, for the attempt holding the lease:
-- the first attempt's value wins and every later attempt or takeover gets it
-- back (a restore's resolved source); an empty value only reads the record.
-- Returns {1, recorded value or ''}, or
-- {0, ''} when token does not hold the lease.
local function pin(keys, args)
  local B, id, token, field, value = keys[1], args[1], args[2], args[3], args[4] or ''
  if not PINNABLE[field] then return redis.error_reply('ERR field cannot be pinned') end
  local jk = B .. 'job:' .. id
  local j = redis.call('HMGET', jk, 'lease', 'state')
  if j[1] ~= token or j[2] ~= 'active' then return { 0, '' } end
  if value ~= '' then redis.call('HSETNX', jk, field, value) end
  return { 1, redis.call('HGET', jk, field) or '' }
end

-- FCALL sqlvault_cancel 1 B id
-- Cancels a waiting job at once; asks a running job's worker to stop.
-- Returns the state after the call, or nil if the job does not exist.
local function cancel(keys, args)
  local B, id = keys[1], args[1]
  local jk = B .. 'job:' .. id
  local j = hash(B, id, 'state', 'workspace', 'priority', 'entry')
  if not j.state then return nil end
  if j.state == 'queued' or j.state == 'retrying' then
    redis.call('ZREM', B .. 'delayed', id)
    if j.entry then redis.call('XDEL', stream(B, j.priority), j.entry) end
    if j.workspace and j.workspace ~= '' then
      redis.call('LREM', B .. 'wait:' .. j.workspace, 0, id)
      unlock(B, id, j.workspace)
      dirty_forget(B, id, j.workspace)
    end
    redis.call('HSET', jk, 'state', 'cancelled', 'finished_at', now_ms(), 'error_code', 'cancel',
               'error', 'cancelled before it ran')
    redis.call('EXPIRE', jk, TTL_OK)
    redis.call('HINCRBY', B .. 'stats', 'cancelled', 1)
    event(B, id, 'cancelled')
    return 'cancelled'
  elseif j.state == 'active' then
    redis.call('HSET', jk, 'cancel_requested', 1)
    return 'cancelling'
  end
  return j.state
end

-- FCALL_RO sqlvault_stats 1 B alive_ms
-- Returns {interactive depth, scheduled depth, delayed, active, workers alive,
-- counters as a flat field/value list, dirty workspaces waiting, dirty
-- depth}. New fields go at the end: callers read it by position.
local function stats(keys, args)
  local B, alive = keys[1], tonumber(args[1] or '60000')
  local now = now_ms()
  return { redis.call('XLEN', B .. 'q:interactive'), redis.call('XLEN', B .. 'q:scheduled'),
           redis.call('ZCARD', B .. 'delayed'), redis.call('ZCARD', B .. 'active'),
           redis.call('ZCOUNT', B .. 'workers', now - alive, '+inf'),
           redis.call('HGETALL', B .. 'stats'), redis.call('ZCARD', B .. 'dirty'),
           redis.call('XLEN', B .. 'q:dirty') }
end

--[[ The restore pause (docs/PROTOCOL.md "Restore pause"). These functions act
on one workspace, not one pool: their keys share the workspace's hash tag,
  KEYS[1] = PREFIX:pause:{WS}       the flag: "JOB:FENCE:TOKEN"
  KEYS[2] = PREFIX:acks:{WS}:JOB    listeners that have stopped writing
  KEYS[3] = PREFIX:listeners:{WS}   zset listener id -> alive until (ms)
The flag belongs to one attempt of one job: its lease token. The fence (the
attempt's workspace-lock grant, which grows with every grant) orders
attempts, so a takeover overwrites a stale attempt's flag but a stale
attempt can neither overwrite nor clear the flag of the attempt after it. ]]

local function pause_parse(v)
  local job, fence, token = string.match(v or '', '^([^:]*):(%d+):(.*)$')
  return job, tonumber(fence or '0') or 0, token
end

-- FCALL sqlvault_pause_set 2 PAUSEKEY ACKSKEY job token fence ttl_ms
-- Sets (or renews) the flag for this attempt. Returns 1, or 0 when the flag
-- belongs to an attempt with an equal or newer fence (this one is stale).
-- A flag set where none was starts with an empty acks set.
local function pause_set(keys, args)
  local pk, ak = keys[1], keys[2]
  local job, token, fence, ttl = args[1], args[2], tonumber(args[3]), tonumber(args[4])
  if not valid_id(job) then return redis.error_reply('ERR invalid job id') end
  if not token or token == '' or string.find(token, ':', 1, true) then
    return redis.error_reply('ERR invalid token')
  end
  if not fence or not ttl or ttl < 1 then return redis.error_reply('ERR invalid fence or ttl') end
  local cur = redis.call('GET', pk)
  if cur then
    local cj, cf, ct = pause_parse(cur)
    if cj == job and ct == token then
      redis.call('PEXPIRE', pk, ttl)
      return 1
    end
    if cf >= fence then return 0 end
  else
    redis.call('DEL', ak)
  end
  redis.call('SET', pk, job .. ':' .. fence .. ':' .. token, 'PX', ttl)
  return 1
end

-- FCALL sqlvault_pause_touch 1 PAUSEKEY job token ttl_ms
-- Extends the flag's TTL if this attempt owns it. Returns 1 or 0.
local function pause_touch(keys, args)
  local cj, _, ct = pause_parse(redis.call('GET', keys[1]))
  if cj ~= args[1] or ct ~= args[2] then return 0 end
  redis.call('PEXPIRE', keys[1], tonumber(args[3]))
  return 1
end

-- FCALL sqlvault_pause_clear 2 PAUSEKEY ACKSKEY job token
-- Deletes the flag (and the job's acks) if this attempt owns it. Returns 1
-- when the flag is gone (deleted now, or already absent), 0 when another
-- attempt owns it (left untouched).
local function pause_clear(keys, args)
  local cur = redis.call('GET', keys[1])
  if not cur then return 1 end
  local cj, _, ct = pause_parse(cur)
  if cj ~= args[1] or ct ~= args[2] then return 0 end
  redis.call('DEL', keys[1], keys[2])
  return 1
end

-- FCALL_RO sqlvault_pause_acks 3 PAUSEKEY ACKSKEY LISTENERSKEY
-- Returns {live listeners, live listeners that acked}: the restore waits
-- until the two are equal (or SQLVAULT_PAUSE_TIMEOUT passes).
local function pause_acks(keys, args)
  local live = redis.call('ZRANGEBYSCORE', keys[3], '(' .. now_ms(), '+inf')
  local acked = 0
  for _, l in ipairs(live) do
    if redis.call('SISMEMBER', keys[2], l) == 1 then acked = acked + 1 end
  end
  return { #live, acked }
end

--[[ The dirty set (docs/PROTOCOL.md "The dirty set"): PREFIX:{POOL}:dirty is
a zset workspace -> the time (ms, the marking client's clock) it was first
marked since its last drain. Writers add with ZADD NX (a later mark of a
workspace already waiting keeps the first time); the leading scheduler
drains it with sqlvault_dirty_drain. PREFIX:{POOL}:dirtyjobs is a hash
workspace -> the id of its drained backup that has not ended yet (removed
when the job ends: dirty_forget). ]]

-- FCALL sqlvault_dirty_drain 1 B cutoff_ms limit max_attempts opts stamp
-- Takes up to limit (<= DRAIN_MAX) workspaces marked at or before cutoff_ms,
-- oldest first, off the dirty set and, in the same atomic step, enqueues a
-- backup of each (dirty priority, reason 'dirty', options opts: a
-- msgpack map, the scheduler sends {mode = 'auto', reason = 'dirty'}; job id
-- dirty-WS-STAMP, with 32 hex digits of sha1(WS) for a WS too long for the id
-- limit) -- unless the workspace's previous dirty backup is still waiting to
-- take its snapshot (queued or retrying, nothing committed yet): that job
-- will see the change, so no second one is queued (coalesced). A mark added
-- after this call stays for the next one. Returns {taken, enqueued,
-- coalesced, dirty workspaces left}.
local function dirty_drain(keys, args)
  local B = keys[1]
  local cutoff, limit, maxa = tonumber(args[1]), tonumber(args[2]), args[3] or '5'
  local opts, stamp = args[4] or '', args[5] or ''
  if not cutoff then return redis.error_reply('ERR invalid cutoff') end
  if not limit or limit < 1 or limit > DRAIN_MAX then return redis.error_reply('ERR invalid limit') end
  if not stamp:match('^%d+$') or #stamp > 20 then return redis.error_reply('ERR invalid stamp') end
  if not tonumber(maxa) or tonumber(maxa) < 1 then return redis.error_reply('ERR invalid max_attempts') end
  if opts ~= '' then   -- checked before anything is taken off the set
    local b = string.byte(opts, 1)
    if not ((b >= 0x80 and b <= 0x8f) or b == 0xde or b == 0xdf) then
      return redis.error_reply('ERR opts must be a msgpack map')
    end
  end
  local dk, dj = B .. 'dirty', B .. 'dirtyjobs'
  local due = redis.call('ZRANGEBYSCORE', dk, '-inf', cutoff, 'LIMIT', 0, limit)
  local enq, coal = 0, 0
  for _, ws in ipairs(due) do
    redis.call('ZREM', dk, ws)
    if valid_id(ws) then
      -- (the recorded job's state, not a stream: the same whether it waits on
      -- q:dirty or, enqueued by library 9, on q:interactive)
      local pending = false
      local cur = redis.call('HGET', dj, ws)
      if cur then
        local j = redis.call('HMGET', B .. 'job:' .. cur, 'state', 'commit')
        pending = (j[1] == 'queued' or j[1] == 'retrying') and not j[2]
      end
      if pending then
        coal = coal + 1
      else
        local id = 'dirty-' .. ws .. '-' .. stamp
        if #id > 128 then id = 'dirty-' .. string.sub(redis.sha1hex(ws), 1, 32) .. '-' .. stamp end
        local r = enqueue({ B }, { id, 'backup', ws, 'dirty', maxa, opts, 'dirty' })
        if type(r) == 'table' and r.err then return r end
        if r[1] == 1 then enq = enq + 1 else coal = coal + 1 end
        redis.call('HSET', dj, ws, id)
      end
    end
  end
  if enq > 0 then redis.call('HINCRBY', B .. 'stats', 'dirty_enqueued', enq) end
  if coal > 0 then redis.call('HINCRBY', B .. 'stats', 'dirty_coalesced', coal) end
  return { #due, enq, coal, redis.call('ZCARD', dk) }
end

local function version() return VERSION end

redis.register_function('sqlvault_enqueue', enqueue)
redis.register_function('sqlvault_claim', claim)
redis.register_function('sqlvault_complete', complete)
redis.register_function('sqlvault_progress', progress)
redis.register_function('sqlvault_renew', renew)
redis.register_function('sqlvault_tick', tick)
redis.register_function('sqlvault_commit', commit_record)
redis.register_function('sqlvault_wslock', wslock)
redis.register_function('sqlvault_release', release)
redis.register_function('sqlvault_emit', emit)
redis.register_function('sqlvault_cancel', cancel)
redis.register_function('sqlvault_pin', pin)
redis.register_function('sqlvault_dirty_drain', dirty_drain)
redis.register_function('sqlvault_pause_set', pause_set)
redis.register_function('sqlvault_pause_touch', pause_touch)
redis.register_function('sqlvault_pause_clear', pause_clear)
redis.register_function{ function_name = 'sqlvault_pause_acks', callback = pause_acks, flags = { 'no-writes' } }
redis.register_function{ function_name = 'sqlvault_stats', callback = stats, flags = { 'no-writes' } }
redis.register_function{ function_name = 'sqlvault_version', callback = version, flags = { 'no-writes' } }

// index.js -- the Node client for sqlvault's job queue (ESM; types in index.d.ts).
//
// It speaks the protocol of docs/PROTOCOL.md through the Redis Function
// library the project ships (src/queue/sqlvault.lua): enqueue is one FCALL
// (deduplicated by job id), options travel as a msgpack map, a job is read
// from its hash, and waitForJob listens on the pool's events channel with
// polling as the fallback. onRestore/onBackup implement the Node server's
// half of the listener protocol (docs/PROTOCOL.md, "Listeners"). It never runs
// a job itself: a `sqlvault worker` must serve the pool.
import fs from 'node:fs'
import path from 'node:path'
import crypto from 'node:crypto'
import { fileURLToPath } from 'node:url'
import Redis from 'ioredis'
import { encode, decode } from '@msgpack/msgpack'
import { storeConfig, openStore, listBackups as storeListBackups } from './store.js'

const HERE = path.dirname(fileURLToPath(import.meta.url))
export const LIBRARY_PATH = path.join(HERE, '..', '..', 'src', 'queue', 'sqlvault.lua')
export const JOB_TYPES = ['backup', 'export', 'restore', 'verify', 'prune', 'import-url', 'replicate', 'inspect']
export const FINAL_STATES = ['succeeded', 'failed', 'cancelled']
const INTERACTIVE = new Set(['backup', 'export', 'restore', 'import-url', 'inspect'])
// Claim order (src/queue/sqlvault.lua, PRIORITIES): user-facing work, then the
// dirty set's RPO backups, then the cron sweep.
const PRIORITIES = ['interactive', 'dirty', 'scheduled']
const FINAL = new Set(FINAL_STATES)
const INT_FIELDS = ['attempt', 'max_attempts', 'bytes_done', 'bytes_total', 'created_at', 'started_at',
  'finished_at', 'ts', 'fence', 'retry_at', 'lease_until']
const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/
const QUEUE_OPTS = new Set(['id', 'pool', 'priority', 'maxAttempts'])
const HEARTBEAT_MS = 5000
const LISTENER_TTL_MS = 15000

// Every error this client throws. code: REDIS_UNREACHABLE, JOB_FAILED,
// JOB_CANCELLED, TIMEOUT, ABORTED, NOT_FOUND, INVALID. errorCode: the job's
// error_code (transient, corrupt, checksum, invalid, ...) for JOB_FAILED.
export class SqlvaultError extends Error {
  constructor (message, { code, errorCode, job, cause } = {}) {
    super(message, cause ? { cause } : undefined)
    this.name = 'SqlvaultError'
    this.code = code || 'ERROR'
    if (errorCode !== undefined) this.errorCode = errorCode
    if (job !== undefined) this.job = job
  }
}

export function isValidId (s) { return typeof s === 'string' && ID_RE.test(s) }

// The pool set (as the C side, include/queue.h): a pool option "a,b,c" (or an
// array) is split on commas and spaces, empty items dropped and a repeated
// name kept at its first place; workspace WS goes to item fnv1a32(WS) % n,
// fnv1a32 being 32-bit FNV-1a over the id's UTF-8 bytes (offset basis
// 2166136261, prime 16777619). A single name is that pool for everyone.
export function fnv1a32 (s) {
  let h = 0x811c9dc5
  for (const b of Buffer.from(String(s || ''), 'utf8')) {
    h ^= b
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h >>> 0
}

export function parsePools (pools) {
  const items = Array.isArray(pools) ? pools : String(pools || '').split(/[, ]+/)
  const out = []
  for (const p of items) if (p && !out.includes(p)) out.push(p)
  return out.length ? out : ['default']
}

export function poolFor (pools, workspace) {
  const list = parsePools(pools)
  return list[fnv1a32(workspace) % list.length]
}

function checkId (what, s) {
  if (!isValidId(s)) {
    throw new SqlvaultError(`invalid ${what} ${JSON.stringify(s)}: use 1-128 letters, digits, '_' or '-', starting with a letter or digit`, { code: 'INVALID' })
  }
}

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

function redisWhere (redis) {
  const o = redis && redis.options
  if (redis && redis.isCluster) return 'the Redis cluster'
  if (o && o.path) return `Redis at ${o.path}`
  if (o && o.host) return `Redis at ${o.host}:${o.port}`
  return 'Redis'
}

const UNREACHABLE_RE = /ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ETIMEDOUT|ECONNRESET|EPIPE|max retries per request|Connection is closed|Stream isn't writeable|enableOfflineQueue|Failed to refresh slots cache|None of startup nodes is available|connect ETIMEDOUT|Cluster isn't ready|timed out/i

// "1s", "500ms", "2m" or a number of ms; fallback when unset or invalid.
function parseMs (v, fallback) {
  const m = /^(\d+)(ms|s|m)?$/.exec(String(v ?? '').trim())
  if (!m) return fallback
  return Number(m[1]) * ({ ms: 1, s: 1000, m: 60000 }[m[2] || 'ms'])
}

// The Redis Cluster slot of a key (CRC16 XMODEM of its {hash tag}).
function keySlot (key) {
  const s = key.indexOf('{')
  if (s >= 0) {
    const e = key.indexOf('}', s + 1)
    if (e > s + 1) key = key.slice(s + 1, e)
  }
  let crc = 0
  for (const b of Buffer.from(key)) {
    crc ^= b << 8
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff
  }
  return crc & 16383
}

export class SqlvaultClient {
  // opts: redis (an ioredis Redis or Cluster), url, prefix, pool, library,
  // commandTimeoutMs (5000), store (a store config, see store.js), onError,
  // now (the clock of markDirty, () => ms; Date.now by default),
  // waitReplicaMs (SQLVAULT_REDIS_WAIT, default 1000; 0 = off): an enqueue
  // waits that long for a replica's ack (WAIT 1) when the pool's master has
  // replicas, so a failover right after it cannot lose the job.
  constructor (opts = {}) {
    this.ownRedis = !opts.redis
    this.redis = opts.redis || new Redis(opts.url || process.env.SQLVAULT_REDIS_URL || 'redis://127.0.0.1:6379/0', {
      maxRetriesPerRequest: 1,
      connectTimeout: 3000,
      retryStrategy: times => Math.min(100 * times, 2000)
    })
    // an unhandled 'error' event would crash the process; errors reach callers
    // through their commands instead
    if (this.ownRedis) this.redis.on('error', () => {})
    this.prefix = opts.prefix || process.env.SQLVAULT_REDIS_PREFIX || 'sqlvault'
    // a pool, or a pool set (each workspace to its own pool of it: poolFor)
    this.pools = parsePools(opts.pool || 'default')
    this.pool = this.pools[0]
    this.library = opts.library || LIBRARY_PATH
    this.commandTimeoutMs = opts.commandTimeoutMs || 5000
    this.onError = opts.onError || (() => {})
    this._store = opts.store || null
    this._sub = null
    this._subChannels = new Map() // channel -> refcount
    this._subHandlers = new Set()
    this.waitReplicaMs = opts.waitReplicaMs ?? parseMs(process.env.SQLVAULT_REDIS_WAIT, 1000)
    this._replicas = null // single Redis: { n, at } from INFO replication
    // the clock of markDirty's marks (ms since the epoch); tests inject one
    this.now = opts.now || (() => Date.now())
  }

  // Replicas of the master serving pool (a Cluster: from its slot map; one
  // Redis: INFO replication, cached for 10 s).
  async _replicasOf (pool) {
    if (this.redis.isCluster) {
      const nodes = this.redis.slots && this.redis.slots[keySlot(this.base(pool))]
      return nodes ? nodes.length - 1 : 0
    }
    if (!this._replicas || Date.now() - this._replicas.at > 10000) {
      const info = await this.redis.info('replication')
      const m = /connected_slaves:(\d+)/.exec(info)
      this._replicas = { n: m ? Number(m[1]) : 0, at: Date.now() }
    }
    return this._replicas.n
  }

  // FCALL followed by WAIT 1 T in one pipeline (the same connection, so WAIT
  // counts this write); throws REDIS_UNREACHABLE when no replica acked.
  async _fcallReplicated (name, pool, ...args) {
    if (this.waitReplicaMs <= 0 || (await this._r(() => this._replicasOf(pool))) < 1) return this.fcall(name, pool, ...args)
    const run = () => this.redis.pipeline().call('FCALL', name, 1, this.base(pool), ...args).call('WAIT', 1, this.waitReplicaMs).exec()
    return this._r(async () => {
      let res = await run()
      if (res[0][0] && /Function not found/i.test(res[0][0].message)) {
        await this.loadLibrary()
        res = await run()
      }
      if (res[0][0]) throw res[0][0]
      if (res[1][0] || Number(res[1][1]) < 1) {
        throw new SqlvaultError(`no replica acknowledged the ${name.replace('sqlvault_', '')} within ${this.waitReplicaMs} ms; ` +
          'the master holds it but could lose it in a failover; retrying with the same job id is safe', { code: 'REDIS_UNREACHABLE' })
      }
      return res[0][1]
    })
  }

  // The pool's key prefix: PREFIX:{POOL}:
  base (pool) { return `${this.prefix}:{${pool || this.pool}}:` }

  // Runs one Redis call, turning connection trouble into REDIS_UNREACHABLE
  // and bounding it by commandTimeoutMs.
  async _r (fn) {
    let timer
    const timeout = new Promise((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${this.commandTimeoutMs} ms`)), this.commandTimeoutMs)
    })
    try {
      return await Promise.race([fn(), timeout])
    } catch (e) {
      if (e instanceof SqlvaultError) throw e
      if (UNREACHABLE_RE.test(`${e.code || ''} ${e.message}`) || e.name === 'MaxRetriesPerRequestError') {
        throw new SqlvaultError(`${redisWhere(this.redis)} is unreachable (${e.message}); check SQLVAULT_REDIS_URL and that redis-server runs`,
          { code: 'REDIS_UNREACHABLE', cause: e })
      }
      throw e
    } finally {
      clearTimeout(timer)
    }
  }

  // FCALL that loads the library once if Redis does not have it.
  async fcall (name, pool, ...args) {
    return this._r(async () => {
      try {
        return await this.redis.call('FCALL', name, 1, this.base(pool), ...args)
      } catch (e) {
        if (!/Function not found/i.test(e.message)) throw e
        await this.loadLibrary()
        return this.redis.call('FCALL', name, 1, this.base(pool), ...args)
      }
    })
  }

  async loadLibrary () {
    const code = fs.readFileSync(this.library, 'utf8')
    if (this.redis.isCluster) {
      await Promise.all(this.redis.nodes('master').map(n => n.call('FUNCTION', 'LOAD', 'REPLACE', code)))
    } else {
      await this.redis.call('FUNCTION', 'LOAD', 'REPLACE', code)
    }
  }

  // Enqueues a job and returns its id. options: id (dedup: the same id twice
  // is one job), pool, priority ('interactive' | 'dirty' | 'scheduled', the
  // order workers claim them in), maxAttempts;
  // every other field is a job option sent as msgpack (reason, from, format,
  // ttl, user_id, ...).
  async enqueue (type, workspace, options = {}) {
    return (await this.enqueueJob(type, workspace, options)).id
  }

  // Like enqueue, returning { id, created, state }: created is false when the
  // id already existed (deduplicated) and state is that job's state.
  async enqueueJob (type, workspace, options = {}) {
    if (!JOB_TYPES.includes(type)) throw new SqlvaultError(`unknown job type '${type}' (one of ${JOB_TYPES.join(', ')})`, { code: 'INVALID' })
    if (workspace || type !== 'prune') checkId('workspace id', workspace)
    const id = options.id || crypto.randomBytes(16).toString('hex')
    checkId('job id', id)
    const pool = poolFor(options.pool || this.pools, workspace)
    checkId('pool', pool)
    const jobOpts = {}
    for (const [k, v] of Object.entries(options)) if (!QUEUE_OPTS.has(k) && v !== undefined) jobOpts[k] = v
    const reason = jobOpts.reason || 'manual'
    jobOpts.reason = reason
    const priority = options.priority || (reason === 'scheduled' || !INTERACTIVE.has(type) ? 'scheduled' : reason === 'dirty' ? 'dirty' : 'interactive')
    if (!PRIORITIES.includes(priority)) throw new SqlvaultError(`priority '${priority}' is not one of ${PRIORITIES.join(', ')}`, { code: 'INVALID' })
    const [created, state] = await this._fcallReplicated('sqlvault_enqueue', pool, id, type, workspace || '',
      priority, String(options.maxAttempts || 5), Buffer.from(encode(jobOpts)), reason)
    return { id, created: created === 1, state, pool }
  }

  // The pool of a workspace in this client's pool (set).
  poolFor (workspace) { return poolFor(this.pools, workspace) }

  // The pool holding job id: the given one, else the first of the pool set
  // that has the job (the set's first pool when none has it).
  async _poolOf (id, pool) {
    if (pool || this.pools.length === 1) return pool || this.pool
    for (const p of this.pools) {
      if (await this._r(() => this.redis.exists(`${this.base(p)}job:${id}`))) return p
    }
    return this.pool
  }

  // Reads a job: the hash with numbers as numbers, `result` parsed and `opts`
  // decoded; null if there is no such job (or it expired).
  async getJob (id, { pool } = {}) {
    checkId('job id', id)
    pool = await this._poolOf(id, pool)
    const key = `${this.base(pool)}job:${id}`
    const [h, opts] = await this._r(() => Promise.all([this.redis.hgetall(key), this.redis.hgetBuffer(key, 'opts')]))
    if (!h || !h.state) return null
    const job = { id, ...h }
    for (const f of INT_FIELDS) if (f in job) job[f] = Number(job[f])
    if (job.result) { try { job.result = JSON.parse(job.result) } catch (_) {} }
    try { job.opts = opts && opts.length ? decode(opts) : {} } catch (_) { job.opts = {} }
    delete job.lease
    delete job.done_by
    return job
  }

  // Waits until the job ends. Resolves with the job when it succeeded;
  // rejects with SqlvaultError JOB_FAILED (errorCode = the job's error_code),
  // JOB_CANCELLED, NOT_FOUND, TIMEOUT (the job keeps running), ABORTED (signal)
  // or REDIS_UNREACHABLE (Redis could not be reached until the deadline).
  // onProgress(job) is called whenever state, stage or bytes change.
  async waitForJob (id, { timeoutMs = 60000, onProgress, signal, pool, pollMs = 500 } = {}) {
    checkId('job id', id)
    if (!pool && this.pools.length > 1) pool = await this._poolOf(id)
    const deadline = Date.now() + timeoutMs
    let wake = null
    const kick = () => { if (wake) { const w = wake; wake = null; w() } }
    const onEvent = msg => { if (msg.job === id) kick() }
    const channel = `${this.base(pool)}events`
    const onAbort = () => kick()
    if (signal) {
      if (signal.aborted) throw new SqlvaultError(`waiting for job ${id} was aborted`, { code: 'ABORTED' })
      signal.addEventListener('abort', onAbort)
    }
    let subscribed = false
    this._subscribe(channel, onEvent)
      .then(() => { subscribed = true })
      .catch(() => {}) // polling alone then
    let last = ''
    let lastErr = null
    let lastJob = null
    try {
      for (;;) {
        if (signal && signal.aborted) throw new SqlvaultError(`waiting for job ${id} was aborted`, { code: 'ABORTED' })
        let job = null
        try {
          job = await this._bounded(this.getJob(id, { pool }), deadline + 200, signal)
          lastErr = null
          lastJob = job
        } catch (e) {
          if (e.code === 'DEADLINE' && lastJob) {
            throw new SqlvaultError(`job ${id} still ${lastJob.state}${lastJob.stage ? ` (${lastJob.stage})` : ''} after ${timeoutMs} ms (Redis slow to answer)`, { code: 'TIMEOUT', job: lastJob })
          } else if (e.code === 'DEADLINE') {
            lastErr = new SqlvaultError(`${redisWhere(this.redis)} did not answer within ${timeoutMs} ms while waiting for job ${id}`, { code: 'REDIS_UNREACHABLE' })
          } else if (e.code === 'REDIS_UNREACHABLE') lastErr = e
          else throw e
        }
        if (job) {
          if (job.state === 'succeeded') return job
          if (job.state === 'failed') {
            throw new SqlvaultError(`job ${id} (${job.type} of ${job.workspace || 'every workspace'}) failed: ${job.error || 'no error recorded'}${job.error_code ? ` [${job.error_code}]` : ''}`,
              { code: 'JOB_FAILED', errorCode: job.error_code || '', job })
          }
          if (job.state === 'cancelled') throw new SqlvaultError(`job ${id} was cancelled`, { code: 'JOB_CANCELLED', errorCode: job.error_code || 'cancel', job })
          const sig = `${job.state}|${job.stage || ''}|${job.bytes_done || 0}|${job.bytes_total || 0}`
          if (sig !== last) {
            last = sig
            if (onProgress) { try { onProgress(job) } catch (_) {} }
          }
        } else if (!lastErr) {
          throw new SqlvaultError(`no job ${id} in pool ${pool || this.pool} (never enqueued, or expired)`, { code: 'NOT_FOUND' })
        }
        const left = deadline - Date.now()
        if (left <= 0) {
          if (!job) throw lastErr
          throw new SqlvaultError(`job ${id} still ${job.state}${job.stage ? ` (${job.stage})` : ''} after ${timeoutMs} ms`, { code: 'TIMEOUT', job })
        }
        // with the subscription, an event wakes us at once; the poll catches
        // progress (which has no event) and lost messages
        const interval = subscribed && job && job.state === 'queued' ? Math.max(pollMs, 2000) : pollMs
        await new Promise(resolve => {
          const t = setTimeout(() => { wake = null; resolve() }, Math.min(left, lastErr ? 250 : interval))
          wake = () => { clearTimeout(t); resolve() }
        })
      }
    } finally {
      if (signal) signal.removeEventListener('abort', onAbort)
      this._unsubscribe(channel, onEvent)
    }
  }

  // A promise bounded by a deadline and an abort signal.
  _bounded (p, deadline, signal) {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(Object.assign(new Error('deadline'), { code: 'DEADLINE' })), Math.max(0, deadline - Date.now()))
      const ab = () => reject(new SqlvaultError('waiting was aborted', { code: 'ABORTED' }))
      if (signal) signal.addEventListener('abort', ab, { once: true })
      p.then(resolve, reject).finally(() => { clearTimeout(t); if (signal) signal.removeEventListener('abort', ab) })
    })
  }

  // Enqueue and wait in one call.
  async run (type, workspace, options = {}, waitOpts = {}) {
    const { id, pool } = await this.enqueueJob(type, workspace, options)
    return this.waitForJob(id, { pool, ...waitOpts })
  }

  // Cancels a job; returns the state after the call, or null.
  async cancel (id, { pool } = {}) { return this.fcall('sqlvault_cancel', await this._poolOf(id, pool), id) }

  // The committed backups of a workspace, newest first (as `sqlvault list --json`).
  async listBackups (workspace) {
    checkId('workspace id', workspace)
    if (!this._store) this._store = openStore(storeConfig())
    else if (!this._store.list) this._store = openStore(this._store)
    return storeListBackups(this._store, workspace)
  }

  // Tells the scheduler the workspace changed (call it after writing to it):
  // ZADD PREFIX:{POOL}:dirty NX <now> WS in the workspace's pool of the pool
  // set (NX: a workspace already waiting keeps its first mark, so a burst of
  // writes is one backup), and SADD PREFIX:workspaces WS so discovery knows
  // it. The leading scheduler backs it up within SQLVAULT_INCREMENTAL_EVERY
  // (docs/PROTOCOL.md, "The dirty set"). Resolves true when newly marked,
  // false when it was already waiting. now: the client's clock (opts.now).
  async markDirty (workspace) {
    checkId('workspace id', workspace)
    const pool = this.poolFor(workspace)
    checkId('pool', pool)
    const [added] = await this._r(() => Promise.all([
      this.redis.zadd(`${this.base(pool)}dirty`, 'NX', this.now(), workspace),
      this.redis.sadd(`${this.prefix}:workspaces`, workspace)
    ]))
    return Number(added) === 1
  }

  // ------------------------------------------------------------- listeners

  // The Node server's half of the restore pause. pause({ jobId, workspace })
  // must stop writing and close or park SQLite handles; the ack goes out once
  // it resolves. resume({ jobId, workspace, outcome }) runs after the swap
  // (outcome 'completed' | 'failed' | 'flag-gone'); reopen handles there.
  // Returns a handle: { listenerId, close() }.
  async onRestore (workspace, { pause, resume } = {}, opts = {}) {
    return this._listen(workspace, { restore: { start: pause, end: resume } }, opts)
  }

  // The same for a backup's quiesce (LiveStore stores): quiesce() waits until
  // the store is synced and holds writes; resume() after the copy.
  async onBackup (workspace, { quiesce, resume } = {}, opts = {}) {
    return this._listen(workspace, { backup: { start: quiesce, end: resume } }, opts)
  }

  async _listen (workspace, handlers, { pools } = {}) {
    checkId('workspace id', workspace)
    const P = this.prefix
    const listenerId = crypto.randomBytes(12).toString('hex')
    const regKey = `${P}:listeners:{${workspace}}`
    const kinds = {
      restore: { flag: `${P}:pause:{${workspace}}`, start: 'restore.started', end: ['restore.completed', 'restore.failed'] },
      backup: { flag: `${P}:quiesce:{${workspace}}`, start: 'backup.quiesce', end: ['backup.resume'] }
    }
    const state = { restore: null, backup: null } // { jobId, started: Promise, ended }
    let closed = false
    const channels = (pools && pools.length ? pools : [this.poolFor(workspace)]).map(p => `${this.base(p)}events`)

    const redisNow = async () => {
      try {
        const [s, us] = await this._r(() => this.redis.time())
        return Number(s) * 1000 + Math.floor(Number(us) / 1000)
      } catch (_) { return Date.now() }
    }
    const heartbeat = async () => {
      const now = await redisNow()
      await this._r(() => this.redis.zadd(regKey, now + LISTENER_TTL_MS, listenerId))
      await this._r(() => this.redis.zremrangebyscore(regKey, '-inf', now - 60000)).catch(() => {})
    }

    const begin = (kind, jobId) => {
      if (closed) return
      const cur = state[kind]
      // the same job's pause again once it ended: a takeover's attempt (its
      // flag set anew, its acks set empty) or a second pause, paused anew
      if (cur && cur.jobId === jobId && !cur.ended) return
      if (cur && !cur.ended) finish(kind, cur.jobId, 'superseded')
      const h = handlers[kind]
      const s = { jobId, ended: false, poll: null }
      const before = cur && cur.done ? cur.done : null // the last resume() runs out first
      state[kind] = s
      s.started = (async () => {
        if (before) await before
        try {
          if (h && h.start) await h.start({ jobId, workspace, kind })
        } catch (e) {
          this.onError(e)
          return // no ack: the worker times out and records pause_acked false
        }
        const ackKey = `${P}:acks:{${workspace}}:${jobId}`
        try {
          await this._r(() => this.redis.sadd(ackKey, listenerId))
          await this._r(() => this.redis.expire(ackKey, 600))
        } catch (e) { this.onError(e) }
      })()
      // while paused: the flag gone (a lost message) ends it too
      s.poll = setInterval(async () => {
        if (s.ended) return
        try {
          const v = await this._r(() => this.redis.get(kinds[kind].flag))
          if (!v || !v.startsWith(jobId)) finish(kind, jobId, 'flag-gone')
        } catch (_) {}
      }, 1000)
    }
    const finish = (kind, jobId, outcome) => {
      const s = state[kind]
      if (!s || s.jobId !== jobId || s.ended) return
      s.ended = true
      clearInterval(s.poll)
      const h = handlers[kind]
      s.done = s.started.then(async () => {
        try { if (h && h.end) await h.end({ jobId, workspace, kind, outcome }) } catch (e) { this.onError(e) }
      })
    }

    const onEvent = msg => {
      if (closed || msg.workspace !== workspace) return
      for (const kind of Object.keys(kinds)) {
        if (msg.event === kinds[kind].start) begin(kind, msg.job)
        else if (kinds[kind].end.includes(msg.event)) finish(kind, msg.job, msg.event.split('.')[1])
      }
    }
    // a listener that missed the start event finds the flag set
    const checkFlags = async () => {
      for (const kind of Object.keys(kinds)) {
        try {
          const v = await this._r(() => this.redis.get(kinds[kind].flag))
          if (v) {
            const jobId = v.split(/[^A-Za-z0-9_-]/)[0]
            const s = state[kind]
            if (!s || s.jobId !== jobId) begin(kind, jobId)
          }
        } catch (_) {}
      }
    }

    await Promise.all(channels.map(c => this._subscribe(c, onEvent)))
    await heartbeat()
    const hb = setInterval(() => { heartbeat().catch(e => this.onError(e)) }, HEARTBEAT_MS)
    const fl = setInterval(() => { if (!closed) checkFlags() }, 1000)
    hb.unref()
    fl.unref()
    await checkFlags()
    return {
      listenerId,
      workspace,
      // the restore/backup in progress, if any: { jobId, ended }
      get paused () { return state.restore && !state.restore.ended ? state.restore.jobId : null },
      get quiesced () { return state.backup && !state.backup.ended ? state.backup.jobId : null },
      close: async () => {
        if (closed) return
        closed = true
        clearInterval(hb)
        clearInterval(fl)
        for (const k of Object.keys(state)) if (state[k]) clearInterval(state[k].poll)
        for (const c of channels) this._unsubscribe(c, onEvent)
        await this._r(() => this.redis.zrem(regKey, listenerId)).catch(() => {})
      }
    }
  }

  // ---------------------------------------------------------- subscriber

  async _subscribe (channel, handler) {
    if (!this._sub) {
      this._sub = this.redis.duplicate()
      this._sub.on('error', () => {})
      this._sub.on('message', (ch, raw) => {
        let msg
        try { msg = JSON.parse(raw) } catch (_) { return }
        for (const h of this._subHandlers) if (h.channel === ch) { try { h.fn(msg) } catch (_) {} }
      })
    }
    this._subHandlers.add({ channel, fn: handler })
    const n = this._subChannels.get(channel) || 0
    this._subChannels.set(channel, n + 1)
    if (n === 0) {
      await this._r(() => this._sub.subscribe(channel))
      // everyone left while the SUBSCRIBE was in flight
      if (!this._subChannels.get(channel) && this._sub) this._sub.unsubscribe(channel).catch(() => {})
    }
  }

  _unsubscribe (channel, handler) {
    for (const h of this._subHandlers) if (h.channel === channel && h.fn === handler) { this._subHandlers.delete(h); break }
    const n = (this._subChannels.get(channel) || 1) - 1
    if (n <= 0) {
      this._subChannels.delete(channel)
      if (this._sub) this._sub.unsubscribe(channel).catch(() => {})
    } else this._subChannels.set(channel, n)
  }

  async close () {
    if (this._sub) { this._sub.disconnect(); this._sub = null }
    if (this.ownRedis) {
      try { await Promise.race([this.redis.quit(), sleep(1000)]) } catch (_) {}
      this.redis.disconnect()
    }
  }
}

// Backwards-compatible names of the first client (get/wait, enqueue → {id, created, state}).
export class SqlvaultQueue extends SqlvaultClient {
  async enqueue (type, workspace, jobOpts = {}, options = {}) { return this.enqueueJob(type, workspace, { ...jobOpts, ...options }) }
  get (id, pool) { return this.getJob(id, { pool }) }
  wait (id, opts = {}) { return this.waitForJob(id, opts) }
}

export { storeConfig, openStore } from './store.js'
export { parseSize, formatSize } from './size.js'

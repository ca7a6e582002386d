// admin.js -- the /admin ops console (a route module of the reference server),
// in the spirit of Bull Board and Sidekiq's Web UI: per pool, the queue depth
// by priority, active jobs with their progress, live workers, recent failures
// and dead letters with their errors (Retry and Cancel buttons), and the
// scheduler's last tick and recent alerts with their failure ratio.
//
// Only users marked admin in SQLVAULT_WEB_USERS (or for whom the embedder's
// isAdmin says so) may read or act; everyone else gets 403. It reads through
// the shipped Redis Function library and the Node client: depths and counters
// from sqlvault_stats, Cancel through sqlvault_cancel, Retry as a new job
// through sqlvault_enqueue (type, workspace and options of the failed one,
// reason "retry", retry_of = the old id); lists are plain reads of the keys
// docs/PROTOCOL.md documents. No job result is shown (an export's result
// holds a presigned URL), and errors go through the same scrubbing as the
// page's.
//
//   GET  /admin                          the page (public/admin.html; data needs a token)
//   GET  /api/admin/overview[?pools=a,b] everything the page shows, as JSON
//   POST /api/admin/jobs/:id/retry       {pool?} -> {jobId}
//   POST /api/admin/jobs/:id/cancel      {pool?} -> {state}
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/
const RECENT_SCAN = 200   // newest jobs looked at for failures
const LIST_MAX = 25
const INT = ['attempt', 'max_attempts', 'bytes_done', 'bytes_total', 'created_at', 'started_at', 'finished_at']

// Strips what a browser has no business seeing from an error: URLs with
// query strings (signatures), and local paths are kept short.
function cleanError (s) {
  if (!s) return null
  return String(s).replace(/https?:\/\/\S+\?\S*/g, '[url]').slice(0, 500)
}

// A job hash as the console shows it (no result, no lease, no options).
function row (id, h) {
  const j = { id, type: h.type || '', workspace: h.workspace || '', state: h.state || 'gone', stage: h.stage || '' }
  for (const f of INT) j[f] = h[f] !== undefined && h[f] !== '' ? Number(h[f]) : null
  j.worker = h.worker || ''
  j.error = cleanError(h.error)
  j.errorCode = h.error_code || null
  j.reason = h.reason || ''
  j.priority = h.priority || ''
  return j
}

export default function register (app) {
  const sv = app.sv
  const redis = sv.redis
  const r = fn => sv._r(fn)
  const aliveMs = () => 3 * (parseDurationMs(app.env.SQLVAULT_LEASE) || 30000)

  async function admin (req) {
    const u = await app.user(req)
    if (!(await app.isAdmin(u))) throw new app.HttpError(403, `You (${u}) are not an administrator: the ops console is for users marked "admin": true in SQLVAULT_WEB_USERS.`)
    return u
  }

  // The pools to show: ?pools=, else SQLVAULT_POOLS, else every pool that has counters.
  async function pools (url) {
    const asked = (url.searchParams.get('pools') || app.env.SQLVAULT_POOLS || '').split(',').map(s => s.trim()).filter(Boolean)
    if (asked.length) {
      for (const p of asked) if (!ID_RE.test(p)) throw new app.HttpError(400, `'${p.slice(0, 130)}' is not a valid pool name.`)
      return asked
    }
    const found = new Set()
    if (!redis.isCluster) {
      let cur = '0'
      do {
        const [next, keys] = await r(() => redis.scan(cur, 'MATCH', `${sv.prefix}:{*}:stats`, 'COUNT', 1000))
        cur = next
        for (const k of keys) {
          const m = /:\{([^}]+)\}:stats$/.exec(k)
          if (m && ID_RE.test(m[1])) found.add(m[1])
        }
      } while (cur !== '0')
    }
    if (!found.size) found.add(sv.pool)
    return [...found].sort()
  }

  async function jobs (pool, ids) {
    if (!ids.length) return []
    const base = sv.base(pool)
    const p = redis.pipeline()
    for (const id of ids) p.hgetall(`${base}job:${id}`)
    const res = await r(() => p.exec())
    return ids.map((id, i) => row(id, (res[i] && res[i][1]) || {}))
  }

  async function poolView (pool) {
    const base = sv.base(pool)
    const now = Date.now()
    const [qi, qs, delayed, active, alive, flat, , qd] = await sv.fcall('sqlvault_stats', pool, String(aliveMs()))
    const counters = {}
    for (let i = 0; i + 1 < flat.length; i += 2) counters[flat[i]] = Number(flat[i + 1])
    const finished = (counters.succeeded || 0) + (counters.failed || 0)
    const [activeIds, workersRaw, recentIds, deadRaw] = await r(() => Promise.all([
      redis.zrange(`${base}active`, 0, 99),
      redis.zrange(`${base}workers`, 0, -1, 'WITHSCORES'),
      redis.zrevrange(`${base}recent`, 0, RECENT_SCAN - 1),
      redis.xrevrange(`${base}dead`, '+', '-', 'COUNT', LIST_MAX)
    ]))
    const workers = []
    for (let i = 0; i + 1 < workersRaw.length; i += 2) {
      const seen = Number(workersRaw[i + 1])
      workers.push({ id: workersRaw[i], lastSeen: seen, alive: now - seen <= aliveMs() })
    }
    const activeJobs = await jobs(pool, activeIds)
    const recent = await jobs(pool, recentIds)
    const failures = recent.filter(j => j.state === 'failed' || j.state === 'retrying').slice(0, LIST_MAX)
    const deadIds = deadRaw.map(([, fields]) => {
      const o = {}
      for (let i = 0; i + 1 < fields.length; i += 2) o[fields[i]] = fields[i + 1]
      return o
    })
    const deadJobs = await jobs(pool, deadIds.map(d => d.job || d.id).filter(id => id && ID_RE.test(id)))
    const dead = deadRaw.map(([entry, fields], i) => {
      const d = deadIds[i]
      const j = deadJobs.find(x => x.id === (d.job || d.id)) || row(d.job || d.id || '?', {})
      return { ...j, entry, error: cleanError(d.error || j.error), errorCode: d.code || d.error_code || j.errorCode }
    })
    return {
      pool,
      queued: { interactive: Number(qi), dirty: Number(qd || 0), scheduled: Number(qs) },
      delayed: Number(delayed),
      active: Number(active),
      workersAlive: Number(alive),
      counters,
      failureRatio: finished ? (counters.failed || 0) / finished : 0,
      activeJobs,
      workers,
      failures,
      dead
    }
  }

  async function schedulerView (poolNames) {
    const k = `${sv.prefix}:{sched}:`
    const [last, lastTick, leader] = await r(() => Promise.all([
      redis.hgetall(`${k}last_result`), redis.get(`${k}last_tick`), redis.get(`${k}leader`)
    ]))
    const alerts = []
    for (const pool of poolNames) {
      const ev = await r(() => redis.xrevrange(`${sv.base(pool)}events`, '+', '-', 'COUNT', 2000))
      for (const [, f] of ev) {
        const o = {}
        for (let i = 0; i + 1 < f.length; i += 2) o[f[i]] = f[i + 1]
        if (o.event === 'alert') alerts.push({ tick: o.tick, failed: Number(o.failed), total: Number(o.total), ratio: Number(o.ratio) })
        if (alerts.length >= 10) break
      }
    }
    const lastResult = last && last.tick ? {
      tick: last.tick, backups: Number(last.backups || 0), failed: Number(last.failed || 0), ratio: Number(last.ratio || 0), alert: last.alert === '1'
    } : null
    return { lastTick: lastTick ? new Date(Number(lastTick)).toISOString() : null, leader: leader ? String(leader).split(':').slice(0, 1).join('') : null, lastResult, alerts }
  }

  app.route('GET', /^\/admin\/?$/, async (req, res) => {
    const file = path.join(app.publicDir || path.join(HERE, '..', 'public'), 'admin.html')
    const data = await fs.promises.readFile(file)
    res.writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      'content-length': data.length,
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
      'content-security-policy': "default-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'"
    })
    res.end(data)
  })

  // Each replica store of SQLVAULT_REPLICAS (the names; the web server never
  // needs their URLs or credentials): the workspaces behind and the age of
  // the oldest backup not yet copied, from PREFIX:{replica:NAME}:behind.
  async function replicaView () {
    const names = (app.env.SQLVAULT_REPLICAS || '').split(',').map(s => s.trim().split('=')[0]).filter(n => /^[a-z0-9_]{1,32}$/.test(n))
    const out = []
    const now = Date.now()
    for (const store of names) {
      const key = `${sv.prefix}:{replica:${store}}:behind`
      let cur = '0'
      let behind = 0
      let oldest = 0
      do {
        const [next, kv] = await r(() => redis.hscan(key, cur, 'COUNT', 1000))
        cur = next
        for (let i = 1; i < kv.length; i += 2) {
          const p = Number(String(kv[i]).split(':')[0])
          if (!p) continue
          behind++
          if (!oldest || p < oldest) oldest = p
        }
      } while (cur !== '0')
      out.push({ store, behind, oldest: oldest || null, lagSeconds: oldest && now > oldest ? (now - oldest) / 1000 : 0 })
    }
    return out
  }

  app.route('GET', /^\/api\/admin\/overview$/, async (req, res, m, ctx) => {
    const user = await admin(req)
    const names = await pools(ctx.url)
    const view = []
    for (const p of names) view.push(await poolView(p))
    app.sendJson(res, 200, { user, prefix: sv.prefix, at: new Date().toISOString(), pools: view, scheduler: await schedulerView(names), replicas: await replicaView() })
  })

  app.route('POST', /^\/api\/admin\/jobs\/([A-Za-z0-9][A-Za-z0-9_-]{0,127})\/(retry|cancel)$/, async (req, res, m) => {
    const user = await admin(req)
    const body = await app.readJson(req)
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw new app.HttpError(400, 'The body is a JSON object: {"pool": NAME} or {}.')
    const extra = Object.keys(body).filter(k => k !== 'pool')
    // a retry runs the job as it was: nothing of it can be changed on the way
    if (extra.length) throw new app.HttpError(400, `A ${m[2]} takes only "pool" (the job's pool); ${extra.slice(0, 5).map(k => `"${k.slice(0, 40)}"`).join(', ')} cannot be set: the job runs as it was.`)
    const pool = body.pool === undefined ? sv.pool : body.pool
    if (typeof pool !== 'string') throw new app.HttpError(400, 'Not a valid pool name.')
    if (!ID_RE.test(pool)) throw new app.HttpError(400, 'Not a valid pool name.')
    const job = await sv.getJob(m[1], { pool })
    if (!job) throw new app.HttpError(404, `No job ${m[1]} in pool ${pool} (finished jobs expire after 7 days, failed ones after 30).`)
    if (m[2] === 'cancel') {
      const [state] = [].concat(await sv.cancel(m[1], { pool }))
      return app.sendJson(res, 200, { jobId: m[1], state: state || job.state })
    }
    if (job.state !== 'failed' && job.state !== 'cancelled') throw new app.HttpError(409, `Job ${m[1]} is ${job.state}: only failed or cancelled jobs can be retried.`)
    const opts = { ...(job.opts || {}) }
    delete opts.ts // a new backup gets its own timestamp
    // the same pool, type, workspace, options, priority and attempts; marked as a retry
    const q = { pool, reason: 'retry', retry_of: job.id, retried_by: user }
    if (job.priority) q.priority = job.priority
    if (Number(job.max_attempts) > 0) q.maxAttempts = Number(job.max_attempts)
    for (const k of ['id', 'pool', 'priority', 'maxAttempts']) delete opts[k]
    const id = await sv.enqueue(job.type, job.workspace || undefined, { ...opts, ...q })
    app.sendJson(res, 200, { jobId: id, retryOf: job.id })
  })
}

// "30s", "5m", "1500ms", "30" -> ms (0 when unset or unparsable).
function parseDurationMs (s) {
  const m = /^(\d+)(ms|s|m|h)?$/.exec(String(s || '').trim())
  if (!m) return 0
  return Number(m[1]) * ({ ms: 1, s: 1000, m: 60000, h: 3600000 }[m[2] || 's'])
}

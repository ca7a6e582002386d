// index.js -- the reference web server: sqlvault behind the plan's own routes
// (POST /workspaces/:id/export and /import, which the plan's
// BackupRestoreSection.tsx calls unchanged), a job-style API under /api/ for
// progress, and the Backup & Restore page at /. It runs no job itself: every
// backup, export, upload URL and restore is a job a `sqlvault worker` runs.
// No route holds a whole file in memory: uploads stream to the store (on S3
// through a temporary file, since a presigned PUT needs the length), downloads
// stream from it.
//
//   import { createWebServer } from './server/index.js'
//   const web = await createWebServer({ authenticate, canAccess })   // embedders
//   await web.listen('127.0.0.1:8080')
//
// Route modules: every server/routes/*.js (and opts.routeModules) exports
// `default (app) => void` and adds routes with app.route(method, regex, handler);
// the /admin ops console plugs in that way.
import http from 'node:http'
import https from 'node:https'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import crypto from 'node:crypto'
import { pipeline } from 'node:stream/promises'
import { fileURLToPath, pathToFileURL } from 'node:url'
import Busboy from 'busboy'
import { SqlvaultClient, SqlvaultError, isValidId, parseSize, formatSize, storeConfig, openStore } from '../index.js'
import { listBackups as storeListBackups } from '../store.js'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const TS_RE = /^\d{8}T\d{6}\.\d{3}Z$/
const UPLOAD_RE = /^[0-9a-f]{32}$/
// An ISO 8601 moment: date, hours and minutes, optional seconds and milliseconds, Z or an offset.
const ISO_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?(Z|[+-]\d{2}:\d{2})$/
const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1')
const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd])
const STATIC_TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon' }

// An error with an HTTP status and words a person can act on.
export class HttpError extends Error {
  constructor (status, message) { super(message); this.status = status }
}

// Demo users from a JSON file: {"TOKEN": {"user": "alice", "workspaces": ["ws1"], "admin": false}}.
export function loadUsers (file) {
  let raw
  try { raw = JSON.parse(fs.readFileSync(file, 'utf8')) } catch (e) {
    throw new Error(`SQLVAULT_WEB_USERS: cannot read ${file}: ${e.message}`)
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`SQLVAULT_WEB_USERS: ${file} must hold an object {"TOKEN": {"user": ..., "workspaces": [...]}}`)
  const users = new Map()
  for (const [token, u] of Object.entries(raw)) {
    if (!u || typeof u.user !== 'string' || !Array.isArray(u.workspaces)) throw new Error(`SQLVAULT_WEB_USERS: the entry of a token in ${file} needs "user" (string) and "workspaces" (list)`)
    for (const ws of u.workspaces) if (ws !== '*' && !isValidId(ws)) throw new Error(`SQLVAULT_WEB_USERS: '${ws}' (user ${u.user}) is not a valid workspace id`)
    users.set(token, { user: u.user, workspaces: u.workspaces, admin: u.admin === true })
  }
  return users
}

function bearer (req) {
  const h = req.headers.authorization || ''
  // RFC 6750: "Bearer", one space, a b64token; nothing else is a token
  const m = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/i.exec(h)
  return m ? m[1] : null
}

// Constant-time equality of two secrets: their sha256 digests (always 32
// bytes, so neither the length nor a common prefix shows in the time taken)
// compared with crypto.timingSafeEqual.
const digest = v => crypto.createHash('sha256').update(String(v)).digest()
const safeEq = (a, b) => crypto.timingSafeEqual(digest(a), digest(b))

// The epoch ms of an ISO_RE match; null for a date or time that does not
// exist (month 13, 30 February, 25:00, an offset beyond 14 h).
function isoMs (m) {
  const [y, mo, d, h, mi, s = '0', f = '0'] = m.slice(1, 8)
  const local = Date.UTC(+y, +mo - 1, +d, +h, +mi, +s, Number(f.padEnd(3, '0')))
  const t = new Date(local)
  if (t.getUTCFullYear() !== +y || t.getUTCMonth() !== +mo - 1 || t.getUTCDate() !== +d || t.getUTCHours() !== +h || t.getUTCMinutes() !== +mi || t.getUTCSeconds() !== +s) return null
  if (m[8] === 'Z') return local
  const om = /^([+-])(\d{2}):(\d{2})$/.exec(m[8])
  if (+om[2] > 14 || +om[3] > 59) return null
  return local - (om[1] === '+' ? 1 : -1) * (+om[2] * 60 + +om[3]) * 60000
}

// Headers every answer carries, refusals included: no sniffing, no framing,
// no referrer, and a policy that lets an API answer run nothing. The pages
// set their own Content-Security-Policy over this one.
const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'"
}

// A path parameter, percent-decoded; broken percent-encoding is a 400, not a 500.
export function decodeParam (s, what = 'id') {
  try { return decodeURIComponent(s) } catch (_) {
    throw new HttpError(400, `The ${what} in the path is not valid percent-encoding.`)
  }
}

function sendJson (res, status, body, headers = {}) {
  if (res.headersSent) { res.destroy(); return }
  const s = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(s), 'cache-control': 'no-store', ...headers })
  res.end(s)
}

function fail (res, status, error) { sendJson(res, status, { success: false, error }) }

async function readJson (req, limit = 65536) {
  let n = 0
  const chunks = []
  for await (const c of req) {
    n += c.length
    if (n > limit) throw new HttpError(413, 'The request body is too large for this route.')
    chunks.push(c)
  }
  if (!n) return {}
  let v
  try { v = JSON.parse(Buffer.concat(chunks).toString('utf8')) } catch (_) { throw new HttpError(400, 'The request body is not valid JSON.') }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new HttpError(400, 'The request body must be a JSON object.')
  return v
}

// The job fields the API shows (no lease, no worker internals).
function publicJob (job) {
  return {
    id: job.id,
    type: job.type,
    workspace: job.workspace,
    state: job.state,
    stage: job.stage || null,
    bytesDone: job.bytes_done || 0,
    bytesTotal: job.bytes_total || 0,
    attempt: job.attempt,
    createdAt: job.created_at ? new Date(job.created_at).toISOString() : null,
    finishedAt: job.finished_at ? new Date(job.finished_at).toISOString() : null,
    result: job.result ? Object.fromEntries(Object.entries(job.result).filter(([k]) => k !== 'db' && k !== 'restore_command')) : null,
    error: job.error ? scrub(job.error) : null,
    errorCode: job.error_code || null
  }
}

// A worker's error without server paths or CLI hints (they mean nothing to a browser user).
function scrub (msg) {
  return String(msg).replace(/\s*\(hint:.*$/s, '').replace(/\s*\(hint:[^)]*\)/g, '').replace(/'\/[^']*'/g, 'on the server').replace(/\s\/[^\s']+/g, ' (a server file)').replace(/\.$/, '')
}

// Words for a failed job, and the HTTP status they go with.
function jobFailure (e, what, bare = false) {
  if (e instanceof HttpError) return e
  if (e instanceof SqlvaultError) {
    if (e.code === 'REDIS_UNREACHABLE') return new HttpError(503, `The backup service is unavailable right now (its queue cannot be reached). Try again in a minute. ${what} did not start.`)
    if (e.code === 'TIMEOUT') return new HttpError(504, `${what} is still running after the server stopped waiting; it goes on in the background. Check the backup list in a few minutes.`)
    if (e.code === 'JOB_FAILED') {
      const why = scrub((e.job && e.job.error) || e.message)
      const code = e.errorCode
      if (bare) what = ''
      const ws = e.job && e.job.workspace
      const untouched = e.job && e.job.type === 'restore' ? ' Your current data was not changed.' : ''
      if (code === 'too_big') return new HttpError(413, `${what ? `${what} failed: ` : ''}${why}.${untouched}`)
      if (code === 'corrupt' || code === 'invalid' || code === 'checksum') return new HttpError(400, `${what ? `${what} failed: ` : ''}${why}.${untouched}`)
      if (code === 'not_found') {
        if (e.job && (e.job.type === 'export' || e.job.type === 'backup') && /no database/.test(why)) return new HttpError(404, `Workspace '${ws}' has no database on the server yet, so there is nothing to back up.`)
        return new HttpError(404, `${what ? `${what} failed: ` : ''}${why}.${untouched}`)
      }
      return new HttpError(500, `${what ? `${what} failed: ` : ''}${why}.${untouched}`)
    }
    if (e.code === 'INVALID') return new HttpError(400, e.message)
  }
  return new HttpError(500, `${what} failed: ${e.message}`)
}

// Counts and caps the bytes of a stream and checks its first bytes are a
// SQLite database or a zstd stream.
function guard (max, onTooBig, onBadMagic) {
  let n = 0
  let head = Buffer.alloc(0)
  let checked = false
  return async function * (source) {
    for await (const chunk of source) {
      n += chunk.length
      if (n > max) throw onTooBig()
      if (!checked) {
        head = Buffer.concat([head, chunk])
        if (head.length >= 16 || (head.length >= 4 && head.subarray(0, 4).equals(ZSTD_MAGIC))) {
          checked = true
          if (!head.subarray(0, 16).equals(SQLITE_MAGIC) && !head.subarray(0, 4).equals(ZSTD_MAGIC)) throw onBadMagic()
        }
      }
      yield chunk
    }
    if (n === 0) throw new HttpError(400, 'The file is empty. Choose a backup file downloaded from here. Your current data was not changed.')
    if (!checked) throw onBadMagic()
  }
}

// PUT a local file to a presigned URL, streamed with its length.
function putFile (url, file, size) {
  return new Promise((resolve, reject) => {
    const u = new URL(url)
    const mod = u.protocol === 'https:' ? https : http
    const req = mod.request(u, { method: 'PUT', headers: { 'content-length': size } }, res => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', d => { if (body.length < 2000) body += d })
      res.on('end', () => res.statusCode === 200 ? resolve() : reject(new Error(`the store answered HTTP ${res.statusCode} to the upload: ${body.slice(0, 300)}`)))
    })
    req.on('error', reject)
    fs.createReadStream(file).on('error', reject).pipe(req)
  })
}

export async function createWebServer (opts = {}) {
  const env = opts.env || process.env
  const sv = opts.client || new SqlvaultClient({ url: opts.redisUrl, prefix: opts.prefix })
  const store = opts.store || storeConfig(env)
  const reader = openStore(store)
  const maxDbSize = parseSize(opts.maxDbSize || env.SQLVAULT_MAX_DB_SIZE || '32GiB')
  const exportTtl = Number(opts.exportTtl || env.SQLVAULT_EXPORT_TTL || 3600)
  const jobTimeoutMs = Number(opts.jobTimeoutMs || 30 * 60 * 1000)
  const secret = opts.secret || env.SQLVAULT_WEB_SECRET || crypto.randomBytes(32).toString('hex')
  const corsOrigins = new Set((opts.corsOrigins || env.SQLVAULT_WEB_CORS_ORIGINS || '').split(',').map(s => s.trim().replace(/\/+$/, '')).filter(Boolean))
  const tmpDir = opts.tmpDir || env.SQLVAULT_TMP_DIR || os.tmpdir()
  const uploadTtl = 24 * 3600
  let users = null
  if (!opts.authenticate) {
    const file = opts.usersFile || env.SQLVAULT_WEB_USERS
    if (!file) throw new Error('SQLVAULT_WEB_USERS is not set: name a JSON file of demo users {"TOKEN": {"user": "alice", "workspaces": ["ws1"]}} (or pass authenticate/canAccess when embedding)')
    users = loadUsers(file)
  }
  const byUser = new Map()
  if (users) for (const u of users.values()) byUser.set(u.user, u)
  // authenticate(req) -> userId | null; canAccess(userId, ws) -> bool; listWorkspaces(userId) -> [ws]
  const authenticate = opts.authenticate || (req => {
    const t = bearer(req)
    if (!t) return null
    // every token is compared (no early exit): the time does not say which matched
    let found = null
    for (const [token, u] of users) if (safeEq(token, t) && !found) found = u.user
    return found
  })
  const canAccess = opts.canAccess || ((userId, ws) => {
    const u = byUser.get(userId)
    return !!u && (u.admin || u.workspaces.includes('*') || u.workspaces.includes(ws))
  })
  const listWorkspaces = opts.listWorkspaces || (userId => {
    const u = byUser.get(userId)
    return u ? u.workspaces.filter(w => w !== '*') : []
  })
  const isAdmin = opts.isAdmin || (userId => { const u = byUser.get(userId); return !!(u && u.admin) })

  const routes = []
  const app = {
    sv, store, reader, env, maxDbSize, routes,
    // app.route('GET', /^\/admin$/, async (req, res, match, ctx) => ...)
    route (method, re, handler) { routes.push({ method, re, handler }) },
    sendJson,
    fail,
    readJson,
    HttpError,
    publicJob,
    // the signed-in user or a 401 (thrown)
    async user (req) {
      const u = await authenticate(req)
      if (!u) throw new HttpError(401, bearer(req) ? 'This access token is not valid. Sign in again with a valid token.' : 'Sign in first: this request has no access token (send "Authorization: Bearer TOKEN").')
      return u
    },
    async workspace (req, ws) {
      const u = await app.user(req)
      if (!isValidId(ws)) throw new HttpError(400, `'${String(ws).slice(0, 140)}' is not a valid workspace id (1-128 letters, digits, '_' or '-').`)
      if (!(await canAccess(u, ws))) throw new HttpError(403, `You (${u}) do not have access to workspace '${ws}'. Ask its owner for access, or choose one of your own workspaces.`)
      return u
    },
    isAdmin
  }

  // ------------------------------------------------------------- helpers

  const uploadKey = id => `${sv.prefix}:web:upload:${id}`

  async function recordUpload (user, ws, key, id) {
    await sv._r(() => sv.redis.set(uploadKey(id), JSON.stringify({ user, workspace: ws, key, at: Date.now() }), 'EX', uploadTtl))
  }

  async function getUpload (id) {
    const v = await sv._r(() => sv.redis.get(uploadKey(id)))
    return v ? JSON.parse(v) : null
  }

  function signDownload (key, exp) {
    return crypto.createHmac('sha256', secret).update(`download\n${key}\n${exp}`).digest('hex')
  }

  function baseUrl (req) {
    if (env.SQLVAULT_WEB_PUBLIC_URL) return env.SQLVAULT_WEB_PUBLIC_URL.replace(/\/+$/, '')
    return `http://${req.headers.host || 'localhost'}`
  }

  // The download URL of a finished export job: presigned on S3, a signed route of ours on file://.
  function downloadUrl (req, job) {
    const r = job.result || {}
    if (!r.url) return null
    if (store.kind === 's3') return r.url
    const exp = Math.floor(Date.now() / 1000) + exportTtl
    return `${baseUrl(req)}/download?key=${encodeURIComponent(r.key)}&exp=${exp}&sig=${signDownload(r.key, exp)}`
  }

  async function waitJob (id, req, res, what) {
    const ac = new AbortController()
    const onClose = () => { if (!res.writableEnded) ac.abort() }
    res.on('close', onClose)
    try {
      return await sv.waitForJob(id, { timeoutMs: jobTimeoutMs, signal: ac.signal })
    } catch (e) {
      if (e.code === 'ABORTED') throw new HttpError(499, 'the client went away')
      throw jobFailure(e, what)
    } finally {
      res.off('close', onClose)
    }
  }

  // An upload destination from an import-url job: { id, key, url, ttl }.
  async function newUpload (user, ws, req, res) {
    let id
    try {
      id = await sv.enqueue('import-url', ws, { user_id: user, ttl: 3600, reason: 'manual' })
    } catch (e) { throw jobFailure(e, 'Preparing the upload') }
    const job = await waitJob(id, req, res, 'Preparing the upload')
    const key = job.result.key
    const m = new RegExp(`^uploads/${ws}/([0-9a-f]{32})\\.db$`).exec(key || '')
    if (!m) throw new HttpError(500, `the worker answered an unexpected upload key '${key}'`)
    await recordUpload(user, ws, key, m[1])
    return { id: m[1], key, url: job.result.url, jobId: id }
  }

  const tooBig = () => new HttpError(413, `The file is larger than the ${formatSize(maxDbSize)} limit (SQLVAULT_MAX_DB_SIZE). Nothing was changed.`)
  const badMagic = () => new HttpError(400, 'This file is not a SQLite database (.db) or a zstd-compressed one (.db.zst). Choose a backup file downloaded from here. Your current data was not changed.')

  // Streams `source` into the store at `upload.key`: on file:// to a temporary
  // name beside it, renamed at the end; on S3 through a temporary file and a
  // presigned PUT. Returns the byte count.
  async function storeUpload (stream, upload) {
    // read without destroying the stream on an error: the caller drains it so
    // the answer reaches the browser
    const source = stream.iterator({ destroyOnReturn: false })
    let n = 0
    const count = async function * (src) { for await (const c of src) { n += c.length; yield c } }
    if (store.kind === 'file') {
      const dest = path.join(store.root, upload.key)
      if (!dest.startsWith(store.root + path.sep)) throw new HttpError(400, 'bad upload key')
      await fs.promises.mkdir(path.dirname(dest), { recursive: true })
      const tmp = `${dest}.part-${crypto.randomBytes(6).toString('hex')}`
      try {
        await pipeline(source, guard(maxDbSize, tooBig, badMagic), count, fs.createWriteStream(tmp, { flags: 'wx' }))
        await fs.promises.rename(tmp, dest)
      } catch (e) {
        await fs.promises.rm(tmp, { force: true })
        throw e
      }
      return n
    }
    const tmp = path.join(tmpDir, `sqlvault-upload-${crypto.randomBytes(8).toString('hex')}`)
    try {
      await pipeline(source, guard(maxDbSize, tooBig, badMagic), count, fs.createWriteStream(tmp, { flags: 'wx', mode: 0o600 }))
      await putFile(upload.url, tmp, n)
    } finally {
      await fs.promises.rm(tmp, { force: true })
    }
    return n
  }

  // Resolves a restore `source` from the request: latest, a listed backup
  // time, or an upload id this user made for this workspace. Never a path or key.
  async function restoreSource (user, ws, source) {
    if (source === undefined || source === null || source === '' || source === 'latest') return 'latest'
    if (typeof source !== 'string') throw new HttpError(400, 'The restore source must be a string.')
    if (TS_RE.test(source)) {
      const list = await storeListBackups(reader, ws)
      if (!list.some(b => b.ts === source)) throw new HttpError(404, `Workspace '${ws}' has no backup at ${source}. Choose one from the backup list.`)
      return source
    }
    const obj = await uploadObject(user, ws, source)
    if (obj) return obj
    throw new HttpError(400, `A restore source is 'latest', a backup time from the list (like 20260115T103000.000Z) or an upload id you made; '${source.slice(0, 100)}' is none of these.`)
  }

  // 'object:KEY' of an upload id ('upload:ID' or ID) this user made for this
  // workspace; null when `source` is no upload id; 403 for another's or an expired one.
  async function uploadObject (user, ws, source) {
    const up = /^(?:upload:)?([0-9a-f]{32})$/.exec(source)
    if (!up || !UPLOAD_RE.test(up[1])) return null
    const rec = await getUpload(up[1])
    if (!rec || rec.user !== user || rec.workspace !== ws) throw new HttpError(403, `Upload ${up[1]} is not one you made for workspace '${ws}' (or it expired after a day). Upload the file again.`)
    return `object:${rec.key}`
  }

  // Resolves an inspect point `at` from the request: latest, live, a listed
  // backup time, a moment (ISO 8601 with Z or an offset; sent on as UTC ISO,
  // the state then: the newest backup at or before it), or an upload id this
  // user made for this workspace (object:KEY, as for a restore). Never a path or key.
  async function inspectPoint (user, ws, at) {
    if (at === undefined || at === null || at === '' || at === 'latest') return 'latest'
    if (typeof at !== 'string') throw new HttpError(400, 'The point to read ("at") must be a string: latest, live, a backup time, an ISO time or an upload id.')
    if (at === 'live') return 'live'
    if (TS_RE.test(at)) {
      let list
      try { list = await storeListBackups(reader, ws) } catch (e) { throw new HttpError(502, `The backup store could not be listed: ${e.message}`) }
      if (!list.some(b => b.ts === at)) throw new HttpError(404, `Workspace '${ws}' has no backup at ${at}. Choose one from the backup list.`)
      return at
    }
    const iso = ISO_RE.exec(at)
    if (iso) {
      const ms = isoMs(iso)
      if (ms === null) throw new HttpError(400, `'${at}' is not a real moment (check the month, day and hour).`)
      return new Date(ms).toISOString().replace(/\.000Z$/, 'Z')
    }
    const obj = await uploadObject(user, ws, at)
    if (obj) return obj
    throw new HttpError(400, `The point to read ("at") is 'latest', 'live', a backup time from the list (like 20260115T103000.000Z), a time (like 2026-01-15T10:30:00Z) or an upload id you made; '${at.slice(0, 100)}' is none of these.`)
  }

  // --------------------------------------------------- plan-compatible routes

  app.route('POST', /^\/workspaces\/([^/]+)\/export$/, async (req, res, m) => {
    const ws = decodeParam(m[1], 'workspace id')
    const user = await app.workspace(req, ws)
    let id
    try { id = await sv.enqueue('export', ws, { user_id: user, ttl: exportTtl, reason: 'manual' }) } catch (e) { throw jobFailure(e, 'The export') }
    const job = await waitJob(id, req, res, 'The export')
    sendJson(res, 200, { success: true, downloadUrl: downloadUrl(req, job), expiresIn: exportTtl, filename: job.result.filename, size: job.result.size, jobId: id })
  })

  app.route('POST', /^\/workspaces\/([^/]+)\/import$/, async (req, res, m) => {
    const ws = decodeParam(m[1], 'workspace id')
    const user = await app.workspace(req, ws)
    const ct = req.headers['content-type'] || ''
    if (!/^multipart\/form-data/i.test(ct)) throw new HttpError(400, 'Send the backup as multipart/form-data with the file in the field "backup".')
    const len = Number(req.headers['content-length'] || 0)
    if (len > maxDbSize + 1024 * 1024) throw tooBig()
    const upload = await newUpload(user, ws, req, res)
    const stored = await new Promise((resolve, reject) => {
      let bb
      try { bb = Busboy({ headers: req.headers, limits: { files: 1, fields: 20, fieldSize: 4096 } }) } catch (e) { reject(new HttpError(400, `The upload is not valid multipart/form-data: ${e.message}`)); return }
      let got = null
      let err = null
      let current = null
      const oneFile = () => new HttpError(400, 'Send one file only, in the form field "backup". Your current data was not changed.')
      bb.on('filesLimit', () => { err = err || oneFile() })
      bb.on('file', (name, file, info) => {
        if (name !== 'backup' || got) { err = err || (got || name === 'backup' ? oneFile() : null); file.resume(); return }
        current = file
        got = storeUpload(file, upload).then(n => ({ n, filename: info.filename }), e => {
          err = e
          file.resume() // keep reading so the answer reaches the browser
        })
      })
      bb.on('error', e => reject(new HttpError(400, `The upload could not be read: ${e.message}`)))
      bb.on('close', async () => {
        if (!got) return reject(err || new HttpError(400, 'No backup file provided: send it in the form field "backup".'))
        const r = await got
        if (err) reject(err)
        else resolve(r)
      })
      // a client that goes away mid-upload: the file stream fails, so the
      // partial file is removed (busboy alone would wait for more forever)
      req.on('close', () => {
        if (req.complete) return
        const e = new HttpError(499, 'the client went away')
        if (current && !current.destroyed) current.destroy(e)
        reject(e)
      })
      req.pipe(bb)
    })
    let id
    try { id = await sv.enqueue('restore', ws, { from: `object:${upload.key}`, user_id: user, reason: 'import' }) } catch (e) { throw jobFailure(e, 'The restore') }
    const job = await waitJob(id, req, res, 'The restore')
    sendJson(res, 200, {
      success: true,
      message: `Workspace '${ws}' restored from ${stored.filename || 'the uploaded file'} (${formatSize(stored.n)}). Reload to see the restored data.`,
      jobId: id,
      size: job.result.size,
      checksum: job.result.checksum,
      safetyBackup: job.result.safety_backup || null
    })
  })

  // ------------------------------------------------------------- job API

  app.route('GET', /^\/api\/me$/, async (req, res) => {
    const user = await app.user(req)
    sendJson(res, 200, { user, workspaces: await listWorkspaces(user), admin: !!(await isAdmin(user)), store: store.kind, maxDbSize, exportTtl })
  })

  app.route('POST', /^\/api\/workspaces\/([^/]+)\/(backup|export|import-url|restore)$/, async (req, res, m) => {
    const ws = decodeParam(m[1], 'workspace id')
    const user = await app.workspace(req, ws)
    const body = await readJson(req)
    const kind = m[2]
    if (kind === 'import-url') {
      const up = await newUpload(user, ws, req, res)
      // S3: the browser PUTs straight to the store; file://: to our streamed route
      const uploadUrl = store.kind === 's3' ? up.url : `${baseUrl(req)}/api/uploads/${up.id}`
      return sendJson(res, 202, { jobId: up.jobId, uploadId: up.id, uploadUrl, method: 'PUT', direct: store.kind === 's3', expiresIn: 3600, maxBytes: maxDbSize })
    }
    const o = { user_id: user, reason: 'manual' }
    if (kind === 'export') o.ttl = exportTtl
    if (kind === 'restore') o.from = await restoreSource(user, ws, body.source)
    let id
    try { id = await sv.enqueue(kind, ws, o) } catch (e) { throw jobFailure(e, `The ${kind}`) }
    sendJson(res, 202, { jobId: id })
  })

  // POST /api/workspaces/:ws/inspect {"at": ...}: reads a point of the
  // workspace's backups (or the live file, or an upload) in place, restoring
  // nothing: an inspect job whose result holds the tables with their row
  // counts, a LiveStore event log's newest events and what was fetched.
  // The page's preview before a restore runs two (at=live and the point).
  app.route('POST', /^\/api\/workspaces\/([^/]+)\/inspect$/, async (req, res, m) => {
    const ws = decodeParam(m[1], 'workspace id')
    const user = await app.workspace(req, ws)
    const body = await readJson(req)
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, 'The request body must be a JSON object like {"at": "latest"}.')
    const at = await inspectPoint(user, ws, body.at)
    let id
    try { id = await sv.enqueue('inspect', ws, { at, user_id: user, reason: 'manual' }) } catch (e) { throw jobFailure(e, 'Reading the backup') }
    sendJson(res, 202, { jobId: id })
  })

  // PUT /api/uploads/:id: the streamed upload route (file:// stores, and a fallback on S3)
  app.route('PUT', /^\/api\/uploads\/([0-9a-f]{32})$/, async (req, res, m) => {
    const user = await app.user(req)
    const rec = await getUpload(m[1])
    if (!rec || rec.user !== user) throw new HttpError(404, `No upload ${m[1]} of yours (upload URLs expire after a day; ask for a new one).`)
    if (!(await canAccess(user, rec.workspace))) throw new HttpError(403, `You no longer have access to workspace '${rec.workspace}'.`)
    const len = Number(req.headers['content-length'] || 0)
    if (len > maxDbSize) throw tooBig()
    let upload = { key: rec.key }
    if (store.kind === 's3') {
      // a fresh presigned PUT for the same key is not available from the
      // worker; stream through a new import-url destination instead
      upload = await newUpload(user, rec.workspace, req, res)
    }
    let n
    try {
      n = await storeUpload(req, upload)
    } catch (e) {
      req.resume()
      throw e
    }
    sendJson(res, 200, { uploadId: upload.id || m[1], bytes: n })
  })

  const jobAccess = async (req, id) => {
    const user = await app.user(req)
    if (!isValidId(id)) throw new HttpError(400, `'${String(id).slice(0, 140)}' is not a valid job id.`)
    let job
    try { job = await sv.getJob(id) } catch (e) { throw jobFailure(e, 'Reading the job') }
    if (!job || !job.workspace || !(await canAccess(user, job.workspace))) throw new HttpError(404, `No job ${id} that you can see (finished jobs are kept for 7 days).`)
    return job
  }

  const withDownload = (req, job) => {
    const p = publicJob(job)
    if (job.type === 'export' && job.state === 'succeeded') { p.downloadUrl = downloadUrl(req, job); p.expiresIn = exportTtl }
    if (job.type === 'export' && p.result && store.kind === 'file') { p.result = { ...p.result }; delete p.result.url }
    return p
  }

  app.route('GET', /^\/api\/jobs\/([^/]+)$/, async (req, res, m) => {
    const job = await jobAccess(req, decodeParam(m[1], 'job id'))
    sendJson(res, 200, withDownload(req, job))
  })

  app.route('GET', /^\/api\/jobs\/([^/]+)\/events$/, async (req, res, m) => {
    const id = decodeParam(m[1], 'job id')
    await jobAccess(req, id)
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' })
    const ac = new AbortController()
    res.on('close', () => ac.abort())
    const send = (event, data) => { if (!res.writableEnded) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`) }
    const ping = setInterval(() => { if (!res.writableEnded) res.write(': ping\n\n') }, 15000)
    try {
      const job = await sv.waitForJob(id, { timeoutMs: jobTimeoutMs, signal: ac.signal, pollMs: 300, onProgress: j => send('progress', withDownload(req, j)) })
      send('done', withDownload(req, job))
    } catch (e) {
      if (e.code !== 'ABORTED') {
        const j = e.job ? withDownload(req, e.job) : { id, state: 'unknown', error: e.message }
        const f = jobFailure(e, `Job ${id}`, true)
        send('done', { ...j, message: f.message, status: f.status })
      }
    } finally {
      clearInterval(ping)
      res.end()
    }
  })

  app.route('GET', /^\/api\/workspaces\/([^/]+)\/backups$/, async (req, res, m) => {
    const ws = decodeParam(m[1], 'workspace id')
    await app.workspace(req, ws)
    let backups
    try { backups = await storeListBackups(reader, ws) } catch (e) { throw new HttpError(502, `The backup store could not be listed: ${e.message}`) }
    sendJson(res, 200, { workspace: ws, backups })
  })

  // the signed, expiring download of an export on a file:// store
  app.route('GET', /^\/download$/, async (req, res, m, ctx) => {
    const q = ctx.url.searchParams
    const key = q.get('key') || ''
    const expRaw = q.get('exp') || ''
    const exp = /^[0-9]{1,12}$/.test(expRaw) ? Number(expRaw) : -1
    const sig = q.get('sig') || ''
    if (store.kind !== 'file') throw new HttpError(404, 'Downloads come from the store on this server.')
    if (!/^exports\/[A-Za-z0-9][A-Za-z0-9_-]{0,127}\/[A-Za-z0-9_-]+\/[A-Za-z0-9_.-]+$/.test(key) || key.includes('..')) throw new HttpError(400, 'This download link is malformed.')
    if (exp < 0 || !safeEq(sig, signDownload(key, exp))) throw new HttpError(403, 'This download link is not valid (its signature does not match). Ask for a new export.')
    if (exp * 1000 < Date.now()) throw new HttpError(403, 'This download link has expired. Press Download Backup again for a fresh one.')
    const file = path.join(store.root, key)
    let st
    try { st = await fs.promises.stat(file) } catch (_) { throw new HttpError(404, 'This export is gone from the store (exports are removed after a day). Press Download Backup again.') }
    const name = path.basename(key)
    res.writeHead(200, {
      'content-type': 'application/vnd.sqlite3',
      'content-length': st.size,
      'content-disposition': `attachment; filename="${name}"`,
      'cache-control': 'no-store'
    })
    await pipeline(fs.createReadStream(file), res)
  })

  // ------------------------------------------------------------- static page

  const publicDir = opts.publicDir || path.join(HERE, 'public')
  app.route('GET', /^\/(|[A-Za-z0-9_-]+\.(?:html|js|css|svg|png|ico))$/, async (req, res, m) => {
    const name = m[1] || 'index.html'
    const file = path.join(publicDir, name)
    let data
    try { data = await fs.promises.readFile(file) } catch (_) { throw new HttpError(404, `No page ${name}.`) }
    res.writeHead(200, {
      'content-type': STATIC_TYPES[path.extname(name)] || 'application/octet-stream',
      'content-length': data.length,
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
      'content-security-policy': "default-src 'self'; connect-src *; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'"
    })
    res.end(data)
  })

  // ----------------------------------------------------------- route modules

  const modules = [...(opts.routeModules || [])]
  const routesDir = opts.routesDir || path.join(HERE, 'routes')
  if (fs.existsSync(routesDir)) {
    for (const f of fs.readdirSync(routesDir).filter(f => f.endsWith('.js')).sort()) {
      modules.push(await import(pathToFileURL(path.join(routesDir, f)).href))
    }
  }
  for (const mod of modules) {
    const register = typeof mod === 'function' ? mod : mod.default
    if (typeof register === 'function') await register(app)
  }

  // --------------------------------------------------------------- dispatch

  function cors (req, res) {
    const origin = req.headers.origin
    if (!origin) return true
    const own = `http://${req.headers.host}`
    if (origin === own || (env.SQLVAULT_WEB_PUBLIC_URL && origin === env.SQLVAULT_WEB_PUBLIC_URL.replace(/\/+$/, ''))) return true
    if (corsOrigins.has(origin) || corsOrigins.has('*')) {
      res.setHeader('access-control-allow-origin', origin)
      res.setHeader('vary', 'Origin')
      return true
    }
    return false
  }

  // A token in the URL ends up in access logs, browser history and Referer
  // headers: a request carrying one (under any parameter name, or a parameter
  // named like a credential) is refused before anything else, and the answer
  // does not echo it.
  const CREDENTIAL_PARAMS = /^(token|access_token|id_token|auth|authorization|bearer|api_key|apikey|session)$/i
  async function tokenInUrl (url) {
    let n = 0
    for (const [k, v] of url.searchParams) {
      if (++n > 20) break
      if (CREDENTIAL_PARAMS.test(k)) return true
      const t = String(v).replace(/^Bearer\s+/i, '')
      if (!t || t.length > 4096) continue
      try { if (await authenticate({ headers: { authorization: `Bearer ${t}` } })) return true } catch (_) {}
    }
    return false
  }

  async function handle (req, res) {
    let url
    try { url = new URL(req.url, 'http://x') } catch (_) { return fail(res, 400, 'The request path is not a valid URL path.') }
    if (url.search && url.pathname !== '/download' && (await tokenInUrl(url))) {
      return fail(res, 400, 'An access token goes in the Authorization header ("Authorization: Bearer TOKEN"), never in the URL: URLs are logged and kept in browser history. Nothing was done; sign in again if the token may have leaked.')
    }
    const allowed = cors(req, res)
    if (req.method === 'OPTIONS') {
      if (!req.headers.origin || !allowed) {
        return fail(res, 403, `Origin ${req.headers.origin || '(none)'} may not call this server: add it to SQLVAULT_WEB_CORS_ORIGINS.`)
      }
      res.writeHead(204, {
        'access-control-allow-methods': 'GET, POST, PUT, OPTIONS',
        'access-control-allow-headers': 'Authorization, Content-Type',
        'access-control-max-age': '600'
      })
      return res.end()
    }
    if (!allowed) return fail(res, 403, `Origin ${req.headers.origin} may not call this server: add it to SQLVAULT_WEB_CORS_ORIGINS.`)
    let pathMatched = false
    for (const r of routes) {
      const m = r.re.exec(url.pathname)
      if (!m) continue
      pathMatched = true
      if (r.method !== req.method && !(r.method === 'GET' && req.method === 'HEAD')) continue
      return r.handler(req, res, m, { url, app })
    }
    const shown = url.pathname.length > 100 ? `${url.pathname.slice(0, 100)}…` : url.pathname
    if (pathMatched) return fail(res, 405, `${req.method} is not allowed on ${shown}.`)
    return fail(res, 404, `No route ${req.method} ${shown}. The API is POST /workspaces/:id/export, POST /workspaces/:id/import and /api/...`)
  }

  // One access-log line per request on stdout when asked (main.js does):
  // method, path without its query string (a signed download's signature
  // stays out), status, milliseconds.
  const accessLog = opts.accessLog !== undefined ? !!opts.accessLog : false
  const server = http.createServer((req, res) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v)
    if (accessLog) {
      const t0 = Date.now()
      res.on('close', () => {
        const p = String(req.url || '').split('?')[0].slice(0, 200).replace(/[^\x21-\x7e]/g, '?')
        process.stdout.write(`web: ${req.method} ${p} ${res.statusCode} ${Date.now() - t0}ms\n`)
      })
    }
    Promise.resolve().then(() => handle(req, res)).catch(e => {
      if (e instanceof HttpError) {
        if (e.status === 499) { res.destroy(); return }
        if (!res.headersSent && (e.status === 413 || e.status === 400) && !req.complete) res.setHeader('connection', 'close')
        return fail(res, e.status, e.message)
      }
      console.error(`web: ${req.method} ${req.url}: ${e.stack || e}`)
      fail(res, 500, `Something went wrong on the server: ${e.message}`)
    })
  })
  // A request the HTTP parser refuses (bytes not allowed in a path, a broken
  // header) gets a JSON answer with the same headers, not a bare 400.
  server.on('clientError', (err, socket) => {
    if (!socket.writable || err.code === 'ECONNRESET') { socket.destroy(); return }
    const body = JSON.stringify({ success: false, error: 'The request could not be read (a path or header the HTTP parser refuses).' })
    const h = { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close', 'cache-control': 'no-store', ...SECURITY_HEADERS }
    socket.end(`HTTP/1.1 400 Bad Request\r\n${Object.entries(h).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n${body}`)
  })
  server.requestTimeout = 0 // large uploads take their time
  server.headersTimeout = 60000

  return {
    app,
    server,
    client: sv,
    async listen (addr = env.SQLVAULT_WEB_ADDR || '127.0.0.1:8080') {
      const i = addr.lastIndexOf(':')
      const host = i > 0 ? addr.slice(0, i).replace(/^\[|\]$/g, '') : '127.0.0.1'
      const port = Number(i >= 0 ? addr.slice(i + 1) : addr)
      await new Promise((resolve, reject) => { server.once('error', reject); server.listen(port, host, resolve) })
      const a = server.address()
      const h = a.family === 'IPv6' ? `[${a.address}]` : a.address
      return `http://${h}:${a.port}`
    },
    async close () {
      await new Promise(resolve => { server.close(() => resolve()); server.closeAllConnections && server.closeAllConnections() })
      if (!opts.client) await sv.close()
    }
  }
}

// lib.js -- helpers of the web tests (api.test.js, browser.test.js): start a
// `sqlvault worker` and the reference web server as child processes against
// the suite's Redis and a file:// or S3 store, make workspaces with sqlite3,
// compare databases by content, read a process's RSS. Every wait is bounded.
import { spawn, execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import http from 'node:http'
import { fileURLToPath } from 'node:url'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
export const env = process.env
export const SCRATCH = env.SV_SCRATCH || fs.mkdtempSync('/tmp/svweb-')

export const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

export async function waitUntil (fn, what, ms = 30000, every = 50) {
  const end = Date.now() + ms
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await sleep(every)
  }
}

export const sql = (db, s) => execFileSync('sqlite3', [db, s], { encoding: 'utf8' }).trim()
export const sha3 = db => execFileSync('sqlite3', [db, '.sha3sum'], { encoding: 'utf8' }).trim()

// makeDb(path, rows): a small LiveStore-like database (as tests/it/lib.sh make_db).
export function makeDb (file, rows) {
  fs.mkdirSync(path.dirname(file), { recursive: true })
  execFileSync('sqlite3', [file], {
    input: `PRAGMA journal_mode=WAL;
CREATE TABLE IF NOT EXISTS eventlog (seq INTEGER PRIMARY KEY, name TEXT NOT NULL, args TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS todos (id TEXT PRIMARY KEY, title TEXT NOT NULL, done INTEGER NOT NULL DEFAULT 0);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${rows})
INSERT INTO eventlog (name, args, created_at)
  SELECT 'todoCreated', json_object('id', 't' || i, 'title', 'todo number ' || i || ' ' || hex(randomblob(8))), datetime('now') FROM n;
INSERT OR REPLACE INTO todos (id, title) SELECT json_extract(args, '$.id'), json_extract(args, '$.title') FROM eventlog;
`,
    stdio: ['pipe', 'ignore', 'inherit']
  })
}

// rssKiB(pid): resident set size of a process.
export function rssKiB (pid) {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+)/.exec(s)[1])
}

const children = new Set()
export async function stopAll () {
  await Promise.all([...children].map(stop))
}
export async function stop (p) {
  if (!p || p.exitCode !== null || p.signalCode) { children.delete(p); return }
  const done = new Promise(resolve => p.once('exit', resolve))
  p.kill('SIGTERM')
  const t = setTimeout(() => p.kill('SIGKILL'), 8000)
  await done
  clearTimeout(t)
  children.delete(p)
}

// The environment of a deployment: a store (file:// dir or S3 prefix), a data dir, a Redis prefix.
export function deployment (name, { s3 = false, extra = {} } = {}) {
  const dir = path.join(SCRATCH, name)
  fs.mkdirSync(path.join(dir, 'data'), { recursive: true })
  const e = {
    ...env,
    SQLVAULT_REDIS_URL: env.SV_REDIS_URL || env.SQLVAULT_REDIS_URL,
    SQLVAULT_REDIS_PREFIX: `${env.SQLVAULT_REDIS_PREFIX || 'svweb'}-${name}`,
    SQLVAULT_DATA_DIR: path.join(dir, 'data'),
    SQLVAULT_LOG_FORMAT: 'text',
    SQLVAULT_LEASE: '5s',
    SQLVAULT_PAUSE_TIMEOUT: '3s',
    ...extra
  }
  if (s3) {
    e.SQLVAULT_STORE = `s3://${env.SV_S3_BUCKET}/${env.SV_PREFIX || 'svweb/'}${name}/`
    // the browser reaches the S3 server directly (the proxy's CORS is the S3 server's)
    e.SQLVAULT_S3_ENDPOINT = env.SV_S3_DIRECT_ENDPOINT
    e.SQLVAULT_S3_REGION = 'auto'
  } else {
    fs.mkdirSync(path.join(dir, 'store'), { recursive: true })
    e.SQLVAULT_STORE = `file://${path.join(dir, 'store')}`
  }
  return { name, dir, env: e, data: e.SQLVAULT_DATA_DIR, live: ws => path.join(e.SQLVAULT_DATA_DIR, ws, 'livestore.db') }
}

export function startWorker (dep, threads = 2) {
  const log = fs.openSync(path.join(dep.dir, 'worker.log'), 'a')
  const p = spawn(env.SV_BIN, ['worker', '--threads', String(threads)], { env: dep.env, stdio: ['ignore', log, log] })
  children.add(p)
  return p
}

// startWeb(dep, users, env): the reference server on a free port; resolves { proc, url }.
export async function startWeb (dep, users, extra = {}) {
  const usersFile = path.join(dep.dir, `users-${Object.keys(users).length}-${Date.now()}.json`)
  fs.writeFileSync(usersFile, JSON.stringify(users))
  const p = spawn(process.execPath, [path.join(ROOT, 'clients/node/server/main.js')], {
    env: { ...dep.env, SQLVAULT_WEB_USERS: usersFile, SQLVAULT_WEB_ADDR: '127.0.0.1:0', ...extra },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  children.add(p)
  const logf = fs.createWriteStream(path.join(dep.dir, 'web.log'), { flags: 'a' })
  p.stderr.pipe(logf)
  let out = ''
  const url = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`the web server did not print 'listening on' within 20 s: ${out}`)), 20000)
    p.stdout.on('data', d => {
      out += d
      logf.write(d)
      const m = /listening on (http:\/\/\S+)/.exec(out)
      if (m) { clearTimeout(t); resolve(m[1]) }
    })
    p.on('exit', code => { clearTimeout(t); reject(new Error(`the web server exited ${code}: ${out}`)) })
  })
  return { proc: p, url }
}

// request(url, { method, headers, body }) -> { status, headers, json, text } (body: string | Buffer | stream)
export function request (url, { method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers }, res => {
      const chunks = []
      res.on('data', c => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let json = null
        try { json = JSON.parse(text) } catch (_) {}
        resolve({ status: res.statusCode, headers: res.headers, json, text, buffer: Buffer.concat(chunks) })
      })
      res.on('error', reject)
    })
    req.on('error', reject)
    if (body && typeof body.pipe === 'function') body.pipe(req)
    else req.end(body)
  })
}

// A multipart/form-data body with one file field.
export function multipart (field, filename, content, boundary = 'svtest' + Date.now()) {
  const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="${filename}"\r\nContent-Type: application/octet-stream\r\n\r\n`)
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`)
  return { body: Buffer.concat([head, content, tail]), type: `multipart/form-data; boundary=${boundary}`, head, tail }
}

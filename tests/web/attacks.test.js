// attacks.test.js -- the web API and page attacked as an auditor would
// (docs/SECURITY.md, "Web API and page"): tokens (none, wrong, malformed, in
// a cookie, in the query string; constant-time comparison; never logged),
// CORS, CSRF, one user acting on another's workspace through every route,
// hostile ids, restore sources that are keys or paths, hostile multipart
// uploads (wrong field, two files, empty, not SQLite, a zstd bomb, over the
// size limit), a slow upload held open, markup in every text the page shows
// (headless Chromium), security headers on every response, the ops console's
// admin checks and retries. Real Redis, a real `sqlvault worker`, the real
// server on loopback, file:// store. After every refused request the live
// databases are byte-identical (sha256 of the file and its WAL).
// Started by tests/it/web_attacks.sh.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import http from 'node:http'
import crypto from 'node:crypto'
import { Readable } from 'node:stream'
import { execFileSync } from 'node:child_process'
import { env, deployment, startWorker, startWeb, stopAll, request as rawRequest, multipart, makeDb, sha3, sleep, waitUntil } from './lib.js'
import { SqlvaultClient } from '../../clients/node/index.js'

// tokens are fresh each run, so a token found in a log is this run's
const rnd = () => crypto.randomBytes(12).toString('hex')
const TOK = { alice: `ta-${rnd()}`, bob: `tb-${rnd()}`, root: `tr-${rnd()}`, mallory: `tm-${rnd()}` }
const XSS = n => `<img src=x onerror="window.__xss=${n}">`
const USERS = {
  [TOK.alice]: { user: 'alice', workspaces: ['ws-a'] },
  [TOK.bob]: { user: 'bob', workspaces: ['ws-b'] },
  [TOK.root]: { user: 'root', workspaces: [], admin: true },
  // a user name with markup: the page shows it ("Signed in as ...")
  [TOK.mallory]: { user: XSS(1), workspaces: ['ws-m'] }
}
const A = { authorization: `Bearer ${TOK.alice}` }
const B = { authorization: `Bearer ${TOK.bob}` }
const ROOT = { authorization: `Bearer ${TOK.root}` }
const ORIGIN = 'http://app.example.test'
const EVIL = 'http://evil.example.test'
const MAX = 4 * 1024 * 1024 // SQLVAULT_MAX_DB_SIZE of the worker and the server
let dep, web, short, sv, baseline

// Every response this file sees, for the headers check at the end.
const seen = []
async function request (url, opts = {}) {
  const r = await rawRequest(url, opts)
  seen.push({ what: `${opts.method || 'GET'} ${new URL(url).pathname.slice(0, 80)}`, status: r.status, headers: r.headers })
  return r
}

// A request written byte for byte on a socket (paths Node's client refuses
// to send: raw UTF-8, 10 KB); resolves { status, headers, json, text }.
function rawHttp (url, head, body = '') {
  const u = new URL(url)
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(u.port), u.hostname)
    const chunks = []
    s.on('connect', () => s.end(Buffer.concat([Buffer.from(head.replace(/\n/g, '\r\n') + '\r\n\r\n', 'utf8'), Buffer.from(body)])))
    s.on('data', c => chunks.push(c))
    s.on('error', reject)
    s.on('end', () => {
      const t = Buffer.concat(chunks).toString('utf8')
      const i = t.indexOf('\r\n\r\n')
      const headers = {}
      for (const l of t.slice(0, i).split('\r\n').slice(1)) { const k = l.indexOf(':'); headers[l.slice(0, k).toLowerCase()] = l.slice(k + 1).trim() }
      let text = t.slice(i + 4)
      if (/chunked/.test(headers['transfer-encoding'] || '')) text = text.replace(/^[0-9a-f]+\r\n/i, '').replace(/\r\n0\r\n\r\n$/, '')
      let json = null
      try { json = JSON.parse(text) } catch (_) {}
      const r = { status: Number(t.slice(9, 12)), headers, json, text }
      seen.push({ what: `raw ${head.split(' ')[0]} ${head.split(' ')[1].slice(0, 60)}`, status: r.status, headers })
      resolve(r)
    })
  })
}

// sha256 of each live database file and its WAL: byte-identical or not.
function sums () {
  const o = {}
  for (const ws of ['ws-a', 'ws-b', 'ws-m']) {
    for (const f of [dep.live(ws), `${dep.live(ws)}-wal`]) {
      if (fs.existsSync(f)) o[path.relative(dep.data, f)] = crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex')
    }
  }
  return o
}
const rebase = () => { baseline = sums() }

// A refusal: the status, a JSON body {success: false, error} in words, no
// 10 KB echo, and every live database byte-identical.
function refused (r, status, re) {
  if (Array.isArray(status)) assert.ok(status.includes(r.status), `one of ${status} expected: ${r.status} ${r.text.slice(0, 300)}`)
  else assert.equal(r.status, status, `${status} expected: ${r.status} ${r.text.slice(0, 300)}`)
  assert.match(r.headers['content-type'] || '', /^application\/json/)
  assert.equal(r.json && r.json.success, false, r.text.slice(0, 300))
  assert.equal(typeof r.json.error, 'string')
  assert.ok(r.json.error.length < 600, `an error of ${r.json.error.length} characters`)
  if (re) assert.match(r.json.error, re)
  assert.deepEqual(sums(), baseline, 'a refused request left every live database byte-identical')
}

const post = (p, headers, body) => request(`${web.url}${p}`, { method: 'POST', headers: { ...headers, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, body: body !== undefined ? JSON.stringify(body) : undefined })
const jobsEnqueued = async () => sv.redis.zcard(`${sv.base()}recent`)

async function waitJob (id, h) {
  return waitUntil(async () => {
    const r = await request(`${web.url}/api/jobs/${id}`, { headers: h })
    return ['succeeded', 'failed', 'cancelled'].includes(r.json && r.json.state) && r.json
  }, `job ${id}`, 60000, 100)
}

before(async () => {
  dep = deployment('attacks', { extra: { SQLVAULT_MAX_DB_SIZE: '4MiB' } })
  makeDb(dep.live('ws-a'), 300)
  makeDb(dep.live('ws-b'), 200)
  makeDb(dep.live('ws-m'), 50)
  rebase()
  startWorker(dep, 2)
  web = await startWeb(dep, USERS, { SQLVAULT_WEB_CORS_ORIGINS: ORIGIN })
  short = await startWeb(dep, USERS, { SQLVAULT_EXPORT_TTL: '2' })
  sv = new SqlvaultClient({ url: dep.env.SQLVAULT_REDIS_URL, prefix: dep.env.SQLVAULT_REDIS_PREFIX })
  console.log(`# tokens of this run: alice ${TOK.alice.slice(0, 6)}…, server ${web.url}, logs in ${dep.dir}`)
})

after(async () => {
  if (sv) await sv.close()
  await stopAll()
})

// ------------------------------------------------------------------ tokens

test('tokens: none, wrong, malformed, in a cookie or in the query string are refused, and none reaches the log', async () => {
  const me = h => request(`${web.url}/api/me`, { headers: h })
  refused(await me({}), 401, /Sign in first/)
  refused(await post('/workspaces/ws-a/export', {}), 401)
  for (const h of [`Bearer ${TOK.alice}x`, `Bearer ${TOK.alice.slice(0, -1)}`, `Bearer ${TOK.bob.slice(0, 3)}${TOK.alice.slice(3)}`,
    `Bearer ${'a'.repeat(10240)}`, `Bearer ${TOK.alice} ${TOK.alice}`, `Basic ${Buffer.from(`alice:${TOK.alice}`).toString('base64')}`,
    TOK.alice, 'Bearer', 'Bearer ', `Bearer\t${TOK.alice}\t`, `Bearer ${TOK.alice}%00`]) {
    refused(await me({ authorization: h }), 401)
  }
  // a token in a cookie is not a session: there are no cookie sessions
  refused(await me({ cookie: `token=${TOK.alice}; session=${TOK.alice}; sqlvault-token=${TOK.alice}` }), 401)
  // the token in the URL: refused even beside a valid header, whatever the parameter's name
  const before = await jobsEnqueued()
  for (const q of [`token=${TOK.alice}`, `access_token=${TOK.alice}`, `Authorization=Bearer%20${TOK.alice}`, `t=${TOK.alice}`, `workspace=${TOK.alice}`]) {
    refused(await me({}), 401)
    const r = await request(`${web.url}/api/me?${q}`, { headers: A })
    refused(r, 400, /Authorization header.*never in the URL/)
    assert.ok(!r.text.includes(TOK.alice), 'the answer does not echo the token')
    refused(await request(`${web.url}/api/me?${q}`), 400)
    refused(await post(`/workspaces/ws-a/export?${q}`, A), 400)
    refused(await request(`${web.url}/?${q}`), 400)
  }
  assert.equal(await jobsEnqueued(), before, 'no job was enqueued by a request with a token in its URL')
  // a mark request, then the log: every request is in it, no token is
  const mark = `/api/jobs/log-mark-${rnd()}`
  await request(`${web.url}${mark}?token=${TOK.bob}`, { headers: { authorization: `Bearer ${TOK.root}` } })
  const log = path.join(dep.dir, 'web.log')
  await waitUntil(() => fs.existsSync(log) && fs.readFileSync(log, 'utf8').includes(mark), 'the access log line of the mark request', 10000)
  const text = fs.readFileSync(log, 'utf8') + fs.readFileSync(path.join(dep.dir, 'worker.log'), 'utf8')
  assert.match(text, /GET \/api\/me 400/, 'the access log has the refused requests')
  for (const [who, t] of Object.entries(TOK)) assert.ok(!text.includes(t) && !text.includes(t.slice(3)), `${who}'s token is not in the logs`)
})

test('token comparison: crypto.timingSafeEqual on equal-length sha256 digests, against every token, no early exit', async () => {
  const { createWebServer } = await import('../../clients/node/server/index.js')
  const usersFile = path.join(dep.dir, 'users-inproc.json')
  fs.writeFileSync(usersFile, JSON.stringify(USERS))
  const web2 = await createWebServer({ env: { ...dep.env, SQLVAULT_WEB_USERS: usersFile } })
  const url = await web2.listen('127.0.0.1:0')
  const orig = crypto.timingSafeEqual
  const calls = []
  crypto.timingSafeEqual = (a, b) => { calls.push([a.length, b.length]); return orig(a, b) }
  try {
    const n = Object.keys(USERS).length
    // a short token, one of a token's length, the first token, the last token
    for (const [t, status] of [['x', 401], ['y'.repeat(TOK.alice.length), 401], [TOK.alice, 200], [TOK.mallory, 200]]) {
      calls.length = 0
      const r = await rawRequest(`${url}/api/me`, { headers: { authorization: `Bearer ${t}` } })
      assert.equal(r.status, status, r.text)
      assert.equal(calls.length, n, `a ${t.length}-character token is compared with each of the ${n} tokens (no early exit)`)
      assert.ok(calls.every(([x, y]) => x === 32 && y === 32), `every comparison is of two 32-byte digests: ${JSON.stringify(calls)}`)
    }
    // download signatures too
    calls.length = 0
    const r = await rawRequest(`${url}/download?key=exports%2Fws-a%2Fj%2Fws-a.db&exp=${Math.floor(Date.now() / 1000) + 60}&sig=ab`)
    assert.equal(r.status, 403)
    assert.ok(calls.length >= 1 && calls.every(([x, y]) => x === 32 && y === 32), `the signature check compares digests: ${JSON.stringify(calls)}`)
  } finally {
    crypto.timingSafeEqual = orig
    await web2.close()
  }
  // code review, kept honest: no token or signature is compared with === / !==
  const src = fs.readFileSync(new URL('../../clients/node/server/index.js', import.meta.url), 'utf8')
  assert.doesNotMatch(src, /(token|sig)\s*[!=]==|[!=]==\s*(token|sig)\b/, 'a token or signature compared with ===')
})

// --------------------------------------------------------------- CORS, CSRF

test('CORS: an unlisted origin gets no Access-Control-Allow-Origin, on a preflight or a real request', async () => {
  const pre = origin => request(`${web.url}/workspaces/ws-a/export`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' } })
  for (const origin of [EVIL, 'null', `${ORIGIN}.evil.test`, `http://evil.test/${ORIGIN}`, 'https://app.example.test', `${ORIGIN}:8443`, `${ORIGIN}/`]) {
    const p = await pre(origin)
    refused(p, 403, /may not call this server/)
    assert.equal(p.headers['access-control-allow-origin'], undefined, `no ACAO for ${origin}`)
    const r = await request(`${web.url}/api/me`, { headers: { ...A, origin } })
    refused(r, 403)
    assert.equal(r.headers['access-control-allow-origin'], undefined)
    assert.ok(!r.text.includes('alice'), 'nothing of the user in the answer')
  }
  const ok = await pre(ORIGIN)
  assert.equal(ok.status, 204)
  assert.equal(ok.headers['access-control-allow-origin'], ORIGIN)
  assert.match(ok.headers.vary || '', /Origin/)
  assert.equal(ok.headers['access-control-allow-credentials'], undefined, 'no credentials mode: the token travels in a header')
})

// Every route that changes state, as a cross-site form would send it.
const STATE_CHANGING = () => [
  ['POST', '/workspaces/ws-a/export'],
  ['POST', '/workspaces/ws-a/import'],
  ['POST', '/api/workspaces/ws-a/backup'],
  ['POST', '/api/workspaces/ws-a/export'],
  ['POST', '/api/workspaces/ws-a/import-url'],
  ['POST', '/api/workspaces/ws-a/restore'],
  ['PUT', `/api/uploads/${'0'.repeat(32)}`],
  ['POST', `/api/admin/jobs/job-${rnd()}/retry`],
  ['POST', `/api/admin/jobs/job-${rnd()}/cancel`],
  ['DELETE', '/api/workspaces/ws-a/backups']
]

test('CSRF: no cookies at all; a cross-site form POST/PUT/DELETE on every state-changing route is refused', async () => {
  const before = await jobsEnqueued()
  for (const [method, p] of STATE_CHANGING()) {
    for (const ct of ['application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'text/plain']) {
      const body = ct.startsWith('multipart') ? '--x\r\nContent-Disposition: form-data; name="backup"; filename="a.db"\r\n\r\nSQLite format 3\0\r\n--x--\r\n' : 'source=latest'
      // the browser adds the cookies it has for the server, and its Origin
      const cookie = `token=${TOK.root}; session=${TOK.root}`
      // with its length, as a browser sends it (Node's client sends a DELETE's body without one)
      const len = { 'content-length': Buffer.byteLength(body) }
      const cross = await request(`${web.url}${p}`, { method, headers: { origin: EVIL, cookie, 'content-type': ct, ...len }, body })
      refused(cross, method === 'DELETE' ? [403, 405] : 403)
      const noOrigin = await request(`${web.url}${p}`, { method, headers: { cookie, 'content-type': ct, ...len }, body })
      refused(noOrigin, method === 'DELETE' ? 405 : 401)
    }
  }
  assert.equal(await jobsEnqueued(), before, 'no job was enqueued')
  const cookies = seen.filter(s => s.headers['set-cookie'])
  assert.deepEqual(cookies.map(s => s.what), [], 'no response sets a cookie')
})

// ------------------------------------------------------ another user's data

test("another user's workspace, jobs, events, upload ids and download links, through every route", async () => {
  // bob makes a job, an upload id and an export link of his own
  const bj = await post('/api/workspaces/ws-b/backup', B)
  assert.equal(bj.status, 202, bj.text)
  assert.equal((await waitJob(bj.json.jobId, B)).state, 'succeeded')
  rebase() // a backup reads the live database; it must not change it, but begin from here
  const bu = await post('/api/workspaces/ws-b/import-url', B)
  assert.equal(bu.status, 202, bu.text)
  const be = await post('/workspaces/ws-b/export', B)
  assert.equal(be.status, 200, be.text)
  const before = await jobsEnqueued()

  // every workspace route, as alice on ws-b
  const mp = multipart('backup', 'x.db', fs.readFileSync(dep.live('ws-a')))
  refused(await post('/workspaces/ws-b/export', A), 403, /alice.*ws-b/)
  refused(await request(`${web.url}/workspaces/ws-b/import`, { method: 'POST', headers: { ...A, 'content-type': mp.type }, body: mp.body }), 403)
  for (const kind of ['backup', 'export', 'import-url', 'restore']) refused(await post(`/api/workspaces/ws-b/${kind}`, A, { source: 'latest' }), 403)
  for (const at of ['live', 'latest']) refused(await post('/api/workspaces/ws-b/inspect', A, { at }), 403, /alice.*ws-b/)
  refused(await request(`${web.url}/api/workspaces/ws-b/backups`, { headers: A }), 403)
  // bob's job and its events
  refused(await request(`${web.url}/api/jobs/${bj.json.jobId}`, { headers: A }), 404, /No job/)
  refused(await request(`${web.url}/api/jobs/${bj.json.jobId}/events`, { headers: A }), 404)
  refused(await request(`${web.url}/api/jobs/${be.json.jobId}`, { headers: A }), 404)
  // the ops console's actions on bob's job
  refused(await post(`/api/admin/jobs/${bj.json.jobId}/retry`, A, {}), 403, /not an administrator/)
  refused(await post(`/api/admin/jobs/${bj.json.jobId}/cancel`, A, {}), 403)
  // bob's upload id: as a PUT target and as a restore source (into ws-a and into ws-b)
  refused(await request(`${web.url}/api/uploads/${bu.json.uploadId}`, { method: 'PUT', headers: A, body: fs.readFileSync(dep.live('ws-a')) }), 404)
  refused(await post('/api/workspaces/ws-a/restore', A, { source: bu.json.uploadId }), 403, /not one you made/)
  refused(await post('/api/workspaces/ws-a/restore', A, { source: `upload:${bu.json.uploadId}` }), 403)
  refused(await post('/api/workspaces/ws-b/restore', A, { source: bu.json.uploadId }), 403)
  refused(await post('/api/workspaces/ws-a/inspect', A, { at: bu.json.uploadId }), 403, /not one you made/)
  refused(await post('/api/workspaces/ws-b/inspect', A, { at: bu.json.uploadId }), 403)
  // alice's own upload id cannot go into bob's workspace, even by bob
  const au = await post('/api/workspaces/ws-a/import-url', A)
  refused(await post('/api/workspaces/ws-b/restore', B, { source: au.json.uploadId }), 403)
  assert.equal(await jobsEnqueued(), before + 1, 'only alice\'s own import-url job was enqueued')

  // bob's download link, tampered: signature, key, expiry; and expired
  const u = new URL(be.json.downloadUrl)
  const q = u.searchParams
  const link = (key, exp, sig) => `${web.url}/download?key=${encodeURIComponent(key)}&exp=${exp}&sig=${sig}`
  const key = q.get('key'); const exp = q.get('exp'); const sig = q.get('sig')
  assert.equal((await request(be.json.downloadUrl)).status, 200, 'the real link works')
  const flip = sig.slice(0, -1) + (sig.endsWith('0') ? '1' : '0')
  refused(await request(link(key, exp, flip)), 403, /not valid/)
  refused(await request(link(key, exp, sig.slice(0, 32))), 403)
  refused(await request(link(key, exp, '')), 403)
  refused(await request(link(key, exp, sig.toUpperCase() === sig ? sig.toLowerCase() : sig.toUpperCase())), 403)
  refused(await request(link(key.replace('ws-b', 'ws-a'), exp, sig)), 403)
  refused(await request(link(key, Number(exp) + 3600, sig)), 403)
  refused(await request(link(key, `${exp}.0`, sig)), 403)
  refused(await request(link(key.replace(/[^/]+$/, '../../../uploads/ws-b/x.db'), exp, sig)), 400, /malformed/)
  refused(await request(link('exports/ws-b/../../../../etc/passwd', exp, sig)), 400)
  const sr = await request(`${short.url}/workspaces/ws-b/export`, { method: 'POST', headers: B })
  assert.equal(sr.status, 200, sr.text)
  assert.equal(sr.json.expiresIn, 2)
  await waitUntil(async () => (await request(sr.json.downloadUrl)).status !== 200, 'the 2 s link to expire', 15000, 200)
  refused(await request(sr.json.downloadUrl), 403, /expired/)
})

// ------------------------------------------------------------- hostile ids

test('hostile ids: ../, %2e%2e, NUL, 10 KB, unicode, broken percent-encoding on every route with an id', async () => {
  const ids = ['..', '..%2fws-a', '%2e%2e', '%2e%2e%2fws-a', 'ws-a%2f..%2fws-b', 'ws-a%00', '%00', 'ws-a%0d%0aX-Injected:%201',
    'a'.repeat(10240), 'ws-%C3%A9', '%EF%BD%97s-a', '%E2%80%AEws-a', '%F0%9F%92%A5', '%zz', '%E0%A4%A', '%ff', 'ws-a%20', '-ws', '.ws']
  const routes = [
    ['POST', id => `/workspaces/${id}/export`],
    ['POST', id => `/workspaces/${id}/import`],
    ['POST', id => `/api/workspaces/${id}/backup`],
    ['POST', id => `/api/workspaces/${id}/restore`],
    ['POST', id => `/api/workspaces/${id}/inspect`],
    ['GET', id => `/api/workspaces/${id}/backups`],
    ['GET', id => `/api/jobs/${id}`],
    ['GET', id => `/api/jobs/${id}/events`],
    ['PUT', id => `/api/uploads/${id}`],
    ['POST', id => `/api/admin/jobs/${id}/retry`],
    ['POST', id => `/api/admin/jobs/${id}/cancel`]
  ]
  const before = await jobsEnqueued()
  for (const [method, p] of routes) {
    for (const id of ids) {
      // as the admin, who may touch every workspace: only the id is wrong
      const r = await request(`${web.url}${p(id)}`, { method, headers: { ...ROOT, 'content-type': 'application/json' }, body: method === 'GET' ? undefined : '{}' })
      refused(r, [400, 404], null)
      assert.ok(!r.headers['x-injected'], 'no header injection')
    }
  }
  // raw bytes Node's client will not send: UTF-8 and a bare ../ in the path
  for (const p of ['/api/jobs/wś-ä', '/api/workspaces/ws-ä/backups', '/workspaces/../../etc/export', '/api/jobs/..%2f..%2f..%2fetc%2fpasswd']) {
    const r = await rawHttp(web.url, `GET ${p} HTTP/1.1\nHost: x\nAuthorization: Bearer ${TOK.root}\nConnection: close`)
    refused(r, [400, 404])
  }
  assert.equal(await jobsEnqueued(), before, 'no job was enqueued for a hostile id')
})

test('restore sources that are store keys, paths or URLs are refused; only latest, a listed time or an own upload id', async () => {
  const bl = (await request(`${web.url}/api/workspaces/ws-b/backups`, { headers: B })).json.backups
  assert.ok(bl.length >= 1, 'bob has a backup')
  const before = await jobsEnqueued()
  for (const source of ['/etc/passwd', `${dep.live('ws-b')}`, '../ws-b/livestore.db', '..', 'file:/etc/passwd', `file://${dep.live('ws-b')}`,
    `object:full/ws-b/${bl[0].ts}/livestore.db.zst`, `full/ws-b/${bl[0].ts}/livestore.db.zst`, `s3://${env.SV_S3_BUCKET || 'bucket'}/x/full/ws-b/`,
    'http://127.0.0.1:1/x.db', `object:uploads/ws-b/${'a'.repeat(32)}.db`, `upload:../${'a'.repeat(32)}`, `${'a'.repeat(32)}/../x`,
    'latest\0', 'LATEST', ' latest', `${bl[0].ts}/../x`, '%2e%2e/ws-b', 'x'.repeat(10240)]) {
    refused(await post('/api/workspaces/ws-a/restore', A, { source }), 400, /restore source/)
  }
  for (const source of [42, true, ['latest'], { key: 'full/ws-b' }]) refused(await post('/api/workspaces/ws-a/restore', A, { source }), 400, /must be a string/)
  // bob's listed time is not alice's (unless alice has a backup at that very instant)
  refused(await post('/api/workspaces/ws-a/restore', A, { source: bl[0].ts }), 404, /no backup at/)
  assert.equal(await jobsEnqueued(), before, 'no restore was enqueued')
})

// ---------------------------------------------------------------- uploads

test('multipart: wrong field, two files, empty, not SQLite, a zstd bomb, over SQLVAULT_MAX_DB_SIZE; a filename is not a path', async () => {
  const store = dep.env.SQLVAULT_STORE.slice('file://'.length)
  const imp = (body, type, extra = {}) => request(`${web.url}/workspaces/ws-a/import`, { method: 'POST', headers: { ...A, 'content-type': type, ...extra }, body })
  const good = fs.readFileSync(dep.live('ws-b'))
  const part = (name, filename, content, b = 'svb') => Buffer.concat([Buffer.from(`--${b}\r\nContent-Disposition: form-data; name="${name}"; filename="${filename}"\r\nContent-Type: application/octet-stream\r\n\r\n`), content, Buffer.from('\r\n')])
  const form = (parts, b = 'svb') => Buffer.concat([...parts, Buffer.from(`--${b}--\r\n`)])
  const T = 'multipart/form-data; boundary=svb'
  refused(await imp(form([part('file', 'x.db', good)]), T), 400, /field "backup"/)
  refused(await imp(form([part('backup', 'a.db', good), part('backup', 'b.db', good)]), T), 400, /one file/)
  refused(await imp(form([part('other', 'a.db', good), part('backup', 'b.db', good)]), T), 400, /one file/)
  refused(await imp(form([part('backup', 'empty.db', Buffer.alloc(0))]), T), 400, /empty/)
  refused(await imp(form([part('backup', 'notes.db', Buffer.from('plain text, not a database\n'.repeat(50)))]), T), 400, /not a SQLite database.*not changed/)
  refused(await imp(form([part('backup', 'fake.db', Buffer.concat([Buffer.from('SQLite format 3\0'), Buffer.alloc(8192, 7)]))]), T), 400, /not changed/)
  refused(await imp(form([part('backup', 'x.db', good)]), 'multipart/form-data'), 400, /multipart/)
  refused(await imp(good, 'application/octet-stream'), 400, /multipart/)
  // over the limit: declared, and streamed without a length
  const big = Buffer.concat([Buffer.from('SQLite format 3\0'), Buffer.alloc(MAX + 1024, 1)])
  refused(await imp(form([part('backup', 'big.db', big)]), T), 413, /4\.0 MiB limit/)
  refused(await imp(Readable.from([form([part('backup', 'big.db', big)])]), T, { 'transfer-encoding': 'chunked' }), 413, /limit.*Nothing was changed/)
  // a zstd bomb: some KiB compressed, 256 MiB of a "database" once decompressed
  const bombSrc = path.join(dep.dir, 'bomb.db')
  const fd = fs.openSync(bombSrc, 'w')
  fs.writeSync(fd, Buffer.from('SQLite format 3\0'))
  fs.ftruncateSync(fd, 256 * 1024 * 1024)
  fs.closeSync(fd)
  execFileSync('zstd', ['-q', '-f', bombSrc, '-o', `${bombSrc}.zst`])
  fs.rmSync(bombSrc)
  const bomb = fs.readFileSync(`${bombSrc}.zst`)
  const t0 = Date.now()
  refused(await imp(form([part('backup', 'bomb.db.zst', bomb)]), T), 413, /limit/)
  console.log(`# zstd bomb: ${bomb.length} B compressed, 256 MiB decompressed, refused in ${Date.now() - t0} ms`)
  const leftovers = execFileSync('find', [dep.data, store, '-type', 'f', '(', '-name', '*tmp*', '-o', '-name', '*.part-*', ')'], { encoding: 'utf8' }).trim()
  assert.equal(leftovers, '', 'no temporary or partial file left')
  // a filename with a path and markup: the store key is the server's own
  const before = new Set(fs.readdirSync(path.join(store, 'uploads', 'ws-a')))
  const r = await imp(form([part('backup', '../../../../tmp/evil<img src=x>.db', good)]), T)
  assert.equal(r.status, 200, r.text)
  const added = fs.readdirSync(path.join(store, 'uploads', 'ws-a')).filter(f => !before.has(f))
  assert.equal(added.length, 1)
  assert.match(added[0], /^[0-9a-f]{32}\.db$/, 'the upload is stored under a name the server chose')
  assert.ok(!fs.existsSync('/tmp/evil<img src=x>.db'))
  assert.equal(sha3(dep.live('ws-a')), sha3(dep.live('ws-b')), 'the (valid) upload was restored')
  rebase()
})

test('a slow upload held open (a byte a second) does not stop others being served', { timeout: 90000 }, async () => {
  const uploads = path.join(dep.env.SQLVAULT_STORE.slice('file://'.length), 'uploads', 'ws-a')
  const parts = () => fs.existsSync(uploads) ? fs.readdirSync(uploads).filter(f => f.includes('.part-')).length : 0
  const wsA = baseline['ws-a/livestore.db']
  const u = new URL(web.url)
  const slow = []
  for (let i = 0; i < 4; i++) {
    const s = net.connect(Number(u.port), u.hostname)
    s.on('error', () => {})
    const head = `--slow\r\nContent-Disposition: form-data; name="backup"; filename="slow.db"\r\n\r\nSQLite format 3\0`
    s.write(`POST /workspaces/ws-a/import HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOK.alice}\r\nContent-Type: multipart/form-data; boundary=slow\r\nContent-Length: 1000000\r\n\r\n${head}`)
    slow.push(s)
  }
  const drip = setInterval(() => { for (const s of slow) s.write('\x01') }, 1000)
  try {
    await waitUntil(() => parts() >= 4, '4 slow uploads streaming into the store', 30000)
    const t0 = Date.now()
    const me = await request(`${web.url}/api/me`, { headers: B })
    const tMe = Date.now() - t0
    assert.equal(me.status, 200)
    const t1 = Date.now()
    const ex = await post('/workspaces/ws-b/export', B)
    assert.equal(ex.status, 200, ex.text)
    assert.equal((await request(ex.json.downloadUrl)).status, 200)
    const tEx = Date.now() - t1
    const t2 = Date.now()
    const mp = multipart('backup', 'b.db', fs.readFileSync(dep.live('ws-b')))
    const im = await request(`${web.url}/workspaces/ws-b/import`, { method: 'POST', headers: { ...B, 'content-type': mp.type }, body: mp.body })
    assert.equal(im.status, 200, im.text)
    const tIm = Date.now() - t2
    console.log(`# with 4 uploads dripping a byte a second: /api/me ${tMe} ms, export+download ${tEx} ms, import ${tIm} ms`)
    assert.ok(tMe < 2000, `/api/me took ${tMe} ms`)
    assert.equal(parts(), 4, 'the slow uploads are still open')
  } finally {
    clearInterval(drip)
    for (const s of slow) s.destroy()
  }
  await waitUntil(() => parts() === 0, 'the dropped uploads\' partial files to be removed', 15000)
  assert.equal(sums()['ws-a/livestore.db'], wsA, 'ws-a, the slow uploads\' target, is byte-identical')
  rebase() // ws-b was restored from its own copy above; ws-a must be what it was
})

// ----------------------------------------------------------------- admin

test('the ops console: a non-admin gets 403 on /api/admin/*, /admin is a page with no data', async () => {
  refused(await request(`${web.url}/api/admin/overview`, { headers: A }), 403, /not an administrator/)
  refused(await request(`${web.url}/api/admin/overview?pools=default`, { headers: A }), 403)
  refused(await request(`${web.url}/api/admin/overview`), 401)
  refused(await post(`/api/admin/jobs/x-${rnd()}/retry`, A, { pool: 'default' }), 403)
  refused(await post(`/api/admin/jobs/x-${rnd()}/cancel`, A, {}), 403)
  const page = await request(`${web.url}/admin`, { headers: A })
  assert.equal(page.status, 200)
  assert.match(page.headers['content-type'], /text\/html/)
  assert.ok(!/ws-a|ws-b|alice|bob/.test(page.text), 'the page itself carries no data')
  assert.equal((await request(`${web.url}/api/admin/overview`, { headers: ROOT })).status, 200)
})

test("an admin's retry runs the failed job as it was: its own pool, type, workspace, options and priority; other body fields refused", async () => {
  // a job in another pool, with options, scheduled priority and 2 attempts, cancelled while queued
  const pool = 'atk-other'
  const opts = { reason: 'scheduled', user_id: 'sched', ttl: 60 }
  const { id } = await sv.enqueueJob('backup', 'ws-b', { pool, priority: 'scheduled', maxAttempts: 2, ...opts })
  await sv.cancel(id, { pool })
  assert.equal((await sv.getJob(id, { pool })).state, 'cancelled')
  const before = await jobsEnqueued()
  // the job is not in the default pool, nor in a third one
  refused(await post(`/api/admin/jobs/${id}/retry`, ROOT, {}), 404, /No job/)
  refused(await post(`/api/admin/jobs/${id}/retry`, ROOT, { pool: 'atk-third' }), 404)
  refused(await post(`/api/admin/jobs/${id}/retry`, ROOT, { pool: '../default' }), 400)
  // options the job did not have are refused, not merged or ignored
  for (const extra of [{ from: '/etc/passwd' }, { type: 'restore' }, { workspace: 'ws-a' }, { priority: 'interactive' }, { opts: { from: 'latest' } }, { id: 'mine' }]) {
    refused(await post(`/api/admin/jobs/${id}/retry`, ROOT, { pool, ...extra }), 400, /only "pool"/)
  }
  assert.equal(await jobsEnqueued(), before)
  assert.equal(await sv.redis.zcard(`${sv.base(pool)}recent`), 1, 'nothing new in the other pool')
  const r = await post(`/api/admin/jobs/${id}/retry`, ROOT, { pool })
  assert.equal(r.status, 200, r.text)
  const j = await sv.getJob(r.json.jobId, { pool })
  assert.ok(j, 'the retry is in the failed job\'s pool')
  assert.equal(await sv.getJob(r.json.jobId), null, 'and not in the default pool')
  assert.equal(j.type, 'backup')
  assert.equal(j.workspace, 'ws-b')
  assert.equal(j.priority, 'scheduled', 'the original priority')
  assert.equal(j.max_attempts, 2, 'the original attempts')
  assert.deepEqual(j.opts, { ...opts, reason: 'retry', retry_of: id, retried_by: 'root' }, 'the original options, marked as a retry')
  await sv.cancel(r.json.jobId, { pool })
  assert.deepEqual(sums(), baseline)
})

// ------------------------------------------------------------------ page

test('the page renders a hostile workspace id, user name, error message, backup reason and file name as text (Chromium)', { timeout: 120000 }, async () => {
  const { chromium } = await import('playwright-core')
  // a backup of ws-m with markup as its reason, made by the real worker
  await sv.run('backup', 'ws-m', { reason: XSS(2), user_id: 'cli' }, { timeoutMs: 60000 })
  // a failed job whose error quotes markup, for the ops console
  const failed = await sv.enqueue('restore', 'ws-m', { from: `object:uploads/ws-m/${XSS(5)}.db`, maxAttempts: 1 })
  await waitUntil(async () => ['failed', 'cancelled'].includes((await sv.getJob(failed) || {}).state), 'the hostile restore to fail', 60000, 100)
  const failedJob = await sv.getJob(failed)
  console.log(`# hostile restore failed: ${failedJob.error}`)
  rebase()
  const browser = await chromium.launch({ executablePath: env.SV_CHROMIUM || '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] })
  try {
    const ctx = await browser.newContext()
    const page = await ctx.newPage()
    const dialogs = []
    page.on('dialog', d => { dialogs.push(d.message()); d.dismiss() })
    const noMarkup = async () => {
      assert.equal(await page.evaluate(() => document.querySelectorAll('img').length), 0, 'no <img> element made from text')
      assert.equal(await page.evaluate(() => window.__xss), undefined, 'no handler ran')
      assert.deepEqual(dialogs, [])
    }
    await page.goto(`${web.url}/?workspace=${encodeURIComponent(XSS(3))}`)
    await page.getByLabel('Access token').fill(TOK.mallory)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByText(`Signed in as ${XSS(1)}`).waitFor({ timeout: 30000 })
    // the hostile workspace id from the link, and the server's error quoting it
    await page.getByText(`'${XSS(3)}' is not a valid workspace id`).first().waitFor({ timeout: 30000 })
    assert.equal(await page.locator('#workspace option').first().textContent(), XSS(3))
    await page.getByRole('button', { name: 'Download Backup' }).click()
    await page.getByText(`Download Backup failed: '${XSS(3)}' is not a valid workspace id`).waitFor({ timeout: 30000 })
    await noMarkup()
    // the backup list: the reason is shown, as text
    await page.getByLabel('Workspace', { exact: true }).selectOption('ws-m')
    await page.locator('#list tbody tr', { hasText: XSS(2) }).first().waitFor({ timeout: 30000 })
    // a file whose name is markup, in the preview before its restore (the
    // file is a bare header, so the preview says it cannot be read)
    await page.getByLabel('Backup file (.db or .db.zst)').setInputFiles({ name: `${XSS(4)}.db`, mimeType: 'application/octet-stream', buffer: Buffer.from('SQLite format 3\0') })
    await page.getByRole('button', { name: 'Restore from Backup' }).click()
    const preview = page.getByRole('region', { name: /^Preview/ })
    await preview.getByText(`After restore (${XSS(4)}.db)`).waitFor({ timeout: 30000 })
    await preview.getByText(`Nothing to restore from ${XSS(4)}.db`).waitFor({ timeout: 30000 })
    await noMarkup()
    await preview.getByRole('button', { name: 'Cancel' }).click()
    // the ops console: the failed job's error and the reason-bearing rows
    const ap = await ctx.newPage()
    await ap.goto(`${web.url}/admin`)
    await ap.getByLabel('Access token').fill(TOK.root)
    await ap.getByRole('button', { name: 'Sign in' }).click()
    await ap.locator(`tr[data-job="${failed}"]`).first().waitFor({ timeout: 30000 })
    const rowText = await ap.locator(`tr[data-job="${failed}"]`).first().textContent()
    assert.ok(rowText.includes('<img'), `the error is shown as text: ${rowText}`)
    assert.equal(await ap.evaluate(() => document.querySelectorAll('img').length), 0)
    assert.equal(await ap.evaluate(() => window.__xss), undefined)
    // code review, kept honest: the pages' scripts never parse text as HTML
    for (const f of fs.readdirSync(new URL('../../clients/node/server/public', import.meta.url)).filter(f => f.endsWith('.js'))) {
      const js = fs.readFileSync(new URL(`../../clients/node/server/public/${f}`, import.meta.url), 'utf8')
      assert.doesNotMatch(js, /innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function/, `${f} parses text as HTML or code`)
    }
  } finally {
    await browser.close()
  }
  assert.deepEqual(sums(), baseline)
})

// ----------------------------------------------------------------- headers

test('security headers on every response this file saw (every route, refusals included)', async () => {
  // the static files and a few more kinds of answer
  for (const p of ['/', '/index.html', '/app.js', '/style.css', '/admin', '/admin.js', '/nope', '/api/nope']) await request(`${web.url}${p}`)
  await request(`${web.url}/workspaces/ws-a/export`, { method: 'OPTIONS', headers: { origin: ORIGIN, 'access-control-request-method': 'POST' } })
  await request(`${web.url}/api/me`, { method: 'HEAD', headers: A })
  const ev = await post('/api/workspaces/ws-a/backup', A)
  await request(`${web.url}/api/jobs/${ev.json.jobId}/events`, { headers: A })
  const routes = new Set()
  for (const s of seen) {
    const h = s.headers
    const csp = h['content-security-policy'] || ''
    assert.equal(h['x-content-type-options'], 'nosniff', `${s.what} (${s.status}): nosniff`)
    assert.ok(/frame-ancestors 'none'/.test(csp) || /^(DENY|SAMEORIGIN)$/i.test(h['x-frame-options'] || ''), `${s.what} (${s.status}): framing refused`)
    assert.ok(csp, `${s.what} (${s.status}): a Content-Security-Policy`)
    assert.ok(h['referrer-policy'], `${s.what} (${s.status}): a Referrer-Policy`)
    const script = (/(?:^|;)\s*script-src ([^;]*)/.exec(csp) || /(?:^|;)\s*default-src ([^;]*)/.exec(csp) || [, ''])[1]
    assert.doesNotMatch(script, /unsafe-inline|unsafe-eval|\*/, `${s.what}: scripts limited`)
    if (/text\/html/.test(h['content-type'] || '')) assert.match(script, /'self'/)
    routes.add(s.what.replace(/[0-9a-f]{32}/g, ':id').replace(/\/(ws|job|log-mark|x)-[^/ ]*/g, '/:x'))
  }
  console.log(`# ${seen.length} responses checked, ${routes.size} distinct method+path shapes`)
})

// api.test.js -- the reference web server's routes against a real Redis and C
// worker on a file:// store (the embedded default): the plan's export/import,
// the job API, access checks (401/403/400/404/413 with JSON bodies), restore
// sources, CORS, signed download links, and a flat RSS while a 1 GiB import
// streams through. Started by tests/it/web_api.sh.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { Readable } from 'node:stream'
import { execFileSync } from 'node:child_process'
import { deployment, startWorker, startWeb, stopAll, request, multipart, makeDb, sha3, sql, rssKiB, sleep, waitUntil } from './lib.js'

const USERS = {
  'tok-alice': { user: 'alice', workspaces: ['ws-a'] },
  'tok-bob': { user: 'bob', workspaces: ['ws-b'] },
  'tok-admin': { user: 'root', workspaces: [], admin: true }
}
const A = { authorization: 'Bearer tok-alice' }
const B = { authorization: 'Bearer tok-bob' }
const ORIGIN = 'http://app.example.test'
let dep, web, small

const isFail = (r, status, re) => {
  assert.equal(r.status, status, `${status} expected: ${r.status} ${r.text}`)
  assert.equal(r.headers['content-type'], 'application/json; charset=utf-8')
  assert.equal(r.json.success, false)
  assert.equal(typeof r.json.error, 'string')
  if (re) assert.match(r.json.error, re)
}

before(async () => {
  dep = deployment('api')
  makeDb(dep.live('ws-a'), 2000)
  makeDb(dep.live('ws-b'), 500)
  startWorker(dep)
  web = await startWeb(dep, USERS, { SQLVAULT_WEB_CORS_ORIGINS: ORIGIN, SQLVAULT_MAX_DB_SIZE: '2GiB' })
  small = await startWeb(dep, USERS, { SQLVAULT_MAX_DB_SIZE: '1MiB', SQLVAULT_EXPORT_TTL: '2' })
})

after(stopAll)

test('401 without a valid token, with a JSON body', async () => {
  isFail(await request(`${web.url}/workspaces/ws-a/export`, { method: 'POST' }), 401, /Sign in first/)
  isFail(await request(`${web.url}/workspaces/ws-a/export`, { method: 'POST', headers: { authorization: 'Bearer nope' } }), 401, /not valid/)
  isFail(await request(`${web.url}/api/workspaces/ws-a/backups`), 401)
  isFail(await request(`${web.url}/api/me`, { headers: { authorization: 'Basic x' } }), 401)
})

test('403: user A cannot export, list, import into or restore user B\'s workspace', async () => {
  const live = dep.live('ws-b')
  const before = sha3(live)
  isFail(await request(`${web.url}/workspaces/ws-b/export`, { method: 'POST', headers: A }), 403, /alice.*ws-b/)
  isFail(await request(`${web.url}/api/workspaces/ws-b/backups`, { headers: A }), 403)
  const mp = multipart('backup', 'x.db', fs.readFileSync(dep.live('ws-a')))
  isFail(await request(`${web.url}/workspaces/ws-b/import`, { method: 'POST', headers: { ...A, 'content-type': mp.type }, body: mp.body }), 403)
  for (const kind of ['backup', 'export', 'import-url', 'restore']) {
    isFail(await request(`${web.url}/api/workspaces/ws-b/${kind}`, { method: 'POST', headers: A }), 403)
  }
  assert.equal(sha3(live), before, 'ws-b untouched')
  // a job of B's workspace is invisible to A
  const r = await request(`${web.url}/api/workspaces/ws-b/backup`, { method: 'POST', headers: B })
  assert.equal(r.status, 202)
  isFail(await request(`${web.url}/api/jobs/${r.json.jobId}`, { headers: A }), 404)
  isFail(await request(`${web.url}/api/jobs/${r.json.jobId}/events`, { headers: A }), 404)
  const ok = await request(`${web.url}/api/jobs/${r.json.jobId}`, { headers: B })
  assert.equal(ok.status, 200)
  // the admin may touch every workspace
  assert.equal((await request(`${web.url}/api/workspaces/ws-b/backups`, { headers: { authorization: 'Bearer tok-admin' } })).status, 200)
})

test('plan routes: export, download, import; the workspace equals the download', async () => {
  const live = dep.live('ws-a')
  const r = await request(`${web.url}/workspaces/ws-a/export`, { method: 'POST', headers: A })
  assert.equal(r.status, 200, r.text)
  assert.equal(r.json.success, true)
  assert.equal(r.json.expiresIn, 3600)
  assert.match(r.json.downloadUrl, /^http:\/\/127\.0\.0\.1:\d+\/download\?key=exports%2Fws-a%2F/)
  const d = await request(r.json.downloadUrl)
  assert.equal(d.status, 200)
  assert.match(d.headers['content-disposition'], /^attachment; filename="ws-a-\d{8}T\d{6}\.\d{3}Z\.db"$/)
  const file = path.join(dep.dir, 'download.db')
  fs.writeFileSync(file, d.buffer)
  assert.equal(sha3(file), sha3(live), 'the download is the workspace')
  // tampered link
  const bad = r.json.downloadUrl.replace(/sig=./, m => m.endsWith('0') ? 'sig=1' : 'sig=0')
  isFail(await request(bad), 403, /not valid/)
  isFail(await request(r.json.downloadUrl.replace('exports%2Fws-a', 'exports%2Fws-b')), 403)

  sql(live, "INSERT INTO todos VALUES ('later', 'written after the export', 0)")
  assert.notEqual(sha3(live), sha3(file))
  const mp = multipart('backup', 'download.db', fs.readFileSync(file))
  const i = await request(`${web.url}/workspaces/ws-a/import`, { method: 'POST', headers: { ...A, 'content-type': mp.type }, body: mp.body })
  assert.equal(i.status, 200, i.text)
  assert.equal(i.json.success, true)
  assert.match(i.json.message, /restored/)
  assert.equal(sha3(live), sha3(file), 'the workspace equals the download')
  assert.ok(!i.text.includes(dep.data), 'no server path in the answer')
})

test('400: bad ids, not a database (live untouched), bad multipart, bad restore sources', async () => {
  const live = dep.live('ws-a')
  const before = sha3(live)
  isFail(await request(`${web.url}/workspaces/bad..id/export`, { method: 'POST', headers: { authorization: 'Bearer tok-admin' } }), 400, /not a valid workspace id/)
  isFail(await request(`${web.url}/workspaces/${encodeURIComponent('../ws-a')}/export`, { method: 'POST', headers: { authorization: 'Bearer tok-admin' } }), 400)
  const txt = multipart('backup', 'notes.db', Buffer.from('just some text, not a database\n'.repeat(100)))
  isFail(await request(`${web.url}/workspaces/ws-a/import`, { method: 'POST', headers: { ...A, 'content-type': txt.type }, body: txt.body }), 400, /not a SQLite database.*not changed/)
  // a SQLite header with garbage after it: the worker's validation refuses it
  const fake = Buffer.concat([Buffer.from('SQLite format 3\0'), Buffer.alloc(8192, 7)])
  const fk = multipart('backup', 'fake.db', fake)
  isFail(await request(`${web.url}/workspaces/ws-a/import`, { method: 'POST', headers: { ...A, 'content-type': fk.type }, body: fk.body }), 400, /not changed/)
  const none = multipart('other', 'x.db', fs.readFileSync(live))
  isFail(await request(`${web.url}/workspaces/ws-a/import`, { method: 'POST', headers: { ...A, 'content-type': none.type }, body: none.body }), 400, /No backup file/)
  isFail(await request(`${web.url}/workspaces/ws-a/import`, { method: 'POST', headers: { ...A, 'content-type': 'application/json' }, body: '{}' }), 400, /multipart/)
  for (const source of ['/etc/passwd', '../ws-b/livestore.db', 'file:/etc/passwd', `file:${dep.live('ws-b')}`, 'object:full/ws-b/20260101T000000.000Z/livestore.db.zst', 'object:uploads/ws-b/0123456789abcdef0123456789abcdef.db', 'latest; rm -rf /', 42]) {
    const r = await request(`${web.url}/api/workspaces/ws-a/restore`, { method: 'POST', headers: { ...A, 'content-type': 'application/json' }, body: JSON.stringify({ source }) })
    isFail(r, 400, /restore source|must be a string/)
  }
  isFail(await request(`${web.url}/api/workspaces/ws-a/restore`, { method: 'POST', headers: A, body: '{nope' }), 400, /JSON/)
  assert.equal(sha3(live), before, 'the live database is untouched')
})

test('restore sources: latest, a listed time, own upload ids only', async () => {
  const live = dep.live('ws-a')
  const post = (u, ws, kind, body, h = A) => request(`${u}/api/workspaces/${ws}/${kind}`, { method: 'POST', headers: { ...h, 'content-type': 'application/json' }, body: JSON.stringify(body || {}) })
  const waitJob = async (id, h = A) => waitUntil(async () => {
    const r = await request(`${web.url}/api/jobs/${id}`, { headers: h })
    return ['succeeded', 'failed', 'cancelled'].includes(r.json.state) && r.json
  }, `job ${id}`, 60000, 100)
  const b = await post(web.url, 'ws-a', 'backup')
  assert.equal(b.status, 202)
  const bj = await waitJob(b.json.jobId)
  assert.equal(bj.state, 'succeeded')
  const list = (await request(`${web.url}/api/workspaces/ws-a/backups`, { headers: A })).json.backups
  assert.ok(list.length >= 2)
  const snap = sha3(live)
  sql(live, "INSERT INTO todos VALUES ('x1', 'after the listed backup', 0)")
  const r1 = await post(web.url, 'ws-a', 'restore', { source: list[0].ts })
  assert.equal(r1.status, 202, r1.text)
  // the events stream follows it to the end
  const ev = await request(`${web.url}/api/jobs/${r1.json.jobId}/events`, { headers: A })
  assert.equal(ev.headers['content-type'], 'text/event-stream')
  assert.match(ev.text, /event: done\ndata: .*"state":"succeeded"/)
  assert.equal(sha3(live), snap, 'restored to the listed time')
  isFail(await post(web.url, 'ws-a', 'restore', { source: '20000101T000000.000Z' }), 404, /no backup at/)
  const rl = await post(web.url, 'ws-a', 'restore', { source: 'latest' })
  assert.equal(rl.status, 202)
  assert.equal((await waitJob(rl.json.jobId)).state, 'succeeded')

  // an upload id of bob's is refused to alice, even for bob's own workspace id
  const ub = await post(web.url, 'ws-b', 'import-url', {}, B)
  assert.equal(ub.status, 202, ub.text)
  assert.match(ub.json.uploadId, /^[0-9a-f]{32}$/)
  isFail(await post(web.url, 'ws-a', 'restore', { source: ub.json.uploadId }), 403, /not one you made/)
  isFail(await post(web.url, 'ws-a', 'restore', { source: `upload:${ub.json.uploadId}` }), 403)
  // alice's own upload through the streamed PUT route
  const ua = await post(web.url, 'ws-a', 'import-url')
  assert.equal(ua.json.direct, false)
  assert.match(ua.json.uploadUrl, new RegExp(`/api/uploads/${ua.json.uploadId}$`))
  isFail(await request(ua.json.uploadUrl, { method: 'PUT', headers: B, body: fs.readFileSync(live) }), 404)
  const src = path.join(dep.dir, 'upload-src.db')
  makeDb(src, 300)
  const put = await request(ua.json.uploadUrl, { method: 'PUT', headers: A, body: fs.readFileSync(src) })
  assert.equal(put.status, 200, put.text)
  // bob cannot restore alice's upload into his workspace
  isFail(await post(web.url, 'ws-b', 'restore', { source: ua.json.uploadId }, B), 403)
  const ru = await post(web.url, 'ws-a', 'restore', { source: ua.json.uploadId })
  assert.equal(ru.status, 202)
  assert.equal((await waitJob(ru.json.jobId)).state, 'succeeded')
  assert.equal(sha3(live), sha3(src), 'restored from the upload')
})

test('404s and 405 with JSON bodies', async () => {
  isFail(await request(`${web.url}/nope`), 404, /No route/)
  isFail(await request(`${web.url}/api/jobs/no-such-job`, { headers: A }), 404, /No job/)
  isFail(await request(`${web.url}/workspaces/ws-a/export`, { headers: A }), 405)
  const missing = await request(`${web.url}/workspaces/ws-gone/export`, { method: 'POST', headers: { authorization: 'Bearer tok-admin' } })
  assert.ok([404, 400].includes(missing.status), missing.text)
  assert.equal(missing.json.success, false)
})

test('413 over SQLVAULT_MAX_DB_SIZE: by Content-Length, and while streaming; data intact', async () => {
  const live = dep.live('ws-a')
  const before = sha3(live)
  // a declared 3 GiB body is refused before it is read
  const r = await new Promise((resolve, reject) => {
    import('node:http').then(({ default: http }) => {
      const req = http.request(`${web.url}/workspaces/ws-a/import`, { method: 'POST', headers: { ...A, 'content-type': 'multipart/form-data; boundary=x', 'content-length': String(3 * 1024 ** 3) } }, res => {
        let t = ''
        res.on('data', d => { t += d })
        res.on('end', () => { resolve({ status: res.statusCode, json: JSON.parse(t), headers: res.headers, text: t }); req.destroy() })
      })
      req.on('error', reject)
      req.write('--x\r\n')
    })
  })
  isFail(r, 413, /larger than the 2\.0 GiB limit/)
  // a chunked upload (no length) past a 1 MiB cap
  const big = Buffer.concat([Buffer.from('SQLite format 3\0'), Buffer.alloc(3 * 1024 * 1024, 1)])
  const mp = multipart('backup', 'big.db', big)
  // the server answers 413 and closes while the body still flows: a client
  // may read the answer, or have its write cut (EPIPE, ECONNRESET) first;
  // either is the refusal, and the data must be intact after it
  const refused = async (p, re) => {
    try {
      isFail(await p, 413, re)
    } catch (e) {
      if (!['EPIPE', 'ECONNRESET'].includes(e.code)) throw e
    }
  }
  await refused(request(`${small.url}/workspaces/ws-a/import`, { method: 'POST', headers: { ...A, 'content-type': mp.type, 'transfer-encoding': 'chunked' }, body: Readable.from([mp.body]) }), /1\.0 MiB limit.*Nothing was changed/)
  const up = await request(`${small.url}/api/workspaces/ws-a/import-url`, { method: 'POST', headers: A })
  await refused(request(up.json.uploadUrl, { method: 'PUT', headers: A, body: big }))
  assert.equal(sha3(live), before, 'data intact')
  assert.deepEqual(fs.readdirSync(path.join(dep.dir, 'store', 'uploads', 'ws-a')).filter(f => f.includes('.part-')), [], 'no partial files left')
})

test('signed download links expire', async () => {
  const r = await request(`${small.url}/workspaces/ws-a/export`, { method: 'POST', headers: A })
  assert.equal(r.status, 200, r.text)
  assert.equal(r.json.expiresIn, 2)
  assert.equal((await request(r.json.downloadUrl)).status, 200)
  await waitUntil(async () => (await request(r.json.downloadUrl)).status === 403, 'the link to expire', 10000, 250)
  isFail(await request(r.json.downloadUrl), 403, /expired/)
})

test('CORS: preflight from an allowed origin passes, from another is refused', async () => {
  const pre = h => request(`${web.url}/workspaces/ws-a/export`, { method: 'OPTIONS', headers: { 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization', ...h } })
  const ok = await pre({ origin: ORIGIN })
  assert.equal(ok.status, 204)
  assert.equal(ok.headers['access-control-allow-origin'], ORIGIN)
  assert.match(ok.headers['access-control-allow-headers'], /Authorization/)
  assert.match(ok.headers['access-control-allow-methods'], /POST/)
  const no = await pre({ origin: 'http://evil.example.test' })
  isFail(no, 403, /SQLVAULT_WEB_CORS_ORIGINS/)
  assert.equal(no.headers['access-control-allow-origin'], undefined)
  const real = await request(`${web.url}/api/me`, { headers: { ...A, origin: ORIGIN } })
  assert.equal(real.status, 200)
  assert.equal(real.headers['access-control-allow-origin'], ORIGIN)
  isFail(await request(`${web.url}/api/me`, { headers: { ...A, origin: 'http://evil.example.test' } }), 403)
  // the page's own origin needs no CORS entry
  assert.equal((await request(`${web.url}/api/me`, { headers: { ...A, origin: web.url } })).status, 200)
})

test('RSS stays flat while a 1 GiB import streams through the server', async () => {
  const live = dep.live('ws-a')
  const before = sha3(live)
  const pid = web.proc.pid
  await sleep(200)
  const base = rssKiB(pid)
  const total = 1024 * 1024 * 1024
  const chunk = Buffer.alloc(1024 * 1024, 0x5a)
  const head = Buffer.from('SQLite format 3\0')
  const boundary = 'rssboundary'
  const mpHead = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="backup"; filename="huge.db"\r\nContent-Type: application/octet-stream\r\n\r\n`)
  const mpTail = Buffer.from(`\r\n--${boundary}--\r\n`)
  async function * gen () {
    yield mpHead
    yield head
    let sent = head.length
    while (sent < total) {
      const n = Math.min(chunk.length, total - sent)
      yield n === chunk.length ? chunk : chunk.subarray(0, n)
      sent += n
    }
    yield mpTail
  }
  let peak = base
  const sampler = setInterval(() => { try { peak = Math.max(peak, rssKiB(pid)) } catch (_) {} }, 50)
  const t0 = Date.now()
  const r = await request(`${web.url}/workspaces/ws-a/import`, {
    method: 'POST',
    headers: { ...A, 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': String(mpHead.length + total + mpTail.length) },
    body: Readable.from(gen(), { objectMode: false, highWaterMark: 1 })
  })
  clearInterval(sampler)
  const secs = (Date.now() - t0) / 1000
  console.log(`# 1 GiB import: ${secs.toFixed(1)} s, server RSS ${Math.round(base / 1024)} MiB before, peak ${Math.round(peak / 1024)} MiB (+${Math.round((peak - base) / 1024)} MiB)`)
  isFail(r, 400, /not changed/)
  assert.ok(peak - base < 64 * 1024, `RSS grew by ${Math.round((peak - base) / 1024)} MiB while 1 GiB streamed`)
  assert.equal(sha3(live), before, 'the live database is untouched')
})

test('embedding: authenticate/canAccess from the host app, and a route module (the /admin hook)', async () => {
  const { createWebServer } = await import('../../clients/node/server/index.js')
  const web2 = await createWebServer({
    env: dep.env,
    authenticate: req => (req.headers['x-session'] === 's-carol' ? 'carol' : null),
    canAccess: (user, ws) => user === 'carol' && ws === 'ws-b',
    listWorkspaces: () => ['ws-b'],
    routeModules: [app => app.route('GET', /^\/admin\/ping$/, async (req, res) => {
      const user = await app.user(req)
      app.sendJson(res, 200, { pong: true, user })
    })]
  })
  const url = await web2.listen('127.0.0.1:0')
  try {
    const me = await request(`${url}/api/me`, { headers: { 'x-session': 's-carol' } })
    assert.equal(me.status, 200)
    assert.deepEqual(me.json.workspaces, ['ws-b'])
    isFail(await request(`${url}/api/me`, { headers: A }), 401)
    assert.equal((await request(`${url}/api/workspaces/ws-b/backups`, { headers: { 'x-session': 's-carol' } })).status, 200)
    isFail(await request(`${url}/api/workspaces/ws-a/backups`, { headers: { 'x-session': 's-carol' } }), 403)
    const ping = await request(`${url}/admin/ping`, { headers: { 'x-session': 's-carol' } })
    assert.deepEqual(ping.json, { pong: true, user: 'carol' })
    isFail(await request(`${url}/admin/ping`), 401)
  } finally {
    await web2.close()
  }
})

test('a .db.zst upload through the plan route restores too', async () => {
  const live = dep.live('ws-a')
  const src = path.join(dep.dir, 'zst-src.db')
  makeDb(src, 700)
  sql(src, "INSERT INTO todos VALUES ('zst', 'compressed upload', 0)")
  execFileSync('zstd', ['-q', '-f', src, '-o', `${src}.zst`])
  const mp = multipart('backup', 'zst-src.db.zst', fs.readFileSync(`${src}.zst`))
  const r = await request(`${web.url}/workspaces/ws-a/import`, { method: 'POST', headers: { ...A, 'content-type': mp.type }, body: mp.body })
  assert.equal(r.status, 200, r.text)
  assert.equal(sha3(live), sha3(src), 'restored from the compressed upload')
})

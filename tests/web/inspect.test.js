// inspect.test.js -- the route POST /api/workspaces/:ws/inspect of the
// reference web server (the page's preview before a restore), against the
// real server and Redis with a worker stand-in (standin.js) that answers the
// inspect jobs, so the exact job options the route enqueues are seen: the
// token and workspace checks (another user's workspace and uploads refused,
// nothing enqueued), every bad "at" a 400 in words, each good one mapped as
// the contract says (an ISO time to UTC, an upload id to object:KEY as a
// restore maps it), and the job's answer through the job API (result with
// "fetched", a failure's message). The page on the real worker:
// preview.test.js. Started by tests/it/web_preview.sh.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { deployment, startWeb, stopAll, request, makeDb, sha3, env } from './lib.js'
import { standIn } from './standin.js'

const USERS = {
  'tok-alice': { user: 'alice', workspaces: ['ws-a', 'ws-a2'] },
  'tok-bob': { user: 'bob', workspaces: ['ws-b'] }
}
const A = { authorization: 'Bearer tok-alice', 'content-type': 'application/json' }
const B = { authorization: 'Bearer tok-bob', 'content-type': 'application/json' }
let dep, web, worker, backupTs

const RESULT = at => ({
  source: at === 'live' ? 'live' : at.startsWith('object:') ? 'object' : 'backup',
  backup: at === 'live' || at.startsWith('object:') ? null : '20260115T103000.000Z',
  at: at === 'live' || at.startsWith('object:') ? null : '2026-01-15T10:30:00.000Z',
  backupType: 'full',
  chainLength: 1,
  size: 8192,
  pageSize: 4096,
  pageCount: 2,
  tables: [{ name: 'todos', rows: 3 }],
  livestore: null,
  fetched: { requests: 2, bytes: 1234 }
})

before(async () => {
  dep = deployment('inspect')
  makeDb(dep.live('ws-a'), 50)
  makeDb(dep.live('ws-b'), 50)
  // one real backup, so that a listed backup time is accepted
  backupTs = JSON.parse(execFileSync(env.SV_BIN, ['backup', 'ws-a', '--inline', '--json'], { env: dep.env, encoding: 'utf8' })).ts
  worker = standIn(dep, job => {
    if (job.type === 'import-url') {
      const id = Buffer.from(job.id.slice(0, 16)).toString('hex')
      return { key: `uploads/${job.workspace}/${id}.db`, url: 'file:///unused', ttl: 3600 }
    }
    if (job.type !== 'inspect') throw Object.assign(new Error(`the stand-in answers no ${job.type} job`), { code: 'invalid' })
    if (job.opts.at === '2001-01-01T00:00:00Z') throw Object.assign(new Error('no backup at or before 2001-01-01T00:00:00Z'), { code: 'not_found' })
    return RESULT(job.opts.at)
  })
  web = await startWeb(dep, USERS)
})

after(async () => {
  if (worker) await worker.stop()
  await stopAll()
})

const inspect = (ws, body, headers = A) => request(`${web.url}/api/workspaces/${ws}/inspect`, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) })

const inspections = () => worker.jobs.filter(j => j.type === 'inspect').length

const isFail = (r, status, re) => {
  assert.equal(r.status, status, `${status} expected: ${r.status} ${r.text}`)
  assert.equal(r.json.success, false)
  if (re) assert.match(r.json.error, re)
}

// the options of the job a 202 enqueued, once the stand-in has claimed it
async function optsOf (r) {
  assert.equal(r.status, 202, r.text)
  const id = r.json.jobId
  const end = Date.now() + 15000
  for (;;) {
    const j = worker.jobs.find(x => x.id === id)
    if (j) return j
    if (Date.now() > end) throw new Error(`the stand-in never claimed job ${id}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

test('a token is needed; another user\'s workspace is refused and nothing is enqueued', async () => {
  isFail(await inspect('ws-a', { at: 'live' }, { 'content-type': 'application/json' }), 401, /Sign in first/)
  isFail(await inspect('ws-a', { at: 'live' }, { authorization: 'Bearer nope' }), 401, /not valid/)
  const n = inspections()
  isFail(await inspect('ws-b', { at: 'live' }), 403, /You \(alice\) do not have access to workspace 'ws-b'/)
  isFail(await inspect('ws-a', { at: 'live' }, B), 403, /bob.*ws-a/)
  isFail(await inspect('..%2Fws-a', { at: 'live' }), 400, /not a valid workspace id/)
  isFail(await request(`${web.url}/api/workspaces/ws-a/inspect`, { headers: A }), 405)
  assert.equal(inspections(), n, 'no job for a refused request')
})

test('every bad "at" is a 400 in words, and enqueues nothing', async () => {
  const n = inspections()
  const before = sha3(dep.live('ws-a'))
  for (const [body, re] of [
    [{ at: 5 }, /must be a string/],
    [{ at: ['live'] }, /must be a string/],
    [{ at: 'yesterday' }, /'yesterday' is none of these/],
    [{ at: 'object:uploads/ws-a/x.db' }, /none of these/],
    [{ at: 'object:full/ws-b/20260115T103000.000Z/livestore.db.zst' }, /none of these/],
    [{ at: '../../etc/passwd' }, /none of these/],
    [{ at: '/work/data/ws-a/livestore.db' }, /none of these/],
    [{ at: '2026-13-01T00:00:00Z' }, /not a real moment/],
    [{ at: '2026-02-30T10:00Z' }, /not a real moment/],
    [{ at: '2026-01-15T25:00:00Z' }, /not a real moment/],
    [{ at: '2026-01-15T10:30:00+15:00' }, /not a real moment/],
    [{ at: '2026-01-15 10:30' }, /none of these/],
    [{ at: '2026-01-15T10:30:00' }, /none of these/], // no zone: which moment is meant is not known
    [{ at: 'x'.repeat(5000) }, /none of these/],
    ['[1]', /must be a JSON object/],
    ['null', /must be a JSON object/],
    ['{"at": ', /not valid JSON/]
  ]) {
    const r = await inspect('ws-a', body)
    isFail(r, 400, re)
    assert.ok(r.json.error.length < 400, `a short message: ${r.json.error.length} chars`)
  }
  isFail(await inspect('ws-a', { at: '20200101T000000.000Z' }), 404, /has no backup at 20200101T000000\.000Z/)
  assert.equal(inspections(), n, 'no job for a bad point')
  assert.equal(sha3(dep.live('ws-a')), before, 'the live data intact')
})

test('good points reach the job as the contract says, for this user', async () => {
  for (const [at, want] of [
    [undefined, 'latest'],
    ['latest', 'latest'],
    ['live', 'live'],
    [backupTs, backupTs],
    ['2026-01-15T10:30:00Z', '2026-01-15T10:30:00Z'],
    ['2026-01-15T10:30Z', '2026-01-15T10:30:00Z'],
    ['2026-01-15T11:30:00+01:00', '2026-01-15T10:30:00Z'],
    ['2026-01-15T05:00:00-05:30', '2026-01-15T10:30:00Z'],
    ['2026-01-15T10:30:00.5Z', '2026-01-15T10:30:00.500Z']
  ]) {
    const job = await optsOf(await inspect('ws-a', at === undefined ? {} : { at }))
    assert.equal(job.type, 'inspect')
    assert.equal(job.workspace, 'ws-a')
    assert.equal(job.opts.at, want, `at ${at}`)
    assert.equal(job.opts.user_id, 'alice')
    assert.equal(job.priority, 'interactive', 'the user waits on it')
  }
})

test('an upload id maps to object:KEY as for a restore; another user\'s or workspace\'s is refused', async () => {
  const up = await request(`${web.url}/api/workspaces/ws-a/import-url`, { method: 'POST', headers: A })
  assert.equal(up.status, 202, up.text)
  const id = up.json.uploadId
  for (const at of [id, `upload:${id}`]) {
    const job = await optsOf(await inspect('ws-a', { at }))
    assert.equal(job.opts.at, `object:uploads/ws-a/${id}.db`)
  }
  const n = inspections()
  isFail(await inspect('ws-a2', { at: id }), 403, /not one you made for workspace 'ws-a2'/)
  isFail(await inspect('ws-a', { at: 'f'.repeat(32) }), 403, /not one you made/)
  const bobUp = await request(`${web.url}/api/workspaces/ws-b/import-url`, { method: 'POST', headers: B })
  assert.equal(bobUp.status, 202, bobUp.text)
  isFail(await inspect('ws-a', { at: bobUp.json.uploadId }), 403, /not one you made/)
  isFail(await inspect('ws-b', { at: bobUp.json.uploadId }), 403, /alice.*ws-b/)
  assert.equal(inspections(), n, 'nothing enqueued for refused uploads')
})

test('the answer is a job the page follows like the others; the result keeps "fetched"', async () => {
  const r = await inspect('ws-a', { at: backupTs })
  assert.equal(r.status, 202, r.text)
  assert.deepEqual(Object.keys(r.json), ['jobId'])
  const ev = await request(`${web.url}/api/jobs/${r.json.jobId}/events`, { headers: A })
  assert.equal(ev.status, 200)
  const done = JSON.parse(/event: done\ndata: (.*)\n/.exec(ev.text)[1])
  assert.equal(done.state, 'succeeded')
  assert.equal(done.type, 'inspect')
  assert.deepEqual(done.result, RESULT(backupTs))
  const j = await request(`${web.url}/api/jobs/${r.json.jobId}`, { headers: A })
  assert.equal(j.status, 200)
  assert.deepEqual(j.json.result.fetched, { requests: 2, bytes: 1234 })
  // bob cannot read alice's inspect job
  isFail(await request(`${web.url}/api/jobs/${r.json.jobId}`, { headers: B }), 404)
})

test('a failed inspect answers its message (and the status that goes with it)', async () => {
  const r = await inspect('ws-a', { at: '2001-01-01T00:00:00Z' })
  assert.equal(r.status, 202, r.text)
  const ev = await request(`${web.url}/api/jobs/${r.json.jobId}/events`, { headers: A })
  const done = JSON.parse(/event: done\ndata: (.*)\n/.exec(ev.text)[1])
  assert.equal(done.state, 'failed')
  assert.equal(done.status, 404)
  assert.equal(done.message, 'no backup at or before 2001-01-01T00:00:00Z.')
  assert.doesNotMatch(done.message, /current data was not changed/, 'an inspect changes nothing, so it does not say so')
})

test('a job route given a body that is no JSON object answers 400, and starts no job', async () => {
  const before = worker.jobs.length
  for (const kind of ['restore', 'backup', 'export', 'inspect']) {
    for (const body of ['null', '[1]', '"latest"', '7']) {
      const r = await request(`${web.url}/api/workspaces/ws-a/${kind}`, { method: 'POST', headers: A, body })
      isFail(r, 400, /must be a JSON object/)
    }
  }
  assert.equal(worker.jobs.length, before, 'no job for a bad body')
})

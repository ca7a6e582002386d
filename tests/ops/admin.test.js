// admin.test.js -- the /admin ops console in Chromium (playwright-core and
// Debian's chromium) against a real worker, the suite's Redis and S3 store:
// an admin signs in and sees the pool's depth, the running job with its
// progress, the live worker, the failed backups in recent failures and dead
// letters, and the scheduler's tick; Retry re-enqueues a dead letter (which
// then succeeds), Cancel stops the running job; a non-admin token is refused;
// the page's HTML holds no secret key, Authorization header or presigned
// signature although an export with a presigned URL ran. Started by
// tests/it/ops_admin.sh, which exports the environment.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
import { SqlvaultClient } from '../../clients/node/index.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const env = process.env
const SCRATCH = env.SV_SCRATCH
const SV = env.SV_BIN
const DATA = env.SQLVAULT_DATA_DIR
const children = []
let web, browser, page

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))
async function waitUntil (fn, what, ms = 30000) {
  const end = Date.now() + ms
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await sleep(100)
  }
}
const sv = (args, extra = {}) => execFileSync(SV, args, { env: { ...env, ...extra }, encoding: 'utf8' })
const redis = (...args) => execFileSync('redis-cli', ['-u', env.SQLVAULT_REDIS_URL, ...args], { encoding: 'utf8' }).trim()
const base = `${env.SQLVAULT_REDIS_PREFIX}:{default}:`
const makeDb = (ws, rows) => {
  fs.mkdirSync(path.join(DATA, ws), { recursive: true })
  execFileSync('sqlite3', [path.join(DATA, ws, 'livestore.db')], {
    input: `PRAGMA journal_mode=WAL; CREATE TABLE IF NOT EXISTS t(x); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<${rows}) INSERT INTO t SELECT randomblob(100) FROM n;`
  })
}

function spawnLogged (name, cmd, args, extra = {}) {
  const log = fs.openSync(path.join(SCRATCH, `${name}.log`), 'a')
  const p = spawn(cmd, args, { env: { ...env, ...extra }, stdio: ['ignore', 'pipe', log] })
  children.push(p)
  return p
}

before(async () => {
  makeDb('good1', 200)
  makeDb('ops-ws', 300)
  spawnLogged('worker', SV, ['worker', '--threads', '2'], { SQLVAULT_TEST_JOBS: '1' })
  const users = path.join(SCRATCH, 'users.json')
  fs.writeFileSync(users, JSON.stringify({
    'tok-admin-7f3': { user: 'opsadmin', workspaces: [], admin: true },
    'tok-alice-1c9': { user: 'alice', workspaces: ['good1'] }
  }))
  const p = spawnLogged('web', process.execPath, [path.join(ROOT, 'clients/node/server/main.js')],
    { SQLVAULT_WEB_USERS: users, SQLVAULT_WEB_ADDR: '127.0.0.1:0', SQLVAULT_REPLICAS: 'b2=s3://replica-bucket/p/,eu=file:///srv/eu' })
  web = await new Promise((resolve, reject) => {
    let out = ''
    const t = setTimeout(() => reject(new Error(`web server did not start: ${out}`)), 20000)
    p.stdout.on('data', d => {
      out += d
      const m = /listening on (http:\/\/\S+)/.exec(out)
      if (m) { clearTimeout(t); resolve(m[1]) }
    })
    p.on('exit', c => { clearTimeout(t); reject(new Error(`web server exited ${c}: ${out}`)) })
  })
  // jobs of every kind the console shows
  sv(['backup', 'good1', '--json'])
  sv(['export', 'good1', '--json', '--id', 'adm-export-1'])
  sv(['scheduler', '--once', '--wait', '--timeout', '60'])
  fs.mkdirSync(path.join(DATA, 'broken1'), { recursive: true })
  fs.writeFileSync(path.join(DATA, 'broken1', 'livestore.db'), Buffer.alloc(8192, 7))
  sv(['backup', 'broken1', '--id', 'adm-broken-1', '--no-wait'], { SQLVAULT_MAX_ATTEMPTS: '1' })
  await waitUntil(() => redis('HGET', `${base}job:adm-broken-1`, 'state') === 'failed', 'the broken backup to fail')
  // a long sleep job, running when the browser looks
  const client = new SqlvaultClient({ url: env.SQLVAULT_REDIS_URL, prefix: env.SQLVAULT_REDIS_PREFIX })
  await client.fcall('sqlvault_enqueue', 'default', 'adm-sleep-1', 'sleep', 'ops-ws', 'interactive', '1',
    Buffer.from([0x81, 0xa2, 0x6d, 0x73, 0xcd, 0xea, 0x60]), 'manual') // {ms: 60000}
  await client.close()
  await waitUntil(() => redis('HGET', `${base}job:adm-sleep-1`, 'state') === 'active', 'the sleep job to run')
  browser = await chromium.launch({ executablePath: env.SV_CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] })
  page = await browser.newPage()
})

after(async () => {
  if (browser) await browser.close()
  for (const p of children) p.kill('SIGTERM')
})

test('a non-admin token is refused', async () => {
  await page.goto(`${web}/admin`)
  await page.fill('#token', 'tok-alice-1c9')
  await page.click('#signin-btn')
  await page.waitForSelector('#error:not([hidden])')
  assert.match(await page.textContent('#error'), /not an administrator/)
  assert.equal(await page.isVisible('#console'), false)
  const r = await fetch(`${web}/api/admin/overview`, { headers: { authorization: 'Bearer tok-alice-1c9' } })
  assert.equal(r.status, 403)
  assert.equal((await fetch(`${web}/api/admin/overview`)).status, 401)
})

test('an admin sees depth, the running job, workers, failures, dead letters and the scheduler', async () => {
  await page.fill('#token', 'tok-admin-7f3')
  await page.click('#signin-btn')
  await page.waitForSelector('section.pool[data-pool="default"]')
  const pool = 'section.pool[data-pool="default"]'
  assert.equal(await page.textContent(`${pool} [data-k="workers"]`), '1')
  assert.equal(await page.textContent(`${pool} [data-k="active"]`), '1')
  assert.match(await page.textContent(`${pool} [data-k="interactive"]`), /^\d+$/)
  await page.waitForSelector(`${pool} .active-jobs tr[data-job="adm-sleep-1"] progress`)
  await waitUntil(async () => Number(await page.getAttribute(`${pool} .active-jobs tr[data-job="adm-sleep-1"] progress`, 'value')) > 0, 'progress to move')
  assert.match(await page.textContent(`${pool} .workers tbody`), /alive/)
  assert.match(await page.textContent(`${pool} .failures tr[data-job="adm-broken-1"]`), /failed/)
  assert.match(await page.textContent(`${pool} .dead tr[data-job="adm-broken-1"] td.err`), /.+/)
  assert.match(await page.textContent('#sched-summary'), /Last tick .*: 0 of 2 backups failed \(0\.00%\)/)
  if (env.SV_SCREENSHOT) await page.screenshot({ path: env.SV_SCREENSHOT, fullPage: true }) // for a person to look at
})

test('the replica stores: how far each is behind (PREFIX:{replica:NAME}:behind, as workers write it)', async () => {
  const twoHours = Date.now() - 2 * 3600 * 1000
  redis('HSET', `${env.SQLVAULT_REDIS_PREFIX}:{replica:b2}:behind`, 'good1', `${twoHours}:${twoHours + 60000}`, 'ops-ws', `${twoHours + 600000}:${twoHours + 600000}`)
  const o = await (await fetch(`${web}/api/admin/overview`, { headers: { authorization: 'Bearer tok-admin-7f3' } })).json()
  assert.deepEqual(o.replicas.map(r => [r.store, r.behind, r.oldest]), [['b2', 2, twoHours], ['eu', 0, null]])
  assert.ok(o.replicas[0].lagSeconds >= 7200 && o.replicas[0].lagSeconds < 7300, `lag ${o.replicas[0].lagSeconds}`)
  assert.ok(!JSON.stringify(o).includes('replica-bucket') && !JSON.stringify(o).includes('/srv/eu'), 'no store URL in the overview')
  await page.waitForSelector('#replicas tr[data-store="b2"]')
  await waitUntil(async () => /2\.0 h/.test(await page.textContent('#replicas tr[data-store="b2"]')), 'the b2 row to show 2.0 h')
  assert.match(await page.textContent('#replicas tr[data-store="b2"]'), /b2.*2\.0 h.*2/)
  assert.match(await page.textContent('#replicas tr[data-store="eu"]'), /eu.*up to date.*0/)
  if (env.SV_SCREENSHOT) await page.screenshot({ path: env.SV_SCREENSHOT.replace(/\.png$/, '-replicas.png'), fullPage: true })
  redis('DEL', `${env.SQLVAULT_REDIS_PREFIX}:{replica:b2}:behind`)
})

test('Retry re-enqueues a dead letter, Cancel stops the running job', async () => {
  const pool = 'section.pool[data-pool="default"]'
  fs.rmSync(path.join(DATA, 'broken1', 'livestore.db'), { force: true })
  makeDb('broken1', 50) // the workspace is fixed: the retry can succeed
  await page.click(`${pool} .dead tr[data-job="adm-broken-1"] button[data-action="retry"]`)
  await page.waitForSelector('#notice:not([hidden])')
  const m = /retried as ([0-9a-f]{32})/.exec(await page.textContent('#notice'))
  assert.ok(m, 'the notice names the new job')
  await waitUntil(() => redis('HGET', `${base}job:${m[1]}`, 'state') === 'succeeded', 'the retried backup to succeed')
  assert.equal(redis('HGET', `${base}job:${m[1]}`, 'reason'), 'retry')
  await page.click(`${pool} .active-jobs tr[data-job="adm-sleep-1"] button[data-action="cancel"]`)
  await waitUntil(() => redis('HGET', `${base}job:adm-sleep-1`, 'state') === 'cancelled', 'the sleep job to be cancelled', 15000)
  await page.waitForFunction(() => !document.querySelector('.active-jobs tr[data-job="adm-sleep-1"]'), null, { timeout: 10000 })
})

test('the console holds no secret, Authorization header or presigned signature', async () => {
  const url = JSON.parse(sv(['status', 'adm-export-1', '--json'])).result.url
  assert.match(url, /X-Amz-Signature=/, 'the export made a presigned URL')
  const sig = new URL(url).searchParams.get('X-Amz-Signature')
  const html = await page.content()
  const api = await (await fetch(`${web}/api/admin/overview`, { headers: { authorization: 'Bearer tok-admin-7f3' } })).text()
  for (const text of [html, api]) {
    for (const needle of [env.AWS_SECRET_ACCESS_KEY, 'Authorization', 'X-Amz-Signature', sig, 'tok-admin-7f3', 'AWS4-HMAC-SHA256']) {
      assert.ok(!text.includes(needle), `found ${String(needle).slice(0, 16)} in the console`)
    }
  }
  assert.ok(html.includes('adm-export-1') || api.includes('adm-broken-1'), 'the console shows jobs')
})

// preview.test.js -- issue 25's page part in headless Chromium (Debian's
// chromium driven by playwright-core) against the real `sqlvault worker` and
// server on a file:// store: a workspace backed up twice with different
// content (a full, then an incremental on top of it, on the injected clock:
// three hours and one hour ago), then changed again. On the page, in a time
// zone that is not UTC (Asia/Kolkata, +05:30):
//  - the "Restore from a time" picker is bounded from the oldest backup to
//    now, and a time before the oldest backup is refused in words, nothing
//    read and nothing changed;
//  - a time between the two backups shows "Reading the backup…", then the
//    preview: "Now (live)" beside "After restore (that time)", the earlier
//    backup's row counts beside the live ones, the tables that differ
//    highlighted, the live data untouched by it; confirmed, the workspace is
//    that backup's;
//  - a listed backup's "Restore to this point" shows its preview first;
//    Cancel changes nothing; confirmed, the workspace is that backup's;
//  - an uploaded file's restore shows the file's preview first;
//  - a damaged file's preview says it cannot be read and offers no restore;
//  - a real LiveStore store (tests/livestore): the preview shows the newest
//    events of its event log beside the live ones, the new ones highlighted.
// Screenshots go to SV_ARTIFACTS (tests/it/web_preview.sh).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import crypto from 'node:crypto'
import { execFileSync } from 'node:child_process'
import { chromium } from 'playwright-core'
import { ROOT, SCRATCH, env, deployment, startWorker, startWeb, stopAll, makeDb, sha3, sql } from './lib.js'

const ARTIFACTS = env.SV_ARTIFACTS || path.join(SCRATCH, 'artifacts')
const T = 60000
const TZ = 'Asia/Kolkata' // +05:30 all year: local time is neither UTC nor a whole hour off it
const TZ_MS = 5.5 * 3600e3
const HOUR = 3600e3
const USERS = { 'tok-alice': { user: 'alice', workspaces: ['ws-p'] } }
let browser

// a datetime-local value (the local minute) of an instant, in TZ
const localMinute = ms => new Date(ms + TZ_MS).toISOString().slice(0, 16)
// the page's fmtTime / fmtMinute of an instant, in TZ (the context's locale
// is en-US); ICU versions differ in the space before AM/PM, so texts are
// compared with every kind of space as ' ' (norm)
const norm = s => String(s).replace(/[\u202f\u00a0]/g, ' ')
const fmtTime = ms => norm(new Date(ms).toLocaleString('en-US', { timeZone: TZ, year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' }))
const fmtShort = ms => norm(new Date(ms).toLocaleString('en-US', { timeZone: TZ, month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' }))
const fmtMinute = ms => norm(new Date(ms).toLocaleString('en-US', { timeZone: TZ, year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' }))
const esc = s => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
// a text as a pattern matching it with any kind of space
const re = (s, flags) => new RegExp(esc(s).replace(/ /g, '[ \\u202f\\u00a0]'), flags)
const text = async loc => norm(await loc.textContent())

async function shot (page, name) {
  const file = path.join(ARTIFACTS, `${name}.png`)
  await page.screenshot({ path: file, fullPage: true })
  console.log(`# screenshot ${file}`)
}

// n more todos, each with its event as makeDb writes them, the events a
// second apart from `ms` on (a time in ms, as the inspect job reads it)
function addTodos (db, n, tag, ms) {
  sql(db, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${n})
INSERT INTO eventlog (name, args, created_at) SELECT 'todoCreated', json_object('id', '${tag}' || i, 'title', 'todo ${tag} ' || i), ${ms} + i * 1000 FROM n;
INSERT OR REPLACE INTO todos (id, title) SELECT json_extract(args, '$.id'), json_extract(args, '$.title') FROM eventlog WHERE json_extract(args, '$.id') LIKE '${tag}%';`)
}

// Waits until the open preview offers "Restore to this point" or says why
// not; fails with the page's words in the second case.
async function previewReady (page) {
  await previewDone(page)
  const why = page.locator('#preview-error')
  if (await why.isVisible()) assert.fail(`the preview offers no restore: ${await why.textContent()}`)
}

// Waits until both inspect jobs of the open preview have answered.
function previewDone (page) {
  return page.waitForFunction(() => {
    const shown = id => !document.getElementById(id).hidden
    return shown('preview') && (shown('preview-ok') || shown('preview-error'))
  }, null, { timeout: T })
}

// a backup by the CLI at a given instant of the injected clock
function backupAt (dep, ws, ms) {
  const out = execFileSync(env.SV_BIN, ['backup', ws, '--inline', '--json'], { env: { ...dep.env, SQLVAULT_FAKE_NOW: String(ms) }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  return JSON.parse(out)
}

const counts = db => ({ todos: Number(sql(db, 'SELECT count(*) FROM todos')), eventlog: Number(sql(db, 'SELECT count(*) FROM eventlog')), notes: Number(sql(db, "SELECT count(*) FROM sqlite_master WHERE name = 'notes'")) ? Number(sql(db, 'SELECT count(*) FROM notes')) : null })

before(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true })
  browser = await chromium.launch({ executablePath: env.SV_CHROMIUM || '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] })
  console.log(`# chromium ${browser.version()}`)
})

after(async () => {
  if (browser) await browser.close()
  await stopAll()
})

test('restore from a time, a listed backup and a file: the preview first, then the restore', { timeout: 240000 }, async () => {
  // incrementals on, as in production: the second backup builds on the first
  const dep = deployment('preview', { extra: { SQLVAULT_FULL_EVERY: '24h' } })
  const live = dep.live('ws-p')
  // makeDb's tables, with event times in ms (INTEGER: the inspect job shows those)
  fs.mkdirSync(path.dirname(live), { recursive: true })
  sql(live, 'CREATE TABLE eventlog (seq INTEGER PRIMARY KEY, name TEXT NOT NULL, args TEXT NOT NULL, created_at INTEGER NOT NULL)')
  makeDb(live, 120)
  const now = Date.now()
  sql(live, `UPDATE eventlog SET created_at = ${now - 4 * HOUR} + seq * 1000`)
  const b1 = backupAt(dep, 'ws-p', now - 3 * HOUR)
  addTodos(live, 80, 'b', now - 2 * HOUR)
  sql(live, "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ('one'), ('two'), ('three'), ('four'), ('five')")
  const b2 = backupAt(dep, 'ws-p', now - 1 * HOUR)
  addTodos(live, 30, 'c', now - 30 * 60000)
  const t1 = Date.parse(b1.timestamp)
  const t2 = Date.parse(b2.timestamp)
  console.log(`# backups ${b1.ts} (${b1.backupType}) and ${b2.ts} (${b2.backupType}, chain ${b2.chainLength})`)
  assert.equal(b2.backupType, 'incremental', 'the second backup is an incremental on the first')
  assert.equal(b2.chainLength, 1, 'one incremental on the full')
  assert.deepEqual(counts(live), { todos: 230, eventlog: 230, notes: 5 })

  startWorker(dep)
  const web = await startWeb(dep, USERS)
  const ctx = await browser.newContext({ viewport: { width: 960, height: 1000 }, timezoneId: TZ, locale: 'en-US' })
  const page = await ctx.newPage()
  const consoleErrors = []
  page.on('console', m => { if (m.type() === 'error') consoleErrors.push(m.text()) })
  const preview = page.getByRole('region', { name: /^Preview/ })
  const okBtn = preview.getByRole('button', { name: 'Restore to this point' })
  const cancelBtn = preview.getByRole('button', { name: 'Cancel' })
  const dialog = page.getByRole('dialog')
  const picker = page.getByLabel('Restore from a time')
  const timeBtn = page.getByRole('button', { name: 'Restore from this time' })
  // the row count a preview side shows for a table ('—' when it has none)
  const rowsOf = async (side, table) => (await page.locator(`#${side} tr`, { has: page.locator('td.name', { hasText: new RegExp(`^${table}$`) }) }).locator('td.num').textContent()).replace(/\s*\(.*$/, '').replace(/,/g, '')
  const differs = async (side, table) => (await page.locator(`#${side} tr`, { has: page.locator('td.name', { hasText: new RegExp(`^${table}$`) }) }).getAttribute('class')) === 'diff'
  try {
    await page.goto(web.url)
    await page.getByLabel('Access token').fill('tok-alice')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.locator('#list tbody tr').nth(1).waitFor({ timeout: T })

    // 1. the picker is bounded to the times the backups cover
    assert.equal(await picker.getAttribute('type'), 'datetime-local')
    assert.equal(await picker.getAttribute('min'), localMinute(Math.ceil(t1 / 60000) * 60000), 'min: the oldest backup (its minute rounded up)')
    const max = Date.parse(`${await picker.getAttribute('max')}:00Z`) - TZ_MS
    assert.ok(Math.abs(max - now) < 5 * 60000, `max is now: ${await picker.getAttribute('max')}`)
    await page.getByText(re(`Backups cover ${fmtTime(t1)} to now`)).waitFor({ timeout: T })

    // 2. a time before the oldest backup is refused in words, nothing read
    const liveBefore = sha3(live)
    const tooEarly = t1 - 45 * 60000
    await picker.fill(localMinute(tooEarly))
    await timeBtn.click()
    const early = page.locator('#time-error')
    await early.waitFor({ timeout: T })
    assert.equal(await text(early), `${fmtMinute(tooEarly)} is before the oldest backup of workspace 'ws-p' (${fmtTime(t1)}): there is no backup of that time. Pick a time at or after it. Nothing was changed.`)
    assert.equal(await preview.isVisible(), false, 'no preview for a refused time')
    await shot(page, '1-time-before-first-backup')

    // 3. a time between the two backups: "Reading the backup…", then the preview
    const pick = Math.floor((t1 + t2) / 2 / 60000) * 60000
    await picker.fill(localMinute(pick))
    assert.equal(await early.isVisible(), false, 'the refusal goes once the time changes')
    // every text the preview's status line shows, from before the click on
    await page.evaluate(() => {
      window.__status = []
      const st = document.getElementById('preview-status')
      new MutationObserver(() => window.__status.push(st.textContent)).observe(st, { childList: true, characterData: true, subtree: true })
    })
    await timeBtn.click()
    await previewReady(page)
    const statuses = await page.evaluate(() => window.__status)
    assert.equal(statuses[0], 'Reading the backup…', `the reading state first: ${JSON.stringify(statuses)}`)
    await shot(page, '2-time-preview')
    assert.equal(await page.locator('#pv-live-h').textContent(), 'Now (live)')
    assert.equal(await text(page.locator('#pv-point-h')), `After restore (${fmtMinute(pick)})`)
    assert.ok((await text(page.locator('#pv-point .meta').first())).startsWith(`The backup of ${fmtTime(t1)} (a full backup)`), 'the point is the earlier backup')
    assert.deepEqual([await rowsOf('pv-live', 'todos'), await rowsOf('pv-point', 'todos')], ['230', '120'], 'todos: live beside the earlier backup')
    assert.deepEqual([await rowsOf('pv-live', 'eventlog'), await rowsOf('pv-point', 'eventlog')], ['230', '120'])
    assert.deepEqual([await rowsOf('pv-live', 'notes'), await rowsOf('pv-point', 'notes')], ['5', '—'], 'a table the backup does not have')
    for (const t of ['todos', 'eventlog', 'notes']) assert.ok(await differs('pv-live', t) && await differs('pv-point', t), `${t} highlighted`)
    assert.match(await page.locator('#pv-point').textContent(), /Read in place, nothing restored: \d+ requests?, .* from the store\./)
    // the newest events, newest first: the live ones are not in the backup
    assert.equal(await text(page.locator('#pv-live .sub')), 'Newest events (event log head: 230)')
    assert.equal(await text(page.locator('#pv-point .sub')), 'Newest events (event log head: 120)')
    const events = side => page.locator(`#${side} .sub + table tbody tr`).evaluateAll(trs => trs.map(tr => [...tr.cells].map(c => c.firstChild.textContent).concat(tr.className)))
    const liveEvents = await events('pv-live')
    const pointEvents = await events('pv-point')
    assert.deepEqual(liveEvents.map(e => e[0]), Array.from({ length: 10 }, (_, i) => String(230 - i)), 'the live log\'s newest ten')
    assert.deepEqual(pointEvents.map(e => e[0]), Array.from({ length: 10 }, (_, i) => String(120 - i)), 'the backup\'s newest ten')
    assert.deepEqual(pointEvents[0].slice(1).map(norm), ['todoCreated', fmtShort(now - 4 * HOUR + 120 * 1000), ''], 'name and time of the backup\'s newest event, not highlighted')
    assert.deepEqual(liveEvents[0].slice(1).map(norm), ['todoCreated', fmtShort(now - 30 * 60000 + 30 * 1000), 'diff'], 'the live newest event, highlighted')
    assert.ok(liveEvents.every(e => e[3] === 'diff') && pointEvents.every(e => e[3] === ''), 'the live events the backup lacks highlighted, no others')
    assert.equal(sha3(live), liveBefore, 'the preview changed nothing')

    // confirmed: the existing confirmation, then the restore
    await okBtn.click()
    await dialog.waitFor({ timeout: T })
    assert.ok((await text(dialog)).includes(`will be replaced by the backup of ${fmtTime(t1)}, the state at ${fmtMinute(pick)}. A safety copy`), await text(dialog))
    await shot(page, '3-time-confirm')
    await dialog.getByRole('button', { name: 'Replace all data' }).click()
    await page.getByText(re(`Workspace 'ws-p' was restored from the backup of ${fmtTime(t1)}`)).waitFor({ timeout: T })
    await shot(page, '4-time-restored')
    assert.deepEqual(counts(live), { todos: 120, eventlog: 120, notes: null }, 'the workspace is the earlier backup')
    assert.equal(await preview.isVisible(), false)

    // 4. a listed backup's restore: its preview first; Cancel changes nothing
    await page.getByRole('button', { name: 'Refresh list' }).click()
    const row = page.locator('#list tbody tr', { hasText: re(fmtTime(t2)) })
    await row.waitFor({ timeout: T })
    const restored1 = sha3(live)
    await row.getByRole('button', { name: /Restore to this point/ }).click()
    await previewReady(page)
    assert.equal(await text(page.locator('#pv-point-h')), `After restore (backup of ${fmtTime(t2)})`)
    assert.ok((await text(page.locator('#pv-point .meta').first())).startsWith(`The backup of ${fmtTime(t2)} (incremental: a full backup + 1 incremental)`), 'the point is the later backup, an incremental')
    assert.deepEqual([await rowsOf('pv-live', 'todos'), await rowsOf('pv-point', 'todos')], ['120', '200'])
    assert.deepEqual([await rowsOf('pv-live', 'notes'), await rowsOf('pv-point', 'notes')], ['—', '5'])
    await shot(page, '5-listed-backup-preview')
    await cancelBtn.click()
    assert.equal(await preview.isVisible(), false)
    assert.equal(await dialog.isVisible(), false, 'no confirmation after Cancel')
    assert.equal(sha3(live), restored1, 'Cancel changed nothing')
    await row.getByRole('button', { name: /Restore to this point/ }).click()
    await okBtn.click({ timeout: T })
    await dialog.getByRole('button', { name: 'Replace all data' }).click()
    await page.getByText(re(`Workspace 'ws-p' was restored from the backup of ${fmtTime(t2)}`)).waitFor({ timeout: T })
    assert.deepEqual(counts(live), { todos: 200, eventlog: 200, notes: 5 }, 'the workspace is the later backup')

    // 5. an uploaded file: its preview first, then the restore
    const other = path.join(dep.dir, 'other.db')
    makeDb(other, 42)
    sql(other, 'PRAGMA journal_mode=DELETE')
    await page.getByLabel('Backup file (.db or .db.zst)').setInputFiles(other)
    await page.getByRole('button', { name: 'Restore from Backup' }).click()
    await previewReady(page)
    assert.equal(await page.locator('#pv-point-h').textContent(), 'After restore (other.db)')
    assert.match(await page.locator('#pv-point .meta').first().textContent(), /^The uploaded file/)
    assert.deepEqual([await rowsOf('pv-live', 'todos'), await rowsOf('pv-point', 'todos')], ['200', '42'])
    await shot(page, '6-file-preview')
    await okBtn.click()
    await dialog.getByText('will be replaced by the contents of other.db').waitFor({ timeout: T })
    await dialog.getByRole('button', { name: 'Replace all data' }).click()
    await page.getByText("Workspace 'ws-p' was restored from other.db").waitFor({ timeout: T })
    assert.equal(sha3(live), sha3(other), 'the workspace is the file')

    // 6. a damaged file: the preview says why, and offers no restore
    const damaged = path.join(dep.dir, 'damaged.db')
    const seed = crypto.randomBytes(4).readUInt32BE()
    console.log(`# damaged file: a SQLite header and 8 KiB of random bytes (seed ${seed})`)
    const junk = Buffer.alloc(8192)
    let x = seed || 1
    for (let i = 0; i < junk.length; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; junk[i] = x & 0xff }
    fs.writeFileSync(damaged, Buffer.concat([Buffer.from('SQLite format 3\0', 'latin1'), junk]))
    const beforeDamaged = sha3(live)
    await page.getByLabel('Backup file (.db or .db.zst)').setInputFiles(damaged)
    await page.getByRole('button', { name: 'Restore from Backup' }).click()
    const pvError = page.locator('#preview-error')
    await previewDone(page)
    assert.match(await pvError.textContent(), /^Nothing to restore from damaged\.db: .+ Nothing was changed; choose another point\.$/)
    assert.equal(await page.locator('#pv-point .pv-body').textContent(), 'This point cannot be read (why: below).')
    assert.equal(await okBtn.isVisible(), false, 'no confirmation for a point that cannot be read')
    await shot(page, '7-damaged-file-preview')
    await cancelBtn.click()
    assert.equal(sha3(live), beforeDamaged, 'the live data intact')
    assert.deepEqual(consoleErrors.filter(e => !/Failed to load resource/.test(e)), [], 'no script errors')
  } finally {
    await ctx.close()
  }
})

// todo: the inspect job of main cannot read a LiveStore store yet (a store
// backup: "link TS of the chain of backup TS is missing: it has no object";
// the live store: "the file does not open as a database"); the page shows
// both messages and offers no restore. Drop the todo once the job reads stores.
test('a LiveStore store: the preview shows its event log\'s newest events beside the live ones', { timeout: 120000 }, async () => {
  const dep = deployment('preview-ls')
  const storeJs = path.join(ROOT, 'tests/livestore/store.mjs')
  const write = n => execFileSync(process.execPath, [storeJs, 'write', dep.data, 'ws-l', '--count', String(n)], { stdio: ['ignore', 'ignore', 'inherit'] })
  write(30)
  const b = JSON.parse(execFileSync(env.SV_BIN, ['backup', 'ws-l', '--inline', '--json'], { env: dep.env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }))
  assert.equal(b.shape, 'store')
  write(20)
  const files = () => fs.readdirSync(path.join(dep.data, 'ws-l')).sort().map(f => `${f} ${crypto.createHash('sha256').update(fs.readFileSync(path.join(dep.data, 'ws-l', f))).digest('hex')}`)
  const before = files()
  startWorker(dep)
  const web = await startWeb(dep, { 'tok-lee': { user: 'lee', workspaces: ['ws-l'] } })
  const ctx = await browser.newContext({ viewport: { width: 960, height: 1000 }, timezoneId: TZ, locale: 'en-US' })
  const page = await ctx.newPage()
  try {
    await page.goto(web.url)
    await page.getByLabel('Access token').fill('tok-lee')
    await page.getByRole('button', { name: 'Sign in' }).click()
    const row = page.locator('#list tbody tr').first()
    await row.waitFor({ timeout: T })
    await row.getByRole('button', { name: /Restore to this point/ }).click()
    const preview = page.getByRole('region', { name: /^Preview/ })
    await previewDone(page)
    await shot(page, '8-livestore-preview')
    if (await page.locator('#preview-error').isVisible()) assert.fail(`the preview offers no restore: ${await page.locator('#preview-error').textContent()}`)
    assert.equal(await text(page.locator('#pv-live .sub')), 'Newest events (event log head: 50)')
    assert.equal(await text(page.locator('#pv-point .sub')), 'Newest events (event log head: 30)')
    const events = side => page.locator(`#${side} .sub + table tbody tr`).evaluateAll(trs => trs.map(tr => [tr.cells[0].textContent, tr.cells[1].firstChild.textContent, tr.className]))
    assert.deepEqual(await events('pv-live'), Array.from({ length: 10 }, (_, i) => [String(50 - i), 'v1.ItemAdded', 'diff']))
    assert.deepEqual(await events('pv-point'), Array.from({ length: 10 }, (_, i) => [String(30 - i), 'v1.ItemAdded', '']))
    // the state's items table: 50 live, 30 in the backup
    const items = side => page.locator(`#${side} tr`, { has: page.locator('td.name', { hasText: /^items$/ }) })
    assert.equal((await items('pv-live').locator('td.num').textContent()).replace(/\s*\(.*$/, ''), '50')
    assert.equal((await items('pv-point').locator('td.num').textContent()).replace(/\s*\(.*$/, ''), '30')
    await preview.getByRole('button', { name: 'Cancel' }).click()
    assert.equal(await preview.isVisible(), false)
    assert.deepEqual(files(), before, 'the live store untouched by the preview')
  } finally {
    await ctx.close()
  }
})

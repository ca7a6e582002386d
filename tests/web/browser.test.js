// browser.test.js -- end to end in headless Chromium (Debian's chromium, driven
// by playwright-core with executablePath; nothing downloads a browser), on a
// file:// store and on the S3 server: sign in, Download Backup, check the
// download is the workspace, change the workspace through the Node side,
// restore the download through the page (its preview, then the confirmation), check
// the workspace equals the download; "Restore to this point" from the list; a
// file that is not a database is refused in words; a second user sees a clear
// refusal. Then the plan's own BackupRestoreSection.tsx, compiled unchanged
// with stand-ins for its two contexts and served from another origin (CORS),
// exports and imports against the server. Screenshots go to SV_ARTIFACTS.
// Started by tests/it/web_browser.sh.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import http from 'node:http'
import { execFileSync } from 'node:child_process'
import { chromium } from 'playwright-core'
import { ROOT, SCRATCH, env, deployment, startWorker, startWeb, stopAll, makeDb, sha3, sql } from './lib.js'

const ARTIFACTS = env.SV_ARTIFACTS || path.join(SCRATCH, 'artifacts')
const T = 60000
let browser
let plan // { url, server }

const USERS = {
  'tok-alice': { user: 'alice', workspaces: ['ws-a', 'ws-a2'] },
  'tok-bob': { user: 'bob', workspaces: ['ws-b'] }
}

async function shot (page, name) {
  const file = path.join(ARTIFACTS, `${name}.png`)
  await page.screenshot({ path: file, fullPage: true })
  console.log(`# screenshot ${file}`)
}

function checkPlanComponent () {
  // the compiled component must be the plan's own, byte for byte
  const ours = fs.readFileSync(path.join(ROOT, 'tests/web/plan/src/components/settings/BackupRestoreSection.tsx'), 'utf8')
  for (const brief of [path.join(ROOT, '..', 'shared', 'brief', 'seed-backup-export-restore.md'), '/work/shared/brief/seed-backup-export-restore.md']) {
    if (!fs.existsSync(brief)) continue
    const s = fs.readFileSync(brief, 'utf8')
    const start = s.indexOf('// packages/web/src/components/settings/BackupRestoreSection.tsx (NEW)')
    assert.ok(start >= 0, 'the brief has the component')
    assert.equal(ours, s.slice(start, s.indexOf('```', start)), `tests/web/plan/... differs from the component in ${brief}`)
    console.log(`# BackupRestoreSection.tsx is identical to the plan's (${brief})`)
    return
  }
  console.log('# the brief is not beside the repository; using the committed copy of BackupRestoreSection.tsx')
}

before(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true })
  checkPlanComponent()
  const out = path.join(SCRATCH, 'plan-build')
  execFileSync(process.execPath, [path.join(ROOT, 'tests/web/plan/build.mjs'), out], { stdio: 'inherit' })
  plan = await new Promise(resolve => {
    const server = http.createServer((req, res) => {
      const name = new URL(req.url, 'http://x').pathname.replace(/^\/+/, '') || 'index.html'
      if (!['index.html', 'bundle.js'].includes(name)) { res.writeHead(404); return res.end() }
      res.writeHead(200, { 'content-type': name.endsWith('.js') ? 'text/javascript' : 'text/html' })
      fs.createReadStream(path.join(out, name)).pipe(res)
    }).listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${server.address().port}` }))
  })
  browser = await chromium.launch({ executablePath: env.SV_CHROMIUM || '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] })
  console.log(`# chromium ${browser.version()}`)
})

after(async () => {
  if (browser) await browser.close()
  if (plan) plan.server.close()
  await stopAll()
})

// A screenshot while a progress label shows bytes ("... of ...") or a stage,
// or, if the work ends before any shows, right away.
async function midProgress (page, selector, ended, name) {
  const end = Date.now() + T
  let best = null
  while (Date.now() < end && !(await ended())) {
    const texts = await page.locator(selector).evaluateAll(els => els.filter(e => e.offsetParent).map(e => e.textContent))
    const t = texts.find(x => / of |: \d/.test(x) && !/^Uploaded|: 0 B of/.test(x)) || null
    if (t) { best = t; break }
    await new Promise(resolve => setTimeout(resolve, 40))
  }
  await shot(page, name)
  console.log(`# ${name}: ${best ? `caught "${best}"` : 'the work ended before a progress figure showed'}`)
}

// The preview every restore shows first (preview.test.js checks what it
// says): waits until it offers "Restore to this point".
function previewOk (page) {
  return page.getByRole('region', { name: /^Preview/ }).getByRole('button', { name: 'Restore to this point' })
}

async function signIn (page, url, token) {
  await page.goto(url)
  await page.getByLabel('Access token').fill(token)
  await page.getByRole('button', { name: 'Sign in' }).click()
}

for (const kind of ['file', 's3']) {
  test(`the page on a ${kind === 'file' ? 'file://' : 'S3'} store: download, change, restore, refusals`, { timeout: 300000 }, async () => {
    const dep = deployment(`browser-${kind}`, { s3: kind === 's3' })
    const live = dep.live('ws-a')
    // on file:// a larger workspace, so the screenshots catch stage and bytes mid-way
    makeDb(live, kind === 'file' ? 150000 : 60000)
    makeDb(dep.live('ws-a2'), 100)
    makeDb(dep.live('ws-b'), 100)
    startWorker(dep)
    const web = await startWeb(dep, USERS, { SQLVAULT_WEB_CORS_ORIGINS: plan.url })
    const ctx = await browser.newContext({ acceptDownloads: true, viewport: { width: 960, height: 1000 } })
    const page = await ctx.newPage()
    const consoleErrors = []
    page.on('console', m => { if (m.type() === 'error') consoleErrors.push(m.text()) })
    try {
      // 1. sign in, Download Backup, the download is the workspace
      await signIn(page, web.url, 'tok-alice')
      await page.getByText('Signed in as alice').waitFor({ timeout: T })
      assert.equal(await page.getByLabel('Workspace', { exact: true }).inputValue(), 'ws-a')
      const original = sha3(live)
      const dlPromise = page.waitForEvent('download', { timeout: T })
      let downloaded = false
      dlPromise.then(() => { downloaded = true }, () => {})
      await page.getByRole('button', { name: 'Download Backup' }).click()
      assert.equal(await page.getByRole('button', { name: 'Download Backup' }).isDisabled(), true, 'disabled while working')
      await midProgress(page, '#export-label', () => downloaded, `${kind}-1-download-progress`)
      const dl = await dlPromise
      const file = path.join(dep.dir, dl.suggestedFilename())
      await dl.saveAs(file)
      assert.match(dl.suggestedFilename(), /^ws-a-\d{8}T\d{6}\.\d{3}Z\.db$/)
      assert.equal(sha3(file), original, 'the download is the workspace')
      await page.getByText('Your download has started').waitFor({ timeout: T })
      await page.locator('#list tbody tr').first().waitFor({ timeout: T })
      await shot(page, `${kind}-2-downloaded`)

      // 2. change the workspace through the Node side
      sql(live, "INSERT INTO todos VALUES ('changed', 'after the download', 0)")
      assert.notEqual(sha3(live), original)

      // 3. restore the downloaded file through the page: it uploads, shows
      // the preview, then asks for the confirmation
      await page.getByLabel('Backup file (.db or .db.zst)').setInputFiles(file)
      await page.getByRole('button', { name: 'Restore from Backup' }).click()
      await midProgress(page, '#upload-label', async () => previewOk(page).isVisible(), `${kind}-3-upload-progress`)
      await previewOk(page).waitFor({ timeout: T })
      await shot(page, `${kind}-3-preview`)
      await previewOk(page).click()
      const dialog = page.getByRole('dialog')
      await dialog.waitFor({ timeout: T })
      assert.match(await dialog.textContent(), /All current data in workspace 'ws-a' will be replaced/)
      await shot(page, `${kind}-3-confirm`)
      await dialog.getByRole('button', { name: 'Replace all data' }).click()
      const restoredText = page.getByText("Workspace 'ws-a' was restored from")
      await midProgress(page, '#restore-label', async () => restoredText.isVisible(), `${kind}-4-restore-progress`)
      await restoredText.waitFor({ timeout: T })
      await shot(page, `${kind}-5-restored`)
      // 4. the workspace equals the downloaded file
      assert.equal(sha3(live), sha3(file), 'the workspace equals the download')
      assert.equal(sql(live, "SELECT count(*) FROM todos WHERE id = 'changed'"), '0')

      // "Restore to this point" from the list: back to the safety copy the restore took
      await page.getByRole('button', { name: 'Refresh list' }).click()
      const safetyRow = page.locator('#list tbody tr', { hasText: 'Safety copy' }).first()
      await safetyRow.waitFor({ timeout: T })
      await safetyRow.getByRole('button', { name: /Restore to this point/ }).click()
      await previewOk(page).click({ timeout: T })
      await dialog.waitFor({ timeout: T })
      await dialog.getByRole('button', { name: 'Replace all data' }).click()
      await page.getByText('was restored from the backup of').waitFor({ timeout: T })
      assert.equal(sql(live, "SELECT count(*) FROM todos WHERE id = 'changed'"), '1', 'back to the data before the restore')
      // the chart is there
      assert.equal(await page.locator('#chart svg circle').count() >= 2, true, 'size chart has the backups')

      // a cancelled preview or confirmation changes nothing; a text file is refused in words
      const beforeBad = sha3(live)
      await page.getByLabel('Backup file (.db or .db.zst)').setInputFiles(file)
      await page.getByRole('button', { name: 'Restore from Backup' }).click()
      await previewOk(page).waitFor({ timeout: T })
      await page.getByRole('region', { name: /^Preview/ }).getByRole('button', { name: 'Cancel' }).click()
      await page.getByRole('button', { name: 'Restore from Backup' }).click()
      await previewOk(page).click({ timeout: T })
      await dialog.getByRole('button', { name: 'Cancel' }).click()
      assert.equal(await page.locator('#restore-error').isVisible(), false)
      assert.equal(await page.locator('#restore-done').isVisible(), false)
      assert.equal(sha3(live), beforeBad, 'data intact after a cancelled preview and confirmation')
      const txt = path.join(dep.dir, 'notes.db')
      fs.writeFileSync(txt, 'these are my notes, not a database\n'.repeat(40))
      await page.getByLabel('Backup file (.db or .db.zst)').setInputFiles(txt)
      await page.getByRole('button', { name: 'Restore from Backup' }).click()
      // file://: the server's upload route refuses it; S3: the browser puts
      // it straight into the store, and the preview's inspect refuses it
      await page.getByText(kind === 'file' ? /Restore failed: .*(SQLite|database).*Your current data was not changed/ : /Nothing to restore from notes\.db: .*(SQLite|database).*Nothing was changed/).waitFor({ timeout: T })
      assert.equal(await previewOk(page).isVisible(), false, 'no restore offered for it')
      await shot(page, `${kind}-6-bad-file`)
      assert.equal(sha3(live), beforeBad, 'data intact after a bad file')
      if (kind === 's3') await page.getByRole('region', { name: /^Preview/ }).getByRole('button', { name: 'Cancel' }).click()

      // Reload keeps the session
      await page.getByLabel('Backup file (.db or .db.zst)').setInputFiles(file)
      await page.getByRole('button', { name: 'Restore from Backup' }).click()
      await previewOk(page).click({ timeout: T })
      await dialog.getByRole('button', { name: 'Replace all data' }).click()
      await page.getByRole('button', { name: 'Reload' }).waitFor({ timeout: T })
      await page.getByRole('button', { name: 'Reload' }).click()
      await page.getByText('Signed in as alice').waitFor({ timeout: T })
      assert.equal(sha3(live), sha3(file))

      // keyboard: the sign-in works with Tab and Enter alone
      const kctx = await browser.newContext()
      const kp = await kctx.newPage()
      await kp.goto(web.url)
      await kp.keyboard.type('tok-alice')
      await kp.keyboard.press('Enter')
      await kp.getByText('Signed in as alice').waitFor({ timeout: T })
      await kctx.close()

      // 5. a second user sees a clear refusal for the first user's workspace
      const bctx = await browser.newContext()
      const bp = await bctx.newPage()
      await signIn(bp, `${web.url}/?workspace=ws-a`, 'tok-bob')
      await bp.getByText("You (bob) do not have access to workspace 'ws-a'").first().waitFor({ timeout: T })
      await bp.getByRole('button', { name: 'Download Backup' }).click()
      await bp.getByText("Download Backup failed: You (bob) do not have access to workspace 'ws-a'").waitFor({ timeout: T })
      await shot(bp, `${kind}-7-second-user-refused`)
      await bctx.close()
      assert.deepEqual(consoleErrors.filter(e => !/Failed to load resource/.test(e)), [], 'no script errors')
    } finally {
      await ctx.close()
    }

    // the plan's own component, from another origin, against the server
    const pctx = await browser.newContext({ acceptDownloads: true })
    const pp = await pctx.newPage()
    try {
      // the component window.open()s the download URL: a popup whose
      // navigation is an attachment; its request and response show at the
      // context (a download event is not reported for such popups here)
      const fetched = []
      pctx.on('response', r => { if (r.url().includes('/download?') || r.url().includes('X-Amz-Signature=')) fetched.push({ url: r.url(), status: r.status(), cd: r.headers()['content-disposition'] || '' }) })
      const dialogs = []
      pp.on('dialog', d => { dialogs.push(`${d.type()}: ${d.message()}`); d.accept() })
      const q = new URLSearchParams({ server: web.url, ws: 'ws-a', token: 'tok-alice' })
      await pp.goto(`${plan.url}/index.html?${q}`)
      const exportBtn = pp.getByRole('button', { name: 'Download Backup' })
      await exportBtn.waitFor({ timeout: T })
      const current = sha3(live)
      const [popup] = await Promise.all([pp.waitForEvent('popup', { timeout: T }), exportBtn.click()])
      const t0 = Date.now()
      while (!fetched.length && Date.now() - t0 < T) await new Promise(resolve => setTimeout(resolve, 50))
      assert.ok(fetched.length, `the component's window.open(downloadUrl) fetched nothing (popup at ${popup.url()})`)
      assert.equal(fetched[0].status, 200, JSON.stringify(fetched[0]))
      assert.match(fetched[0].cd, /^attachment; filename="ws-a-/)
      const pf = path.join(dep.dir, 'plan-download.db')
      const body = await fetch(fetched[0].url)
      assert.equal(body.status, 200)
      fs.writeFileSync(pf, Buffer.from(await body.arrayBuffer()))
      assert.equal(sha3(pf), current, 'the plan component downloads the workspace')
      await shot(pp, `${kind}-8-plan-component`)
      sql(live, "INSERT INTO todos VALUES ('plan', 'changed before the plan import', 0)")
      const reloaded = pp.waitForEvent('load', { timeout: T })
      await pp.locator('input[type=file]').setInputFiles(pf)
      await reloaded
      assert.deepEqual(dialogs, [
        'confirm: Are you sure you want to restore from this backup? This will replace all current data.',
        'alert: Workspace restored successfully. Reloading...'
      ])
      assert.equal(sha3(live), sha3(pf), 'the plan component restores the file')
    } finally {
      await pctx.close()
    }
  })
}

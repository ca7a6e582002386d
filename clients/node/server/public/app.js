// app.js -- the Backup & Restore page (plain JS, no framework, nothing from a CDN).
// It talks to the job API of the reference server: POST /api/workspaces/:id/...
// for jobs, GET /api/jobs/:id/events (Server-Sent Events, read with fetch so the
// token travels in the Authorization header) for progress.
'use strict'

const $ = id => document.getElementById(id)
const state = { token: sessionStorage.getItem('sqlvault-token') || '', me: null, ws: '', busy: false, oldest: null }

function fmtSize (n) {
  n = Number(n) || 0
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++ }
  return i === 0 ? `${n} B` : `${n.toFixed(1)} ${u[i]}`
}

function fmtTime (iso) {
  const d = new Date(iso)
  if (isNaN(d)) return iso
  return d.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' })
}

// an event's time, without the year
function fmtShort (iso) {
  const d = new Date(iso)
  if (isNaN(d)) return iso
  return d.toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' })
}

// a minute in local time, as the time picker shows it
function fmtMinute (ms) {
  return new Date(ms).toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' })
}

const STAGES = { inspect: 'Reading', open: 'Opening', count: 'Counting rows', queued: 'Waiting for a worker', snapshot: 'Taking a consistent snapshot', upload: 'Uploading to the backup store', compress: 'Compressing', fetch: 'Fetching the backup', download: 'Downloading the backup', validate: 'Checking the backup', safety: 'Saving a safety copy of the current data', pause: 'Pausing the workspace', swap: 'Putting the backup in place', export: 'Writing the export', commit: 'Committing the backup', presign: 'Preparing the download link' }
function stageText (job) {
  if (!job) return 'Preparing…'
  if (job.state === 'queued' || job.state === 'retrying') return job.state === 'retrying' ? 'Retrying after a hiccup…' : 'Waiting for a worker…'
  // an export first saves a backup copy in the store, then writes the file to download
  const names = job.type === 'export' ? { ...STAGES, upload: 'Saving a backup copy', snapshot: 'Taking a consistent snapshot' } : STAGES
  const s = job.stage ? (names[job.stage] || job.stage.charAt(0).toUpperCase() + job.stage.slice(1)) : 'Working'
  if (job.bytesTotal > 0) return `${s}: ${fmtSize(job.bytesDone)} of ${fmtSize(job.bytesTotal)}`
  if (job.bytesDone > 0) return `${s}: ${fmtSize(job.bytesDone)}`
  return `${s}…`
}

function show (id, text) { const el = $(id); if (text !== undefined) el.textContent = text; el.hidden = false }
function hide (...ids) { for (const id of ids) $(id).hidden = true }

function setBar (bar, done, total) {
  if (total > 0) { bar.max = total; bar.value = Math.min(done, total) } else { bar.removeAttribute('value') }
}

function setBusy (busy) {
  state.busy = busy
  for (const id of ['export-btn', 'refresh-btn', 'workspace', 'restore-file', 'signout']) $(id).disabled = busy
  $('restore-btn').disabled = busy || !$('restore-file').files.length
  $('restore-time').disabled = busy || state.oldest === null
  $('time-btn').disabled = busy || state.oldest === null || !$('restore-time').value
  for (const b of document.querySelectorAll('#list button')) b.disabled = busy
}

class ApiError extends Error { constructor (status, message) { super(message); this.status = status } }

async function api (method, path, body) {
  let res
  try {
    res = await fetch(path, {
      method,
      headers: { Authorization: `Bearer ${state.token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined
    })
  } catch (e) {
    throw new ApiError(0, 'The server cannot be reached. Check your connection and try again.')
  }
  let data = null
  try { data = await res.json() } catch (_) {}
  if (!res.ok) {
    if (res.status === 401) signOut('Your access token is not valid any more. Sign in again.')
    throw new ApiError(res.status, (data && data.error) || `The server answered ${res.status}.`)
  }
  return data
}

// Follows a job's Server-Sent Events until it ends; onProgress(job) on each update.
async function followJob (jobId, onProgress) {
  const res = await fetch(`/api/jobs/${encodeURIComponent(jobId)}/events`, { headers: { Authorization: `Bearer ${state.token}` } })
  if (!res.ok || !res.body) {
    let err = null
    try { err = (await res.json()).error } catch (_) {}
    throw new ApiError(res.status, err || `Following the job failed (${res.status}).`)
  }
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
  let buf = ''
  for (;;) {
    const { value, done } = await reader.read()
    if (done) break
    buf += value
    let i
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i)
      buf = buf.slice(i + 2)
      let event = 'message'
      let data = ''
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) event = line.slice(7)
        else if (line.startsWith('data: ')) data += line.slice(6)
      }
      if (!data) continue
      const job = JSON.parse(data)
      if (event === 'progress') onProgress(job)
      if (event === 'done') {
        reader.cancel().catch(() => {})
        if (job.state !== 'succeeded') throw new ApiError(job.status || 500, job.message || job.error || `The job ended ${job.state}.`)
        return job
      }
    }
  }
  throw new ApiError(0, 'The connection to the server was lost while the job ran. Refresh the backup list to see where it got.')
}

// ------------------------------------------------------------------ sign in

async function signIn (token) {
  state.token = token
  hide('signin-error')
  try {
    state.me = await api('GET', '/api/me')
  } catch (e) {
    state.token = ''
    sessionStorage.removeItem('sqlvault-token')
    show('signin-error', e.status === 401 ? 'That access token is not valid. Check it and try again.' : e.message)
    $('token').focus()
    return
  }
  sessionStorage.setItem('sqlvault-token', token)
  $('who-name').textContent = `Signed in as ${state.me.user}`
  show('who')
  hide('signin')
  show('app')
  const sel = $('workspace')
  sel.textContent = ''
  // a link may name the workspace (?workspace=WS); the server decides access
  const wanted = new URLSearchParams(location.search).get('workspace')
  const choices = [...state.me.workspaces]
  if (wanted && !choices.includes(wanted)) choices.unshift(wanted)
  for (const ws of choices) {
    const o = document.createElement('option')
    o.value = o.textContent = ws
    sel.appendChild(o)
  }
  if (!choices.length) {
    show('list-error', 'You have no workspaces yet. Ask an administrator for access.')
    $('export-btn').disabled = true
    return
  }
  const saved = sessionStorage.getItem('sqlvault-ws')
  if (wanted) sel.value = wanted
  else if (saved && choices.includes(saved)) sel.value = saved
  state.ws = sel.value
  loadList()
}

function signOut (message) {
  state.token = ''
  state.me = null
  sessionStorage.removeItem('sqlvault-token')
  hide('app', 'who')
  show('signin')
  $('token').value = ''
  if (message) show('signin-error', message)
  else hide('signin-error')
  $('token').focus()
}

// ------------------------------------------------------------------- export

async function doExport () {
  hide('export-error', 'export-result', 'restore-done', 'restore-error')
  setBusy(true)
  const bar = $('export-bar')
  setBar(bar, 0, 0)
  show('export-progress')
  $('export-label').textContent = 'Starting the export…'
  try {
    const { jobId } = await api('POST', `/api/workspaces/${encodeURIComponent(state.ws)}/export`)
    const job = await followJob(jobId, j => {
      $('export-label').textContent = stageText(j)
      setBar(bar, j.bytesDone, j.bytesTotal)
    })
    setBar(bar, 1, 1)
    $('export-label').textContent = 'Export ready'
    const a = document.createElement('a')
    a.href = job.downloadUrl
    a.download = (job.result && job.result.filename) || `${state.ws}.db`
    a.rel = 'noopener'
    document.body.appendChild(a)
    a.click()
    a.remove()
    show('export-result', `Your download has started: ${(job.result && job.result.filename) || 'backup'} (${fmtSize(job.result && job.result.size)}). The link works for ${Math.round((job.expiresIn || 3600) / 60)} minutes.`)
    loadList()
  } catch (e) {
    show('export-error', `Download Backup failed: ${e.message}`)
  } finally {
    hide('export-progress')
    setBusy(false)
  }
}

// ------------------------------------------------------------------ restore

function confirmReplace (text) {
  const dlg = $('confirm')
  $('confirm-text').textContent = text
  return new Promise(resolve => {
    dlg.returnValue = 'cancel'
    dlg.addEventListener('close', () => resolve(dlg.returnValue === 'ok'), { once: true })
    dlg.showModal()
    $('confirm-cancel').focus()
  })
}

function uploadFile (up, file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest()
    xhr.open('PUT', up.uploadUrl)
    if (!up.direct) xhr.setRequestHeader('Authorization', `Bearer ${state.token}`)
    xhr.upload.onprogress = e => onProgress(e.loaded, e.lengthComputable ? e.total : file.size)
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) return resolve()
      let msg = `The upload was refused (${xhr.status}).`
      try { msg = JSON.parse(xhr.responseText).error || msg } catch (_) {}
      reject(new ApiError(xhr.status, msg))
    }
    xhr.onerror = () => reject(new ApiError(0, 'The upload was interrupted. Check your connection and try again.'))
    xhr.send(file)
  })
}

function restoreFinished (text) {
  hide('restore-progress', 'upload-progress')
  show('restore-done')
  $('restore-result').textContent = text
  $('reload-btn').focus()
}

async function runRestore (source, label) {
  const bar = $('restore-bar')
  setBar(bar, 0, 0)
  show('restore-progress')
  $('restore-label').textContent = 'Starting the restore…'
  const { jobId } = await api('POST', `/api/workspaces/${encodeURIComponent(state.ws)}/restore`, { source })
  const job = await followJob(jobId, j => {
    $('restore-label').textContent = stageText(j)
    setBar(bar, j.bytesDone, j.bytesTotal)
  })
  setBar(bar, 1, 1)
  const r = job.result || {}
  restoreFinished(`Workspace '${state.ws}' was restored from ${label}${r.size ? ` (${fmtSize(r.size)})` : ''}. A safety copy of the previous data was saved${r.safety_backup ? ` as the backup of ${fmtTime(isoOf(r.safety_backup))}` : ''}. Reload to see the restored data.`)
  loadList()
}

function isoOf (ts) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})\.(\d{3})Z$/.exec(ts || '')
  return m ? `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${m[7]}Z` : ts
}

async function doRestoreFile () {
  const file = $('restore-file').files[0]
  if (!file) return
  hide('restore-error', 'restore-done', 'export-result', 'export-error')
  if (!/\.(db|zst)$/i.test(file.name)) {
    show('restore-error', `${file.name} is not a backup file: choose a .db or .db.zst file.`)
    return
  }
  if (state.me && file.size > state.me.maxDbSize) {
    show('restore-error', `${file.name} (${fmtSize(file.size)}) is larger than the ${fmtSize(state.me.maxDbSize)} limit. Nothing was changed.`)
    return
  }
  setBusy(true)
  try {
    // the file goes to the store first, so that the preview can read it there
    const up = await api('POST', `/api/workspaces/${encodeURIComponent(state.ws)}/import-url`)
    const bar = $('upload-bar')
    setBar(bar, 0, file.size)
    show('upload-progress')
    $('upload-label').textContent = `Uploading ${file.name}: 0 B of ${fmtSize(file.size)}`
    await uploadFile(up, file, (done, total) => {
      setBar(bar, done, total)
      $('upload-label').textContent = `Uploading ${file.name}: ${fmtSize(done)} of ${fmtSize(total)}`
    })
    hide('upload-progress')
    const seen = await preview({ at: up.uploadId, point: file.name, reading: `Reading ${file.name}…` })
    if (!seen) return
    const ok = await confirmReplace(`All current data in workspace '${state.ws}' will be replaced by the contents of ${file.name} (${fmtSize(file.size)}). A safety copy of the current data is saved first. Continue?`)
    if (!ok) return
    await runRestore(up.uploadId, file.name)
  } catch (e) {
    hide('upload-progress', 'restore-progress')
    show('restore-error', `Restore failed: ${e.message}`)
  } finally {
    setBusy(false)
  }
}

async function doRestoreTo (b) {
  hide('restore-error', 'restore-done', 'export-result', 'export-error', 'time-error')
  const when = fmtTime(b.timestamp || isoOf(b.ts))
  setBusy(true)
  try {
    const seen = await preview({ at: b.ts, point: `backup of ${when}` })
    if (!seen) return
    const ok = await confirmReplace(`All current data in workspace '${state.ws}' will be replaced by the backup of ${when}. A safety copy of the current data is saved first. Continue?`)
    if (!ok) return
    await runRestore(b.ts, `the backup of ${when}`)
  } catch (e) {
    hide('restore-progress')
    show('restore-error', `Restore failed: ${e.message}`)
  } finally {
    setBusy(false)
    $('restore-h').scrollIntoView({ block: 'nearest' })
  }
}

// ------------------------------------------------------- restore from a time

// datetime-local values are local wall-clock minutes ("2026-01-15T10:30")
const pad = n => String(n).padStart(2, '0')
function toLocalInput (ms) {
  const d = new Date(ms)
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`
}
function fromLocalInput (v) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(v || '')
  if (!m) return NaN
  return new Date(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]).getTime()
}

// Bounds the picker to the times the backups cover: from the oldest backup
// (its minute rounded up, so the earliest pick has a backup) to now.
function setTimeRange (list) {
  const times = list.map(b => Date.parse(b.timestamp || isoOf(b.ts))).filter(t => !isNaN(t))
  state.oldest = times.length ? Math.min(...times) : null
  const input = $('restore-time')
  if (state.oldest === null) {
    input.removeAttribute('min')
    input.removeAttribute('max')
    $('restore-time-hint').textContent = 'No backups of this workspace yet: a time can be picked once the first backup exists.'
  } else {
    input.min = toLocalInput(Math.ceil(state.oldest / 60000) * 60000)
    input.max = toLocalInput(Date.now())
    $('restore-time-hint').textContent = `Backups cover ${fmtTime(new Date(state.oldest).toISOString())} to now (your local time). The workspace goes back to the newest backup at or before the time you pick; you see what that holds before anything is replaced.`
  }
  setBusy(state.busy)
}

async function doRestoreTime () {
  hide('restore-error', 'restore-done', 'export-result', 'export-error', 'time-error')
  const v = $('restore-time').value
  const ms = fromLocalInput(v)
  if (isNaN(ms)) { show('time-error', 'Pick a date and a time first.'); return }
  if (state.oldest === null) { show('time-error', `Workspace '${state.ws}' has no backups yet, so there is no time to go back to.`); return }
  if (ms < state.oldest) {
    show('time-error', `${fmtMinute(ms)} is before the oldest backup of workspace '${state.ws}' (${fmtTime(new Date(state.oldest).toISOString())}): there is no backup of that time. Pick a time at or after it. Nothing was changed.`)
    return
  }
  if (ms > Date.now() + 60000) { show('time-error', `${fmtMinute(ms)} is in the future: pick a time up to now. Nothing was changed.`); return }
  const at = new Date(ms).toISOString().replace(/\.000Z$/, 'Z')
  setBusy(true)
  try {
    const r = await preview({ at, point: fmtMinute(ms) })
    if (!r) return
    if (!r.backup) throw new ApiError(500, 'the server did not say which backup holds that time')
    const when = fmtTime(r.at || isoOf(r.backup))
    const ok = await confirmReplace(`All current data in workspace '${state.ws}' will be replaced by the backup of ${when}, the state at ${fmtMinute(ms)}. A safety copy of the current data is saved first. Continue?`)
    if (!ok) return
    // the backup the preview read, not the time again: a backup made since
    // cannot change what is restored
    await runRestore(r.backup, `the backup of ${when}`)
  } catch (e) {
    hide('restore-progress')
    show('restore-error', `Restore failed: ${e.message}`)
  } finally {
    setBusy(false)
  }
}

// --------------------------------------------------------------- the preview

// An inspect job of the current workspace; resolves with its result.
async function inspect (at, onProgress) {
  const { jobId } = await api('POST', `/api/workspaces/${encodeURIComponent(state.ws)}/inspect`, { at })
  const job = await followJob(jobId, onProgress)
  return job.result || {}
}

const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'text') e.textContent = v
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? '' : v)
  }
  for (const k of kids) if (k) e.appendChild(typeof k === 'string' ? document.createTextNode(k) : k)
  return e
}

function colBody (col) { return $(col).querySelector('.pv-body') }

// What one side of the preview says about where its data comes from.
function metaText (r, side) {
  const parts = []
  if (r.source === 'live') parts.push('The workspace as it is now')
  else if (r.source === 'object') parts.push('The uploaded file')
  else if (r.backup) {
    // chainLength: the incrementals replayed onto the full backup
    const n = Number(r.chainLength) || 0
    const kind = r.backupType === 'incremental' ? `incremental${n ? `: a full backup + ${n} incremental${n === 1 ? '' : 's'}` : ''}` : r.backupType === 'full' ? 'a full backup' : (r.backupType || 'a backup')
    parts.push(`The backup of ${fmtTime(r.at || isoOf(r.backup))} (${kind})`)
  }
  if (typeof r.size === 'number') parts.push(fmtSize(r.size))
  return parts.join(' · ')
}

// What reading a point in place took from the store.
function fetchedText (r) {
  if (!r.fetched || r.source === 'live') return ''
  const n = Number(r.fetched.requests || 0)
  return `Read in place, nothing restored: ${n.toLocaleString()} request${n === 1 ? '' : 's'}, ${fmtSize(r.fetched.bytes).replace(' ', '\u00a0')} from the store.`
}

// Draws one side: its tables (the union of both sides' names, so the rows line
// up) with row counts, and its LiveStore events; what differs from the other
// side is highlighted.
function renderSide (col, r, other, side) {
  const body = colBody(col)
  body.textContent = ''
  body.appendChild(el('p', { class: 'meta', text: metaText(r, side) }))
  const mine = new Map((r.tables || []).map(t => [t.name, t.rows]))
  const theirs = other ? new Map((other.tables || []).map(t => [t.name, t.rows])) : null
  const names = [...new Set([...(r.tables || []), ...((other && other.tables) || [])].map(t => t.name))].sort()
  if (!names.length) {
    body.appendChild(el('p', { class: 'muted', text: 'No tables.' }))
  } else {
    const tbody = el('tbody')
    for (const name of names) {
      const has = mine.has(name)
      const n = mine.get(name)
      const differs = theirs && (!theirs.has(name) || !has || theirs.get(name) !== n)
      const cell = el('td', { class: 'num' }, has ? Number(n).toLocaleString() : '—')
      if (!has) cell.title = 'no such table here'
      if (differs && has && side === 'point' && theirs.has(name)) {
        const d = n - theirs.get(name)
        cell.appendChild(el('span', { class: 'delta', text: `(${d > 0 ? '+' : '−'}${Math.abs(d).toLocaleString()})` }))
      }
      if (differs) cell.appendChild(el('span', { class: 'sr-only', text: ' (differs)' }))
      tbody.appendChild(el('tr', { class: differs ? 'diff' : null }, el('td', { class: 'name', text: name }), cell))
    }
    body.appendChild(el('table', {}, el('thead', {}, el('tr', {}, el('th', { scope: 'col', text: 'Table' }), el('th', { scope: 'col', class: 'num', text: 'Rows' }))), tbody))
  }
  const ls = r.livestore
  if (ls) {
    const ols = other && other.livestore
    body.appendChild(el('p', { class: 'sub', text: `Newest events (event log head: ${Number(ls.head).toLocaleString()})` }))
    const tbody = el('tbody')
    const theirsBySeq = ols ? new Map(ols.events.map(e => [e.seq, e.name])) : null
    for (const e of ls.events || []) {
      // the other side has this event if its log reaches this far with the same event here
      const differs = other && (!ols || e.seq > ols.head || (theirsBySeq.has(e.seq) && theirsBySeq.get(e.seq) !== e.name))
      tbody.appendChild(el('tr', { class: differs ? 'diff' : null },
        el('td', { class: 'num', text: String(e.seq) }),
        el('td', { class: 'name' }, e.name, differs ? el('span', { class: 'sr-only', text: ' (differs)' }) : null),
        el('td', { text: e.at ? fmtShort(e.at) : '—', title: e.at ? fmtTime(e.at) : 'no time recorded' })))
    }
    if (!(ls.events || []).length) body.appendChild(el('p', { class: 'muted', text: 'The event log is empty.' }))
    else body.appendChild(el('table', {}, el('thead', {}, el('tr', {}, el('th', { scope: 'col', class: 'num', text: 'Seq' }), el('th', { scope: 'col', text: 'Event' }), el('th', { scope: 'col', text: 'Time' }))), tbody))
  }
  const f = side === 'point' ? fetchedText(r) : ''
  if (f) body.appendChild(el('p', { class: 'meta fetched', text: f }))
}

function sideReading (col, text) {
  const body = colBody(col)
  body.textContent = ''
  body.appendChild(el('p', { class: 'reading', text }))
}

function sideFailed (col, text) {
  const body = colBody(col)
  body.textContent = ''
  body.appendChild(el('p', { class: 'error', text }))
}

let previewDecide = null // resolves the open preview's promise
let previewPoint = null // the point's inspect result, once read
let previewGen = 0

// The preview before a restore: two inspect jobs (the live data and the
// point) side by side. Resolves with the point's result when the user chose
// "Restore to this point", null on Cancel; a point that cannot be read shows
// why and offers no confirmation.
function preview ({ at, point, reading = 'Reading the backup…' }) {
  const gen = ++previewGen
  previewPoint = null
  hide('preview-error', 'preview-ok')
  $('pv-point-h').textContent = `After restore (${point})`
  sideReading('pv-live', 'Reading the live data…')
  sideReading('pv-point', reading)
  show('preview-status', reading)
  show('preview')
  $('preview-cancel').disabled = false
  $('preview-cancel').focus()
  $('preview').scrollIntoView({ block: 'nearest' })
  const decision = new Promise(resolve => { previewDecide = resolve })
  const run = (a, col, first) => inspect(a, j => {
    if (gen !== previewGen) return
    const t = j.state === 'active' && j.stage && j.stage !== 'starting' ? stageText(j) : null
    sideReading(col, t ? `${first} ${t}` : first)
  }).then(r => ({ r }), e => ({ e }))
  Promise.all([run('live', 'pv-live', 'Reading the live data…'), run(at, 'pv-point', reading)]).then(([live, pt]) => {
    if (gen !== previewGen) return
    if (live.e) sideFailed('pv-live', `The live data could not be read: ${live.e.message}`)
    if (pt.e) {
      sideFailed('pv-point', 'This point cannot be read (why: below).')
      if (live.r) renderSide('pv-live', live.r, null, 'live')
      show('preview-error', `Nothing to restore from ${point}: ${pt.e.message}${/[.!?]$/.test(pt.e.message) ? '' : '.'} Nothing was changed; choose another point.`)
      $('preview-status').textContent = 'The point could not be read.'
      return
    }
    if (live.r) renderSide('pv-live', live.r, pt.r, 'live')
    renderSide('pv-point', pt.r, live.r || null, 'point')
    const legend = el('p', { class: 'legend' }, 'Compare the two sides, then restore or cancel. ', live.r ? el('mark', { text: 'Highlighted' }) : null, live.r ? ' rows differ.' : '')
    const st = $('preview-status')
    st.textContent = ''
    st.appendChild(legend)
    previewPoint = pt.r
    show('preview-ok')
    $('preview-ok').focus()
  })
  return decision
}

function previewChoice (ok) {
  const decide = previewDecide
  if (!decide) return
  previewDecide = null
  previewGen++
  hide('preview', 'preview-ok', 'preview-error')
  decide(ok ? previewPoint : null)
}

// ---------------------------------------------------------------- the list

const TYPES = { full: 'Full', 'pre-restore': 'Safety copy', incremental: 'Incremental' }
// why a backup was made, in words (backups made by other tools keep their own word)
const REASONS = { scheduled: 'Schedule', manual: 'On request', dirty: 'After changes', 'pre-restore': 'Before a restore', import: 'Upload', export: 'Download', retry: 'Retry', cli: 'Command line', verify: 'Restore drill' }
const TYPE_TITLES = { 'pre-restore': 'The data as it was just before a restore', full: 'A complete backup', incremental: 'Only what changed since the backup before it; restoring it replays the changes onto the full backup it builds on' }

function drawChart (backups) {
  const pts = backups.filter(b => typeof b.databaseSize === 'number').map(b => ({ t: Date.parse(b.timestamp || isoOf(b.ts)), v: b.databaseSize })).filter(p => !isNaN(p.t)).sort((a, b) => a.t - b.t)
  const box = $('chart')
  box.textContent = ''
  if (pts.length < 1) { hide('chart-box'); return }
  const W = 600; const H = 120; const L = 56; const R = 10; const T = 10; const B = 22
  const t0 = pts[0].t; const t1 = pts[pts.length - 1].t
  const vmax = Math.max(...pts.map(p => p.v)) * 1.1 || 1
  const x = t => L + (t1 > t0 ? (t - t0) / (t1 - t0) : 0.5) * (W - L - R)
  const y = v => H - B - (v / vmax) * (H - T - B)
  const ns = 'http://www.w3.org/2000/svg'
  const svg = document.createElementNS(ns, 'svg')
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`)
  svg.setAttribute('role', 'img')
  svg.setAttribute('aria-label', `Backup size over time: from ${fmtSize(pts[0].v)} to ${fmtSize(pts[pts.length - 1].v)} across ${pts.length} backups`)
  const el = (name, attrs, text) => { const e = document.createElementNS(ns, name); for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v); if (text) e.textContent = text; svg.appendChild(e); return e }
  el('line', { x1: L, y1: H - B, x2: W - R, y2: H - B, class: 'axis' })
  el('line', { x1: L, y1: T, x2: L, y2: H - B, class: 'axis' })
  el('text', { x: L - 4, y: T + 8, 'text-anchor': 'end' }, fmtSize(vmax / 1.1))
  el('text', { x: L - 4, y: H - B, 'text-anchor': 'end' }, '0')
  el('text', { x: L, y: H - 6, 'text-anchor': 'start' }, fmtTime(new Date(t0).toISOString()))
  if (t1 > t0) el('text', { x: W - R, y: H - 6, 'text-anchor': 'end' }, fmtTime(new Date(t1).toISOString()))
  el('polyline', { points: pts.map(p => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(' '), class: 'line' })
  for (const p of pts) el('circle', { cx: x(p.t).toFixed(1), cy: y(p.v).toFixed(1), r: 3, class: 'dot' })
  box.appendChild(svg)
  show('chart-box')
}

async function loadList () {
  const ws = state.ws
  hide('list-error')
  let data
  try {
    data = await api('GET', `/api/workspaces/${encodeURIComponent(ws)}/backups`)
  } catch (e) {
    show('list-error', `The backup list could not be loaded: ${e.message}`)
    return
  }
  if (ws !== state.ws) return
  const tbody = $('list').querySelector('tbody')
  tbody.textContent = ''
  const list = data.backups.filter(b => !b.error)
  setTimeRange(list)
  if (!list.length) { hide('list', 'chart-box'); show('list-empty'); return }
  hide('list-empty')
  for (const b of list) {
    const tr = document.createElement('tr')
    const when = fmtTime(b.timestamp || isoOf(b.ts))
    const reason = typeof b.reason === 'string' ? b.reason : ''
    const cells = [when, TYPES[b.backupType] || b.backupType || '?', fmtSize(b.databaseSize), Object.hasOwn(REASONS, reason) ? REASONS[reason] : reason.slice(0, 80) || '—', b.verified ? 'Yes' : 'Not yet']
    cells.forEach((c, i) => {
      const td = document.createElement('td')
      td.textContent = c
      if (i === 2) td.className = 'num'
      if (i === 1 && TYPE_TITLES[b.backupType]) td.title = TYPE_TITLES[b.backupType]
      tr.appendChild(td)
    })
    const td = document.createElement('td')
    const btn = document.createElement('button')
    btn.type = 'button'
    btn.textContent = 'Restore to this point'
    btn.setAttribute('aria-label', `Restore to this point: ${when}`)
    btn.disabled = state.busy
    btn.addEventListener('click', () => doRestoreTo(b))
    td.appendChild(btn)
    tr.appendChild(td)
    tbody.appendChild(tr)
  }
  show('list')
  drawChart(list)
}

// ------------------------------------------------------------------- wiring

document.addEventListener('DOMContentLoaded', () => {
  $('signin-form').addEventListener('submit', e => { e.preventDefault(); signIn($('token').value.trim()) })
  $('signout').addEventListener('click', () => signOut())
  $('workspace').addEventListener('change', e => {
    state.ws = e.target.value
    sessionStorage.setItem('sqlvault-ws', state.ws)
    hide('export-result', 'export-error', 'restore-error', 'restore-done', 'time-error')
    $('restore-time').value = ''
    loadList()
  })
  $('export-btn').addEventListener('click', doExport)
  $('restore-file').addEventListener('change', () => { hide('restore-error', 'restore-done'); $('restore-btn').disabled = state.busy || !$('restore-file').files.length })
  $('restore-btn').addEventListener('click', doRestoreFile)
  $('refresh-btn').addEventListener('click', loadList)
  $('restore-time').addEventListener('input', () => { hide('time-error'); setBusy(state.busy) })
  $('restore-time').addEventListener('focus', () => { if (state.oldest !== null) $('restore-time').max = toLocalInput(Date.now()) })
  $('time-btn').addEventListener('click', doRestoreTime)
  $('preview-ok').addEventListener('click', () => previewChoice(true))
  $('preview-cancel').addEventListener('click', () => previewChoice(false))
  $('reload-btn').addEventListener('click', () => window.location.reload())
  if (state.token) signIn(state.token)
  else $('token').focus()
})

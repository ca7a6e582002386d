// app.js -- the Backup & Restore page (plain JS, no framework, nothing from a CDN).
// It talks to the job API of the reference server: POST /api/workspaces/:id/...
// for jobs, GET /api/jobs/:id/events (Server-Sent Events, read with fetch so the
// token travels in the Authorization header) for progress.
'use strict'

const $ = id => document.getElementById(id)
const state = { token: sessionStorage.getItem('sqlvault-token') || '', me: null, ws: '', busy: false }

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

const STAGES = { queued: 'Waiting for a worker', snapshot: 'Taking a consistent snapshot', upload: 'Uploading to the backup store', compress: 'Compressing', fetch: 'Fetching the backup', download: 'Downloading the backup', validate: 'Checking the backup', safety: 'Saving a safety copy of the current data', pause: 'Pausing the workspace', swap: 'Putting the backup in place', export: 'Writing the export', commit: 'Committing the backup', presign: 'Preparing the download link' }
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
  const ok = await confirmReplace(`All current data in workspace '${state.ws}' will be replaced by the contents of ${file.name} (${fmtSize(file.size)}). A safety copy of the current data is saved first. Continue?`)
  if (!ok) return
  setBusy(true)
  try {
    const up = await api('POST', `/api/workspaces/${encodeURIComponent(state.ws)}/import-url`)
    const bar = $('upload-bar')
    setBar(bar, 0, file.size)
    show('upload-progress')
    $('upload-label').textContent = `Uploading ${file.name}: 0 B of ${fmtSize(file.size)}`
    await uploadFile(up, file, (done, total) => {
      setBar(bar, done, total)
      $('upload-label').textContent = `Uploading ${file.name}: ${fmtSize(done)} of ${fmtSize(total)}`
    })
    $('upload-label').textContent = `Uploaded ${file.name} (${fmtSize(file.size)})`
    await runRestore(up.uploadId, file.name)
  } catch (e) {
    hide('upload-progress', 'restore-progress')
    show('restore-error', `Restore failed: ${e.message}`)
  } finally {
    setBusy(false)
  }
}

async function doRestoreTo (b) {
  hide('restore-error', 'restore-done', 'export-result', 'export-error')
  const ok = await confirmReplace(`All current data in workspace '${state.ws}' will be replaced by the backup of ${fmtTime(b.timestamp || isoOf(b.ts))}. A safety copy of the current data is saved first. Continue?`)
  if (!ok) return
  setBusy(true)
  try {
    await runRestore(b.ts, `the backup of ${fmtTime(b.timestamp || isoOf(b.ts))}`)
  } catch (e) {
    hide('restore-progress')
    show('restore-error', `Restore failed: ${e.message}`)
  } finally {
    setBusy(false)
  }
  $('restore-h').scrollIntoView({ block: 'nearest' })
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
    hide('export-result', 'export-error', 'restore-error', 'restore-done')
    loadList()
  })
  $('export-btn').addEventListener('click', doExport)
  $('restore-file').addEventListener('change', () => { hide('restore-error', 'restore-done'); $('restore-btn').disabled = state.busy || !$('restore-file').files.length })
  $('restore-btn').addEventListener('click', doRestoreFile)
  $('refresh-btn').addEventListener('click', loadList)
  $('reload-btn').addEventListener('click', () => window.location.reload())
  if (state.token) signIn(state.token)
  else $('token').focus()
})

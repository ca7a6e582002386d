// admin.js -- the ops console page: polls /api/admin/overview every 2 s and
// renders it with textContent only (job ids, workspaces and errors are data,
// never markup); Retry and Cancel POST to /api/admin/jobs/:id/{retry,cancel}.
'use strict'
const $ = id => document.getElementById(id)
const state = { token: sessionStorage.getItem('sqlvault-token') || '', timer: null }

function el (tag, text, cls) {
  const e = document.createElement(tag)
  if (text !== undefined && text !== null) e.textContent = String(text)
  if (cls) e.className = cls
  return e
}
const when = ms => ms ? new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-'
const pct = r => `${(100 * (r || 0)).toFixed(2)}%`
const size = n => n >= 1048576 ? `${(n / 1048576).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n || 0} B`

function showError (msg) { $('error').textContent = msg; $('error').hidden = !msg }
function notice (msg) { $('notice').textContent = msg; $('notice').hidden = !msg }

async function api (path, opts = {}) {
  const r = await fetch(path, { ...opts, headers: { authorization: `Bearer ${state.token}`, 'content-type': 'application/json', ...(opts.headers || {}) } })
  let body = null
  try { body = await r.json() } catch (_) {}
  if (!r.ok) {
    const e = new Error((body && body.error) || `HTTP ${r.status}`)
    e.status = r.status
    throw e
  }
  return body
}

function fill (tbody, rows, cols, empty) {
  tbody.replaceChildren()
  if (!rows.length) {
    const tr = el('tr')
    const td = el('td', empty, 'empty')
    td.colSpan = cols
    tr.append(td)
    tbody.append(tr)
    return
  }
  for (const r of rows) tbody.append(r)
}

function button (label, action, job, pool) {
  const b = el('button', label)
  b.type = 'button'
  b.dataset.action = action
  b.dataset.job = job
  b.addEventListener('click', async () => {
    b.disabled = true
    try {
      const r = await api(`/api/admin/jobs/${encodeURIComponent(job)}/${action}`, { method: 'POST', body: JSON.stringify({ pool }) })
      notice(action === 'retry' ? `Job ${job} retried as ${r.jobId}.` : `Job ${job}: ${r.state}.`)
      showError('')
      refresh()
    } catch (e) {
      showError(`${action} of ${job} failed: ${e.message}`)
      b.disabled = false
    }
  })
  return b
}

function jobRow (j, pool, actions) {
  const tr = el('tr')
  tr.dataset.job = j.id
  tr.append(el('td', j.id), el('td', j.type), el('td', j.workspace || '-'), el('td', j.state),
    el('td', `${j.attempt || 0}/${j.max_attempts || '-'}`))
  const err = el('td', null, 'err')
  err.append(el('div', j.error || '', 'errtext'))
  tr.append(err)
  const td = el('td')
  for (const a of actions) td.append(button(a === 'retry' ? 'Retry' : 'Cancel', a, j.id, pool))
  tr.append(td)
  return tr
}

function renderPool (p) {
  const node = $('pool-tpl').content.firstElementChild.cloneNode(true)
  node.dataset.pool = p.pool
  node.querySelector('.pool-name').textContent = `Pool ${p.pool}`
  const set = (k, v, bad) => { const n = node.querySelector(`[data-k="${k}"]`); n.textContent = v; if (bad) n.parentElement.classList.add('bad') }
  set('interactive', p.queued.interactive)
  set('dirty', p.queued.dirty)
  set('scheduled', p.queued.scheduled)
  set('delayed', p.delayed)
  set('active', p.active)
  set('workers', p.workersAlive, p.workersAlive < 1)
  set('ratio', pct(p.failureRatio), p.failureRatio > 0.01)
  fill(node.querySelector('.active-jobs tbody'), p.activeJobs.map(j => {
    const tr = el('tr')
    tr.dataset.job = j.id
    const prog = el('progress')
    if (j.bytes_total) { prog.max = j.bytes_total; prog.value = j.bytes_done || 0 }
    const pt = el('td')
    pt.append(prog, el('span', j.bytes_total ? ` ${size(j.bytes_done)} / ${size(j.bytes_total)}` : ''))
    const act = el('td')
    act.append(button('Cancel', 'cancel', j.id, p.pool))
    tr.append(el('td', j.id), el('td', j.type), el('td', j.workspace || '-'), el('td', j.stage || '-'), pt, el('td', j.worker), act)
    return tr
  }), 7, 'No job is running.')
  fill(node.querySelector('.workers tbody'), p.workers.map(w => {
    const tr = el('tr')
    tr.append(el('td', w.id), el('td', when(w.lastSeen)), el('td', w.alive ? 'alive' : 'gone'))
    return tr
  }), 3, 'No worker has sent a heartbeat.')
  fill(node.querySelector('.failures tbody'), p.failures.map(j =>
    jobRow(j, p.pool, j.state === 'retrying' ? ['cancel'] : ['retry'])), 7, 'No recent failure.')
  fill(node.querySelector('.dead tbody'), p.dead.map(j =>
    jobRow(j, p.pool, j.state === 'failed' || j.state === 'cancelled' ? ['retry'] : [])), 7, 'No dead letter.')
  return node
}

function render (o) {
  $('who-name').textContent = `${o.user} (admin)`
  $('updated').textContent = `updated ${o.at.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}`
  const s = o.scheduler
  $('sched-summary').textContent = s.lastResult
    ? `Last tick ${s.lastResult.tick}: ${s.lastResult.failed} of ${s.lastResult.backups} backups failed (${pct(s.lastResult.ratio)})${s.lastResult.alert ? ' — ALERT' : ''}. Leader: ${s.leader || 'none'}.`
    : `No tick evaluated yet${s.lastTick ? ` (last tick run ${s.lastTick})` : ''}. Leader: ${s.leader || 'none'}.`
  fill($('alerts').querySelector('tbody'), s.alerts.map(a => {
    const tr = el('tr')
    tr.append(el('td', a.tick), el('td', a.failed), el('td', a.total), el('td', pct(a.ratio)))
    return tr
  }), 4, 'No alert.')
  const reps = o.replicas || []
  $('replicas').hidden = !reps.length
  fill($('replica-table').querySelector('tbody'), reps.map(r => {
    const tr = el('tr', null, r.lagSeconds > (o.scheduleSeconds || 21600) ? 'behind' : '')
    tr.dataset.store = r.store
    tr.append(el('td', r.store), el('td', r.behind ? dur(r.lagSeconds) : 'up to date'), el('td', r.behind),
      el('td', r.oldest ? when(r.oldest) : '-'))
    return tr
  }), 4, 'No replica store.')
  $('pools').replaceChildren(...o.pools.map(renderPool))
}

function dur (s) {
  s = Math.round(s || 0)
  if (s < 90) return `${s} s`
  if (s < 5400) return `${Math.round(s / 60)} min`
  if (s < 172800) return `${(s / 3600).toFixed(1)} h`
  return `${(s / 86400).toFixed(1)} days`
}

async function refresh () {
  try {
    render(await api('/api/admin/overview'))
    showError('')
  } catch (e) {
    if (e.status === 401) return signout(e.message)
    showError(e.message)
  }
}

function signout (why) {
  clearInterval(state.timer)
  state.token = ''
  sessionStorage.removeItem('sqlvault-token')
  $('console').hidden = true
  $('who').hidden = true
  $('signin').hidden = false
  showError(why || '')
}

async function start () {
  try {
    render(await api('/api/admin/overview'))
  } catch (e) {
    return signout(e.message)
  }
  sessionStorage.setItem('sqlvault-token', state.token)
  $('signin').hidden = true
  $('who').hidden = false
  $('console').hidden = false
  showError('')
  clearInterval(state.timer)
  state.timer = setInterval(refresh, 2000)
}

$('signin-form').addEventListener('submit', ev => {
  ev.preventDefault()
  state.token = $('token').value.trim()
  start()
})
$('signout').addEventListener('click', () => signout(''))
if (state.token) start()

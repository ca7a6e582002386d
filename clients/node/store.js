// store.js -- read-only access to a sqlvault store (file:// or s3://) from
// Node: enough to list a workspace's backups the way `sqlvault list --json`
// does. Jobs (backups, exports, restores) always go through the queue and a
// worker; this module never writes.
//
// The store comes from the same variables the worker reads (README.md):
// SQLVAULT_STORE, SQLVAULT_S3_ENDPOINT, SQLVAULT_S3_REGION,
// AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY and the seed's R2_* aliases.
import fs from 'node:fs'
import path from 'node:path'
import crypto from 'node:crypto'

const TS_RE = /^\d{8}T\d{6}\.\d{3}Z$/

// storeConfig(env) -> { kind: 'file', root } | { kind: 's3', bucket, prefix, endpoint, region, accessKeyId, secretAccessKey }
export function storeConfig (env = process.env) {
  let url = env.SQLVAULT_STORE
  let endpoint = env.SQLVAULT_S3_ENDPOINT || env.R2_ENDPOINT || ''
  if (!url && env.R2_BUCKET_NAME) url = `s3://${env.R2_BUCKET_NAME}/backups/`
  if (!url) url = 'file://./var/backups'
  if (url.startsWith('file://')) {
    const p = url.slice('file://'.length)
    return { kind: 'file', root: path.resolve(p || '.') }
  }
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url)
  if (!m) throw new Error(`SQLVAULT_STORE '${url}' is neither file:///path nor s3://bucket/prefix/`)
  let prefix = m[2]
  if (prefix && !prefix.endsWith('/')) prefix += '/'
  let region = env.SQLVAULT_S3_REGION || env.AWS_REGION || 'auto'
  if (!endpoint) endpoint = `https://s3.${region === 'auto' ? 'us-east-1' : region}.amazonaws.com`
  return {
    kind: 's3',
    bucket: m[1],
    prefix,
    endpoint: endpoint.replace(/\/+$/, ''),
    region,
    accessKeyId: env.AWS_ACCESS_KEY_ID || env.R2_ACCESS_KEY_ID || '',
    secretAccessKey: env.AWS_SECRET_ACCESS_KEY || env.R2_SECRET_ACCESS_KEY || ''
  }
}

const enc = s => encodeURIComponent(s).replace(/[!'()*]/g, c => '%' + c.charCodeAt(0).toString(16).toUpperCase())
const sha256 = b => crypto.createHash('sha256').update(b).digest('hex')
const hmac = (k, s) => crypto.createHmac('sha256', k).update(s).digest()

// A SigV4-signed GET of path-style `endpoint/bucket/key?query` (header auth).
function signedGet (cfg, key, query = {}) {
  const u = new URL(cfg.endpoint)
  const basePath = u.pathname.replace(/\/+$/, '')
  const canonPath = `${basePath}/${enc(cfg.bucket)}${key ? '/' + key.split('/').map(enc).join('/') : ''}`
  const qs = Object.keys(query).sort().map(k => `${enc(k)}=${enc(query[k])}`).join('&')
  const amzDate = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '')
  const day = amzDate.slice(0, 8)
  const payload = sha256('')
  const headers = { host: u.host, 'x-amz-content-sha256': payload, 'x-amz-date': amzDate }
  const signed = Object.keys(headers).sort()
  const canon = ['GET', canonPath, qs, signed.map(h => `${h}:${headers[h]}\n`).join(''), signed.join(';'), payload].join('\n')
  const scope = `${day}/${cfg.region}/s3/aws4_request`
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canon)].join('\n')
  let k = hmac('AWS4' + cfg.secretAccessKey, day)
  k = hmac(hmac(hmac(k, cfg.region), 's3'), 'aws4_request')
  const sig = crypto.createHmac('sha256', k).update(toSign).digest('hex')
  return {
    url: `${u.protocol}//${u.host}${canonPath}${qs ? '?' + qs : ''}`,
    headers: {
      'x-amz-content-sha256': payload,
      'x-amz-date': amzDate,
      authorization: `AWS4-HMAC-SHA256 Credential=${cfg.accessKeyId}/${scope}, SignedHeaders=${signed.join(';')}, Signature=${sig}`
    }
  }
}

const unxml = s => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&')

async function s3Fetch (cfg, key, query) {
  const { url, headers } = signedGet(cfg, key, query)
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(30000) })
  return res
}

// A store reader: list(prefix) -> [{ key, size }] in key order; getText(key) -> string | null.
export function openStore (cfg = storeConfig()) {
  if (cfg.kind === 'file') {
    return {
      cfg,
      async list (prefix) {
        const out = []
        const walk = async (dir, rel) => {
          let names
          try { names = await fs.promises.readdir(dir, { withFileTypes: true }) } catch (e) {
            if (e.code === 'ENOENT') return
            throw e
          }
          names.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
          for (const d of names) {
            if (d.name.startsWith('.')) continue
            const r = rel + d.name
            if (d.isDirectory()) await walk(path.join(dir, d.name), r + '/')
            else if (d.isFile()) out.push({ key: r, size: (await fs.promises.stat(path.join(dir, d.name))).size })
          }
        }
        await walk(path.join(cfg.root, prefix), prefix)
        return out
      },
      async getText (key) {
        try { return await fs.promises.readFile(path.join(cfg.root, key), 'utf8') } catch (e) {
          if (e.code === 'ENOENT') return null
          throw e
        }
      },
      // The local path of a key (file stores only).
      pathOf (key) { return path.join(cfg.root, key) }
    }
  }
  return {
    cfg,
    async list (prefix) {
      const out = []
      let token = null
      for (;;) {
        const q = { 'list-type': '2', prefix: cfg.prefix + prefix }
        if (token) q['continuation-token'] = token
        const res = await s3Fetch(cfg, '', q)
        const body = await res.text()
        if (res.status !== 200) throw new Error(`listing ${prefix} in the store failed: HTTP ${res.status} ${body.slice(0, 200)}`)
        for (const m of body.matchAll(/<Contents>([\s\S]*?)<\/Contents>/g)) {
          const k = /<Key>([\s\S]*?)<\/Key>/.exec(m[1])
          const s = /<Size>(\d+)<\/Size>/.exec(m[1])
          if (k) out.push({ key: unxml(k[1]).slice(cfg.prefix.length), size: s ? Number(s[1]) : 0 })
        }
        const t = /<NextContinuationToken>([\s\S]*?)<\/NextContinuationToken>/.exec(body)
        if (!/<IsTruncated>true<\/IsTruncated>/.test(body) || !t) break
        token = unxml(t[1])
      }
      return out
    },
    async getText (key) {
      const res = await s3Fetch(cfg, cfg.prefix + key)
      if (res.status === 404) { await res.arrayBuffer(); return null }
      const body = await res.text()
      if (res.status !== 200) throw new Error(`reading ${key} from the store failed: HTTP ${res.status}`)
      return body
    }
  }
}

const PAGES_RE = /^pages-(\d{8}T\d{6}\.\d{3}Z)\.zst$/
// An incremental's metadata.json is read only for the newest ones: a workspace
// backed up every minute has tens of thousands of them, and the listing alone
// tells their time, parent and stored size.
const INCREMENTAL_META = 100

// The committed backups of a workspace, newest first, with the fields of
// `sqlvault list --json`, plus `storedSize` (the object's bytes). An
// incremental (object pages-PARENT.zst, include/chain.h) also has `parent`.
export async function listBackups (store, workspace) {
  const base = `full/${workspace}/`
  const folders = new Map()
  for (const e of await store.list(base)) {
    const rest = e.key.slice(base.length)
    const slash = rest.indexOf('/')
    if (slash < 0) continue
    const ts = rest.slice(0, slash)
    if (!TS_RE.test(ts)) continue
    const f = folders.get(ts) || { ts, committed: false, verified: false, storedSize: 0 }
    const name = rest.slice(slash + 1)
    if (name === 'metadata.json') f.committed = true
    else if (name === 'verify.json') f.hasVerify = true
    else if (name.startsWith('livestore.db')) f.storedSize = e.size
    else {
      const pm = PAGES_RE.exec(name)
      if (pm) {
        f.storedSize = e.size
        f.parent = pm[1]
      }
    }
    folders.set(ts, f)
  }
  const committed = [...folders.values()].filter(f => f.committed).sort((a, b) => (a.ts < b.ts ? 1 : -1))
  let incrementals = 0
  for (const f of committed) if (f.parent && ++incrementals > INCREMENTAL_META) f.listingOnly = true
  const out = new Array(committed.length)
  let next = 0
  const worker = async () => {
    while (next < committed.length) {
      const i = next++
      const f = committed[i]
      const o = { ts: f.ts }
      if (f.parent) o.parent = f.parent
      if (f.listingOnly) {
        o.timestamp = `${f.ts.slice(0, 4)}-${f.ts.slice(4, 6)}-${f.ts.slice(6, 8)}T${f.ts.slice(9, 11)}:${f.ts.slice(11, 13)}:${f.ts.slice(13)}`
        o.backupType = 'incremental'
        o.storedSize = f.storedSize
        o.verified = false
        out[i] = o
        continue
      }
      try {
        // a committed metadata.json never changes: read each once per store reader
        const mkey = `${base}${f.ts}/metadata.json`
        if (!store.metaCache) store.metaCache = new Map()
        let meta = store.metaCache.get(mkey)
        if (!meta) {
          meta = JSON.parse(await store.getText(mkey))
          if (store.metaCache.size >= 10000) store.metaCache.delete(store.metaCache.keys().next().value)
          store.metaCache.set(mkey, meta)
        }
        for (const k of ['timestamp', 'backupType', 'databaseSize', 'compressedSize', 'checksum', 'reason', 'base', 'chainLength']) {
          if (meta[k] !== undefined) o[k] = meta[k]
        }
        o.storedSize = f.storedSize
        o.verified = false
        if (f.hasVerify) {
          const v = JSON.parse(await store.getText(`${base}${f.ts}/verify.json`) || '{}')
          o.verified = v.ok === true
          o.verifyOk = v.ok === true
          if (v.verifiedAt) o.verifiedAt = v.verifiedAt
        }
      } catch (e) {
        o.error = e.message
      }
      out[i] = o
    }
  }
  await Promise.all(Array.from({ length: Math.min(8, committed.length) }, worker))
  return out
}

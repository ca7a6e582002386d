#!/usr/bin/env node
// r2proxy: an HTTP reverse proxy that makes the local S3 server (s3rver)
// behave like Cloudflare R2 where the difference matters to sqlvault, records
// every request, and injects faults on demand. Standard library only.
//
// What it does in front of s3rver (see tests/servers/README.md for the API):
//   - forwards every request unchanged: method, raw path and query and every
//     header, Host included, so the client's SigV4 signature still verifies
//     in s3rver (s3rver checks against the Host header it receives, which is
//     the proxy's host:port the client signed);
//   - receives PutObject and UploadPart bodies whole before s3rver sees them
//     (memory, or a spool file when large): s3rver writes in place, and a
//     PUT cut off half way would leave a truncated object where R2 keeps
//     the old one;
//   - logs every request (op, method, path, query keys, Range, status, body
//     bytes in and out, fault) into a bounded in-memory log served by the
//     control API, and keeps per-key totals (requests, GETs, range GETs,
//     bytes) that a test reads and resets by key prefix (GET /stats);
//   - fixes s3rver's bounded range GETs where it answers wrongly: "bytes=0-0"
//     gets the whole object, and a range on an empty object gets 206 with a
//     Content-Length of 1 and no body (see fixRange);
//   - enforces R2's multipart rules on CompleteMultipartUpload: every part but
//     the last has the same size, at least 5 MiB, and the last is no larger;
//     the listed parts exist with their ETags and come in ascending order;
//   - implements AbortMultipartUpload, ListMultipartUploads and ListParts
//     itself (s3rver 5.0.0 has none of them) from the uploads it has seen;
//   - answers ListObjects / ListObjectsV2 with a delimiter itself, as S3 and
//     R2 do (s3rver folds only one level below the prefix, and its pages
//     lose keys): from every key under the prefix, listed upstream without
//     a delimiter in a way that sees them all (see upstreamObjects);
//   - answers a PUT with `If-None-Match: *` on an existing key with 412;
//   - refuses what R2 refuses and s3rver accepts: unsigned requests,
//     aws-chunked (STREAMING-*) payloads, PUT bodies without Content-Length,
//     bodies whose x-amz-content-sha256 or Content-MD5 do not match;
//   - injects faults (5xx answers, connection resets mid-request or
//     mid-response, latency) chosen by a seeded PRNG so runs repeat.
//
// Usage: r2proxy.js --upstream http://127.0.0.1:PORT [--port 0] [--control-port 0]
//        [--address 127.0.0.1] [--s3rver-dir DIR] [--port-file FILE]
//        [--credentials AK:SK]... [--allow-anonymous] [--min-part-size BYTES]
//        [--log-limit N] [--spool-dir DIR] [--spool-mem-limit BYTES]
//        [--list-page-keys N] [--list-max-keys N] [--verbose]
// Port 0 lets the OS pick; the bound ports are printed and written to
// --port-file as one line "PORT CONTROL_PORT".
'use strict'

const http = require('node:http')
const crypto = require('node:crypto')
const fs = require('node:fs')
const path = require('node:path')
const os = require('node:os')
const { PassThrough } = require('node:stream')

const MiB = 1024 * 1024
const MAX_PARTS = 10000
const XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'
const S3_NS = 'http://s3.amazonaws.com/doc/2006-03-01/'

/* ------------------------------------------------------------------ options */

// parseArgs reads the command line into an options object.
function parseArgs(argv) {
  const opt = {
    port: 0,
    controlPort: 0,
    address: '127.0.0.1',
    upstream: null,
    s3rverDir: null,
    portFile: null,
    credentials: new Map(),
    allowAnonymous: false,
    minPartSize: 5 * MiB,
    logLimit: 100000,
    spoolDir: path.join(os.tmpdir(), `r2proxy-spool-${process.pid}`),
    spoolMemLimit: 64 * MiB,
    listPageKeys: 1000,
    listMaxKeys: 1000,
    verbose: false,
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`missing value for ${a}`)
      return argv[++i]
    }
    if (a === '--port') opt.port = Number(next())
    else if (a === '--control-port') opt.controlPort = Number(next())
    else if (a === '--address') opt.address = next()
    else if (a === '--upstream') opt.upstream = new URL(next())
    else if (a === '--s3rver-dir') opt.s3rverDir = next()
    else if (a === '--port-file') opt.portFile = next()
    else if (a === '--credentials') {
      const v = next()
      const idx = v.indexOf(':')
      if (idx <= 0) throw new Error('--credentials wants ACCESS_KEY:SECRET')
      opt.credentials.set(v.slice(0, idx), v.slice(idx + 1))
    } else if (a === '--allow-anonymous') opt.allowAnonymous = true
    else if (a === '--min-part-size') opt.minPartSize = Number(next())
    else if (a === '--log-limit') opt.logLimit = Number(next())
    else if (a === '--spool-dir') opt.spoolDir = next()
    else if (a === '--spool-mem-limit') opt.spoolMemLimit = Number(next())
    else if (a === '--list-page-keys') opt.listPageKeys = positiveInt(a, next())
    else if (a === '--list-max-keys') opt.listMaxKeys = positiveInt(a, next())
    else if (a === '--verbose') opt.verbose = true
    else throw new Error(`unknown argument ${a}`)
  }
  if (!opt.upstream) throw new Error('--upstream is required')
  if (opt.credentials.size === 0) opt.credentials.set('S3RVER', 'S3RVER')
  return opt
}

// positiveInt reads a setting that must be an integer from 1 to 1000.
function positiveInt(name, v) {
  const n = Number(v)
  if (!Number.isInteger(n) || n < 1 || n > 1000) throw new Error(`${name} must be an integer from 1 to 1000`)
  return n
}

/* -------------------------------------------------------------------- state */

const state = {
  seq: 0,
  log: [], // bounded, oldest dropped first
  rules: [], // fault rules, see validateRules
  seed: 1,
  rng: mulberry32(1),
  uploads: new Map(), // uploadId -> { bucket, key, initiated, state, parts: Map(n -> {size, etag, lastModified}) }
  keyLocks: new Map(), // "bucket/key" -> promise tail, serialises conditional PUTs
  pending: new Set(), // requests held by latency faults, released on reset
  spoolSeq: 0,
  locks: [], // bucket lock rules (POST /config {"locks": [{prefix, maxAgeMs}]}), see lockedFor
  stats: new Map(), // subject (key, or listed prefix) -> totals, see countStats
}

// mulberry32 returns a small seeded PRNG yielding floats in [0, 1).
function mulberry32(seed) {
  let a = seed >>> 0
  return function next() {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/* ---------------------------------------------------------------- utilities */

// xmlEscape escapes text for an XML element body.
function xmlEscape(s) {
  return String(s)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;')
}

// xmlUnescape undoes the five predefined XML entities and numeric references.
function xmlUnescape(s) {
  return s
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&#x([0-9a-fA-F]+);/g, (_m, h) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&#([0-9]+);/g, (_m, d) => String.fromCodePoint(parseInt(d, 10)))
    .replace(/&amp;/g, '&')
}

// safeDecode percent-decodes, returning the input unchanged when malformed.
function safeDecode(s) {
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}

// rfc3986 percent-encodes as SigV4 wants (everything but unreserved characters).
function rfc3986(s) {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
}

// parseQuery splits a raw query string into decoded [key, value] pairs, in order.
function parseQuery(raw) {
  if (!raw) return []
  return raw
    .split('&')
    .filter((p) => p.length > 0)
    .map((p) => {
      const i = p.indexOf('=')
      return i < 0 ? [safeDecode(p), ''] : [safeDecode(p.slice(0, i)), safeDecode(p.slice(i + 1))]
    })
}

// stripQuotes removes the double quotes around an ETag.
function stripQuotes(etag) {
  return String(etag || '').replace(/"/g, '')
}

// errorXml renders an S3-style error document.
function errorXml(code, message, resource, requestId, extra) {
  let body = `<Error><Code>${xmlEscape(code)}</Code><Message>${xmlEscape(message)}</Message>`
  for (const [k, v] of Object.entries(extra || {})) body += `<${k}>${xmlEscape(v)}</${k}>`
  body += `<Resource>${xmlEscape(resource)}</Resource><RequestId>${requestId}</RequestId></Error>`
  return XML_HEAD + body
}

const DEFAULT_MESSAGES = {
  500: ['InternalError', 'We encountered an internal error. Please try again.'],
  502: ['BadGateway', 'The upstream server did not answer.'],
  503: ['ServiceUnavailable', 'Reduce your request rate.'],
  429: ['SlowDown', 'Reduce your request rate.'],
  408: ['RequestTimeout', 'Your socket connection to the server was not read from or written to within the timeout period.'],
  403: ['AccessDenied', 'Access Denied'],
  404: ['NoSuchKey', 'The specified key does not exist.'],
  400: ['InvalidRequest', 'Invalid request.'],
}

/* ----------------------------------------------------------- classification */

// classify names the S3 operation of a request, as AWS's API reference does.
function classify(method, bucket, key, q, headers) {
  const has = (k) => q.has(k)
  if (!bucket) return method === 'GET' ? 'ListBuckets' : 'Unknown'
  if (!key) {
    switch (method) {
      case 'GET':
        if (has('uploads')) return 'ListMultipartUploads'
        if (has('location')) return 'GetBucketLocation'
        if (q.get('list-type') === '2') return 'ListObjectsV2'
        return 'ListObjects'
      case 'HEAD':
        return 'HeadBucket'
      case 'PUT':
        return 'CreateBucket'
      case 'DELETE':
        return 'DeleteBucket'
      case 'POST':
        return has('delete') ? 'DeleteObjects' : 'PostObject'
      default:
        return 'Unknown'
    }
  }
  switch (method) {
    case 'GET':
      if (has('uploadId')) return 'ListParts'
      if (has('tagging')) return 'GetObjectTagging'
      return 'GetObject'
    case 'HEAD':
      return 'HeadObject'
    case 'PUT':
      if (has('uploadId') && has('partNumber'))
        return 'x-amz-copy-source' in headers ? 'UploadPartCopy' : 'UploadPart'
      if (has('tagging')) return 'PutObjectTagging'
      return 'x-amz-copy-source' in headers ? 'CopyObject' : 'PutObject'
    case 'POST':
      if (has('uploads')) return 'CreateMultipartUpload'
      if (has('uploadId')) return 'CompleteMultipartUpload'
      return 'Unknown'
    case 'DELETE':
      return has('uploadId') ? 'AbortMultipartUpload' : 'DeleteObject'
    default:
      return 'Unknown'
  }
}

/* ------------------------------------------------------------------- faults */

const RULE_FIELDS = new Set([
  'op', 'method', 'prefix', 'probability', 'skip', 'times', 'permanent',
  'status', 'code', 'message', 'reset', 'latencyMs', 'name',
])

// validateRules checks a fault configuration and returns normalised rules.
function validateRules(cfg) {
  if (cfg === null || typeof cfg !== 'object' || Array.isArray(cfg)) throw new Error('body must be a JSON object')
  for (const k of Object.keys(cfg)) {
    if (!['seed', 'rules'].includes(k)) throw new Error(`unknown field "${k}" (want seed, rules)`)
  }
  const rules = cfg.rules || []
  if (!Array.isArray(rules)) throw new Error('rules must be an array')
  return rules.map((r, i) => {
    if (r === null || typeof r !== 'object') throw new Error(`rule ${i}: not an object`)
    for (const k of Object.keys(r)) {
      if (!RULE_FIELDS.has(k)) throw new Error(`rule ${i}: unknown field "${k}"`)
    }
    const ops = r.op === undefined || r.op === '*' ? null : [].concat(r.op)
    const p = r.permanent ? 1 : r.probability === undefined ? 1 : Number(r.probability)
    if (!(p >= 0 && p <= 1)) throw new Error(`rule ${i}: probability must be within [0, 1]`)
    if (r.reset !== undefined && !['request', 'response'].includes(r.reset))
      throw new Error(`rule ${i}: reset must be "request" or "response"`)
    if (r.status !== undefined && !(Number.isInteger(r.status) && r.status >= 400 && r.status <= 599))
      throw new Error(`rule ${i}: status must be an HTTP error status`)
    if (r.status !== undefined && r.reset !== undefined) throw new Error(`rule ${i}: status and reset exclude each other`)
    if (r.status === undefined && r.reset === undefined && r.latencyMs === undefined)
      throw new Error(`rule ${i}: give status, reset or latencyMs`)
    if (r.latencyMs !== undefined && !(Number(r.latencyMs) >= 0)) throw new Error(`rule ${i}: bad latencyMs`)
    return {
      name: r.name || `rule${i}`,
      ops,
      method: r.method ? String(r.method).toUpperCase() : null,
      prefix: r.prefix === undefined ? null : String(r.prefix),
      probability: p,
      skip: Number(r.skip || 0),
      times: r.permanent || r.times === undefined || r.times === null ? null : Number(r.times),
      status: r.status,
      code: r.code,
      message: r.message,
      reset: r.reset,
      latencyMs: r.latencyMs === undefined ? 0 : Number(r.latencyMs),
      matched: 0,
      fired: 0,
    }
  })
}

// subjectOf names what a request is about, for fault rules and stats: the
// object key (bucket-relative), or for listings the prefix being listed.
function subjectOf(entry) {
  return entry.key || entry.listPrefix || ''
}

// ruleMatches tells whether a rule applies to a request.
function ruleMatches(rule, entry) {
  if (rule.ops && !rule.ops.includes(entry.op)) return false
  if (rule.method && rule.method !== entry.method) return false
  if (rule.prefix !== null && !subjectOf(entry).startsWith(rule.prefix)) return false
  return true
}

/* -------------------------------------------------------------------- stats */

const STAT_FIELDS = ['requests', 'gets', 'rangeGets', 'bytesOut', 'bytesIn']

// countStats adds a finished request to the totals of its subject.
function countStats(entry) {
  const subject = subjectOf(entry)
  let t = state.stats.get(subject)
  if (!t) {
    t = { requests: 0, gets: 0, rangeGets: 0, bytesOut: 0, bytesIn: 0 }
    state.stats.set(subject, t)
  }
  t.requests++
  if (entry.op === 'GetObject') {
    t.gets++
    if (entry.range) t.rangeGets++
  }
  t.bytesOut += entry.bytesOut
  t.bytesIn += entry.bytesIn
}

// statsFor sums the totals of every subject starting with prefix.
function statsFor(prefix) {
  const sum = { requests: 0, gets: 0, rangeGets: 0, bytesOut: 0, bytesIn: 0 }
  for (const [subject, t] of state.stats) {
    if (!subject.startsWith(prefix)) continue
    for (const f of STAT_FIELDS) sum[f] += t[f]
  }
  return sum
}

// resetStats forgets the totals of every subject starting with prefix.
function resetStats(prefix) {
  for (const subject of [...state.stats.keys()]) if (subject.startsWith(prefix)) state.stats.delete(subject)
}

/* -------------------------------------------------------------- range fixes */

// boundedRange parses a single bounded "bytes=A-B" Range header, or null.
function boundedRange(header) {
  const m = /^bytes=(\d+)-(\d+)$/.exec(header || '')
  if (!m) return null
  const start = Number(m[1])
  const end = Number(m[2])
  return Number.isSafeInteger(start) && Number.isSafeInteger(end) && start <= end ? { start, end } : null
}

// limitStream passes the first n bytes of src on, then ends (and drops src).
function limitStream(src, n) {
  const out = new PassThrough()
  let left = n
  out.statusCode = src.statusCode
  out.headers = src.headers
  src.on('data', (c) => {
    if (left <= 0) return
    const part = c.subarray(0, left)
    left -= part.length
    out.write(part)
    if (left <= 0) {
      out.end()
      src.destroy()
    }
  })
  src.on('end', () => out.end())
  src.on('error', (e) => out.destroy(e))
  return out
}

// fixRange corrects s3rver's answer to a bounded range GET: s3rver reads an
// end of 0 as "no end" (bytes=0-0 gets the whole object, as 206 with the
// whole Content-Range), and answers a range on an empty object 206 with
// "bytes 0-0/0" and a Content-Length of 1 but no body, where S3 and R2 answer
// 416. Returns { up } (possibly a trimmed stream with fixed headers),
// { invalid: size } for a 416, or {} when nothing needs fixing.
function fixRange(range, up) {
  if (!range || up.statusCode !== 206) return {}
  const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(up.headers['content-range'] || '')
  if (!m) return {}
  const start = Number(m[1])
  const end = Number(m[2])
  const size = Number(m[3])
  if (size === 0) return { invalid: 0 }
  const want = Math.min(range.end, size - 1)
  if (start !== range.start || end <= want) return {}
  up.headers['content-range'] = `bytes ${start}-${want}/${size}`
  up.headers['content-length'] = String(want - start + 1)
  return { up: limitStream(up, want - start + 1) }
}

// decideFaults walks the rules in order: latencies add up, the first firing
// status or reset rule decides the failure. Returns { latencyMs, fail }.
function decideFaults(entry) {
  let latencyMs = 0
  let fail = null
  for (const rule of state.rules) {
    if (!ruleMatches(rule, entry)) continue
    rule.matched++
    if (rule.matched <= rule.skip) continue
    if (rule.times !== null && rule.fired >= rule.times) continue
    if (rule.status === undefined && rule.reset === undefined) {
      // latency-only rule
      if (rule.probability >= 1 || state.rng() < rule.probability) {
        rule.fired++
        latencyMs += rule.latencyMs
      }
      continue
    }
    if (fail) continue
    if (rule.probability < 1 && state.rng() >= rule.probability) continue
    rule.fired++
    latencyMs += rule.latencyMs
    fail = rule
  }
  return { latencyMs, fail }
}

/* ------------------------------------------------------------------- SigV4 */

// verifySigV4 checks a request's SigV4 signature (header or presigned query)
// against the configured credentials; returns null or an error triple.
function verifySigV4(opt, req, rawPath, pairs) {
  const headers = req.headers
  let accessKey, scope, signedHeaders, signature, amzDate, payloadHash
  const qmap = new Map(pairs)
  if (headers.authorization) {
    const m = /^AWS4-HMAC-SHA256\s+(.*)$/.exec(headers.authorization)
    if (!m) return [400, 'InvalidArgument', 'Unsupported Authorization Type']
    const parts = new Map(
      m[1].split(',').map((c) => {
        const s = c.trim()
        const i = s.indexOf('=')
        return [s.slice(0, i), s.slice(i + 1)]
      })
    )
    const cred = parts.get('Credential') || ''
    accessKey = cred.split('/')[0]
    scope = cred.split('/').slice(1).join('/')
    signedHeaders = (parts.get('SignedHeaders') || '').split(';')
    signature = parts.get('Signature')
    amzDate = headers['x-amz-date']
    payloadHash = headers['x-amz-content-sha256']
    if (!payloadHash) return [400, 'InvalidRequest', 'Missing required header for this request: x-amz-content-sha256']
  } else if (qmap.has('X-Amz-Signature')) {
    const cred = qmap.get('X-Amz-Credential') || ''
    accessKey = cred.split('/')[0]
    scope = cred.split('/').slice(1).join('/')
    signedHeaders = (qmap.get('X-Amz-SignedHeaders') || '').split(';')
    signature = qmap.get('X-Amz-Signature')
    amzDate = qmap.get('X-Amz-Date')
    payloadHash = 'UNSIGNED-PAYLOAD'
    const t = parseAmzDate(amzDate)
    const expires = Number(qmap.get('X-Amz-Expires'))
    if (Number.isNaN(t) || !(expires >= 1 && expires <= 604800))
      return [400, 'AuthorizationQueryParametersError', 'bad X-Amz-Date or X-Amz-Expires']
    if (Date.now() > t + expires * 1000) return [403, 'AccessDenied', 'Request has expired']
  } else {
    return [403, 'AccessDenied', 'Access Denied']
  }
  const secret = opt.credentials.get(accessKey)
  if (secret === undefined)
    return [403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.']
  const t = parseAmzDate(amzDate)
  if (Number.isNaN(t)) return [403, 'AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header']
  if (headers.authorization && Math.abs(Date.now() - t) > 15 * 60 * 1000)
    return [403, 'RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.']
  const canonicalUri = rawPath
    .split('/')
    .map((s) => rfc3986(safeDecode(s)))
    .join('/')
  const canonicalQuery = pairs
    .filter(([k]) => k !== 'X-Amz-Signature')
    .map(([k, v]) => [rfc3986(k), rfc3986(v)])
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&')
  const canonicalHeaders = signedHeaders
    .map((h) => `${h}:${String(headers[h] === undefined ? '' : headers[h]).trim().replace(/\s+/g, ' ')}\n`)
    .join('')
  const canonicalRequest = [
    req.method,
    canonicalUri,
    canonicalQuery,
    canonicalHeaders,
    signedHeaders.join(';'),
    payloadHash,
  ].join('\n')
  const expected = sigV4Signature(secret, amzDate, scope, canonicalRequest)
  if (expected !== signature)
    return [403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.']
  return null
}

// sigV4Signature signs a canonical request: the hex signature for secret,
// amzDate (YYYYMMDDTHHMMSSZ) and scope (date/region/service/aws4_request).
function sigV4Signature(secret, amzDate, scope, canonicalRequest) {
  const stringToSign = [
    'AWS4-HMAC-SHA256',
    amzDate,
    scope,
    crypto.createHash('sha256').update(canonicalRequest).digest('hex'),
  ].join('\n')
  const [date, region, service] = scope.split('/')
  let key = crypto.createHmac('sha256', `AWS4${secret}`).update(date || '').digest()
  key = crypto.createHmac('sha256', key).update(region || '').digest()
  key = crypto.createHmac('sha256', key).update(service || '').digest()
  key = crypto.createHmac('sha256', key).update('aws4_request').digest()
  return crypto.createHmac('sha256', key).update(stringToSign).digest('hex')
}

// requestAccessKey names the access key a signed request claims (header or
// presigned query), or null.
function requestAccessKey(req, q) {
  const m = /Credential=([^/,\s]+)/.exec(req.headers.authorization || '')
  if (m) return m[1]
  const cred = q.get('X-Amz-Credential')
  return cred ? cred.split('/')[0] : null
}

// parseAmzDate parses YYYYMMDDTHHMMSSZ into epoch milliseconds (NaN if malformed).
function parseAmzDate(s) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s || '')
  if (!m) return NaN
  return Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6])
}

/* --------------------------------------------------------- folded listings */

// s3rver 5.0.0 reports a CommonPrefix of a delimiter listing only for keys
// exactly one level below the listed prefix (it walks its directories and
// never descends into one that holds the delimiter), so
// `prefix=backups/full/&delimiter=/` over backups/full/WS/TS/file lists
// nothing. The proxy answers every ListObjects / ListObjectsV2 that carries
// a delimiter itself: it lists upstream without the delimiter, following
// every upstream page, sorts the keys as S3 does (UTF-8 bytes) and folds
// them into CommonPrefixes.

// The most keys one folded listing reads from upstream.
const FOLD_KEY_LIMIT = 500000
// Marks the proxy's own continuation tokens.
const FOLD_TOKEN_TAG = 'r2proxy-fold-1'

// byteCompare orders two strings as S3 orders keys: by their UTF-8 bytes.
function byteCompare(a, b) {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}

// sortByKeyBytes sorts listing objects ({key, ...}) by their keys' UTF-8 bytes.
function sortByKeyBytes(objects) {
  const withBytes = objects.map((o) => [Buffer.from(o.key, 'utf8'), o])
  withBytes.sort((a, b) => Buffer.compare(a[0], b[0]))
  return withBytes.map((x) => x[1])
}

// foldListing makes one page of a delimiter listing out of objects (sorted
// by key bytes, all under prefix, all after start): a key with the delimiter
// after the prefix counts as its common prefix (up to and including the
// delimiter), once; maxKeys bounds keys and prefixes together. A common
// prefix equal to start is the previous page's last entry and is skipped
// whole, so a prefix is never split across pages nor repeated. Returns
// { contents, prefixes, truncated, last } (last: the page's last entry).
function foldListing(objects, prefix, delimiter, start, maxKeys) {
  const contents = []
  const prefixes = []
  let n = 0
  let last = null
  let lastPrefix = null
  let truncated = false
  for (const o of objects) {
    const i = o.key.indexOf(delimiter, prefix.length)
    if (i >= 0) {
      const cp = o.key.slice(0, i + delimiter.length)
      if (cp === lastPrefix || cp === start) continue
      if (n >= maxKeys) {
        truncated = true
        break
      }
      prefixes.push(cp)
      lastPrefix = cp
      last = cp
    } else {
      if (n >= maxKeys) {
        truncated = true
        break
      }
      contents.push(o)
      last = o.key
    }
    n++
  }
  return { contents, prefixes, truncated, last }
}

// encodeFoldToken makes the opaque continuation token of a folded listing.
function encodeFoldToken(bucket, last) {
  return Buffer.from(JSON.stringify({ t: FOLD_TOKEN_TAG, b: bucket, a: last }), 'utf8').toString('base64url')
}

// decodeFoldToken returns the last entry a token names, or null when the
// token is not one of the proxy's for this bucket.
function decodeFoldToken(token, bucket) {
  try {
    const o = JSON.parse(Buffer.from(String(token), 'base64url').toString('utf8'))
    if (o && o.t === FOLD_TOKEN_TAG && o.b === bucket && typeof o.a === 'string' && o.a) return o.a
  } catch {
    // fall through
  }
  return null
}

// parseListPage reads one upstream ListObjectsV2 answer: its objects,
// IsTruncated and NextContinuationToken. s3rver 5.0.0 escapes a listing's
// text twice (he.escape in its tagValueProcessor, then fast-xml-parser's
// builder: a key "a&b" arrives as "a&amp;amp;b", "'" as "&amp;#x27;"), so
// keys are unescaped twice.
function parseListPage(text) {
  const objects = []
  const re = /<Contents>([\s\S]*?)<\/Contents>/g
  const field = (body, name) => {
    const m = new RegExp(`<${name}>([\\s\\S]*?)</${name}>`).exec(body)
    return m ? xmlUnescape(m[1]) : undefined
  }
  let m
  while ((m = re.exec(text)) !== null) {
    objects.push({
      key: ((k) => (k === undefined ? k : xmlUnescape(k)))(field(m[1], 'Key')),
      lastModified: field(m[1], 'LastModified'),
      etag: field(m[1], 'ETag'),
      size: field(m[1], 'Size'),
      storageClass: field(m[1], 'StorageClass') || 'STANDARD',
    })
  }
  const next = /<NextContinuationToken>([^<]*)<\/NextContinuationToken>/.exec(text)
  return {
    objects: objects.filter((o) => typeof o.key === 'string'),
    truncated: /<IsTruncated>\s*true\s*<\/IsTruncated>/.test(text),
    next: next ? xmlUnescape(next[1]) : null,
  }
}

/* ------------------------------------------------------------ the proxy app */

// spoolBody receives a whole request body before anything reaches s3rver,
// which writes objects in place: a PUT cut off half way would leave a
// truncated object there, where S3 and R2 keep the old one. Small bodies stay
// in memory, larger ones go to a file in the spool directory. The declared
// x-amz-content-sha256 and Content-MD5 are checked on the way. Resolves with
// { bytes, buffer | file, mismatch }; rejects when the client goes away.
function spoolBody(opt, req) {
  const sha = req.headers['x-amz-content-sha256']
  const wantSha = sha && /^[0-9a-fA-F]{64}$/.test(sha) ? sha.toLowerCase() : null
  const wantMd5 = req.headers['content-md5'] || null
  const shaCtx = wantSha ? crypto.createHash('sha256') : null
  const md5Ctx = wantMd5 ? crypto.createHash('md5') : null
  return new Promise((resolve, reject) => {
    let chunks = []
    let bytes = 0
    let file = null
    let ws = null
    let failed = false
    const bail = (err) => {
      if (failed) return
      failed = true
      if (ws) {
        ws.destroy()
        fs.rm(file, { force: true }, () => {})
      }
      reject(err)
    }
    req.on('data', (c) => {
      bytes += c.length
      if (shaCtx) shaCtx.update(c)
      if (md5Ctx) md5Ctx.update(c)
      if (ws) {
        if (!ws.write(c)) {
          req.pause()
          ws.once('drain', () => req.resume())
        }
        return
      }
      chunks.push(c)
      if (bytes > opt.spoolMemLimit) {
        fs.mkdirSync(opt.spoolDir, { recursive: true })
        file = path.join(opt.spoolDir, `body-${process.pid}-${++state.spoolSeq}`)
        ws = fs.createWriteStream(file)
        ws.on('error', bail)
        for (const x of chunks) ws.write(x)
        chunks = []
      }
    })
    req.on('aborted', () => bail(new Error('client went away')))
    req.on('error', bail)
    req.on('end', () => {
      if (failed) return
      let mismatch = null
      if (shaCtx && shaCtx.digest('hex') !== wantSha) {
        mismatch = ['XAmzContentSHA256Mismatch', "The provided 'x-amz-content-sha256' header does not match what was computed."]
      } else if (md5Ctx && md5Ctx.digest('base64') !== wantMd5) {
        mismatch = ['BadDigest', 'The Content-MD5 you specified did not match what we received.']
      }
      if (!ws) {
        resolve({ bytes, buffer: Buffer.concat(chunks), mismatch })
        return
      }
      ws.end(() => resolve({ bytes, file, mismatch }))
    })
  })
}

// startProxy creates the data-path server.
function startProxy(opt) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 })

  // logEntry appends a new entry to the bounded request log.
  function logEntry(entry) {
    state.log.push(entry)
    if (state.log.length > opt.logLimit) state.log.splice(0, state.log.length - opt.logLimit)
  }

  // watchResponse counts the response body bytes written to the client
  // (entry.bytesOut) and records the outcome of a request once its response
  // ends, adding it to the stats then (once, whichever event comes first).
  function watchResponse(req, res, entry) {
    const t0 = Date.now()
    const write = res.write
    const end = res.end
    const count = (chunk, encoding) => {
      if (chunk === undefined || chunk === null || typeof chunk === 'function') return
      // node sends no body for HEAD, 204 and 304
      if (req.method === 'HEAD' || res.statusCode === 204 || res.statusCode === 304) return
      entry.bytesOut += typeof chunk === 'string' ? Buffer.byteLength(chunk, typeof encoding === 'string' ? encoding : 'utf8') : chunk.length
    }
    res.write = function countedWrite(chunk, encoding, cb) {
      count(chunk, encoding)
      return write.call(this, chunk, encoding, cb)
    }
    res.end = function countedEnd(chunk, encoding, cb) {
      count(chunk, encoding)
      return end.call(this, chunk, encoding, cb)
    }
    let counted = false
    const done = () => {
      if (counted) return
      counted = true
      countStats(entry)
    }
    res.on('finish', () => {
      if (entry.status === null) entry.status = res.statusCode
      entry.ms = Date.now() - t0
      done()
      if (opt.verbose) process.stderr.write(`${JSON.stringify(entry)}\n`)
    })
    res.on('close', () => {
      if (entry.status === null) {
        entry.status = res.writableFinished ? res.statusCode : 'reset'
        entry.ms = Date.now() - t0
      }
      done()
    })
  }

  // sendError answers with an S3 XML error after draining the request body.
  function sendError(req, res, entry, status, code, message, extra) {
    const body = errorXml(code, message, entry.path, entry.seq, extra)
    entry.error = code
    const send = () => {
      if (res.headersSent || res.destroyed) return
      res.writeHead(status, {
        'content-type': 'application/xml',
        'content-length': Buffer.byteLength(body),
        'x-amz-request-id': String(entry.seq),
      })
      res.end(req.method === 'HEAD' ? undefined : body)
    }
    if (req.readableEnded || req.complete) send()
    else {
      req.on('end', send)
      req.on('error', () => {})
      req.resume()
    }
  }

  // sendXml answers 200 with an XML document; with o.resetResponse (fault)
  // it sends half of it and drops the connection.
  function sendXml(req, res, entry, xml, o = {}) {
    const body = Buffer.from(XML_HEAD + xml, 'utf8')
    const send = () => {
      res.writeHead(200, {
        'content-type': 'application/xml',
        'content-length': body.length,
        'x-amz-request-id': String(entry.seq),
      })
      if (o.resetResponse) {
        res.write(body.subarray(0, Math.floor(body.length / 2)), () => req.socket.destroy())
        return
      }
      res.end(body)
    }
    if (req.readableEnded || req.complete) send()
    else {
      req.on('end', send)
      req.resume()
    }
  }

  // readBody buffers a small request body (XML documents), capped.
  function readBody(req, cap) {
    return new Promise((resolve, reject) => {
      const chunks = []
      let n = 0
      req.on('data', (c) => {
        n += c.length
        if (n > cap) {
          reject(new Error('body too large'))
          req.destroy()
          return
        }
        chunks.push(c)
      })
      req.on('end', () => resolve(Buffer.concat(chunks)))
      req.on('error', reject)
    })
  }

  // upstreamHead asks s3rver whether an object exists (anonymous HEAD).
  function upstreamExists(rawPath) {
    return new Promise((resolve, reject) => {
      const r = http.request(
        { host: opt.upstream.hostname, port: opt.upstream.port, method: 'HEAD', path: rawPath, agent },
        (up) => {
          up.resume()
          up.on('end', () => resolve(up.statusCode === 200))
        }
      )
      r.on('error', reject)
      r.end()
    })
  }

  // upstreamPlain makes an unsigned request of the proxy's own to s3rver
  // (HEAD or DELETE of rawPath); resolves with { status, headers }.
  function upstreamPlain(method, rawPath) {
    return new Promise((resolve, reject) => {
      const r = http.request({ host: opt.upstream.hostname, port: opt.upstream.port, method, path: rawPath, agent }, (up) => {
        up.resume()
        up.on('end', () => resolve({ status: up.statusCode, headers: up.headers }))
      })
      r.on('error', reject)
      r.end()
    })
  }

  // lockedFor tells whether a bucket lock rule protects the existing object
  // at rawPath (key under the rule's prefix, younger than its age, as R2's
  // bucket lock rules do by upload time): the rule, or null.
  async function lockedFor(key, rawPath) {
    const rules = state.locks.filter((l) => key.startsWith(l.prefix))
    if (!rules.length) return null
    const h = await upstreamPlain('HEAD', rawPath)
    if (h.status !== 200) return null
    const age = Date.now() - Date.parse(h.headers['last-modified'])
    return rules.find((l) => age < l.maxAgeMs) || null
  }

  const LOCKED_MSG = 'Object is protected by a bucket lock rule and cannot be modified or deleted.'

  // handleLockedDelete answers a DeleteObjects request as R2 does under
  // bucket lock rules: each key the rules protect gets an <Error> entry with
  // ObjectLockedByBucketPolicy and stays; the others are deleted.
  async function handleLockedDelete(req, res, entry, bucket) {
    let body
    try {
      body = await spoolBody(opt, req)
    } catch {
      entry.status = 'client-gone'
      return undefined
    }
    if (body.mismatch) return sendError(req, res, entry, 400, body.mismatch[0], body.mismatch[1])
    const text = (body.buffer || fs.readFileSync(body.file)).toString('utf8')
    const quiet = /<Quiet>\s*true\s*<\/Quiet>/i.test(text)
    const keys = [...text.matchAll(/<Key>([\s\S]*?)<\/Key>/g)].map((m) => xmlUnescape(m[1]))
    let xml = '<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
    entry.locked = 0
    for (const k of keys) {
      const raw = `/${encodeURIComponent(bucket)}/${k.split('/').map(encodeURIComponent).join('/')}`
      let rule
      try {
        rule = await lockedFor(k, raw)
        if (!rule) await upstreamPlain('DELETE', raw)
      } catch (e) {
        return sendError(req, res, entry, 502, 'BadGateway', `upstream: ${e.message}`)
      }
      if (rule) {
        entry.locked++
        xml += `<Error><Key>${xmlEscape(k)}</Key><Code>ObjectLockedByBucketPolicy</Code><Message>${LOCKED_MSG}</Message></Error>`
      } else if (!quiet) {
        xml += `<Deleted><Key>${xmlEscape(k)}</Key></Deleted>`
      }
    }
    xml += '</DeleteResult>'
    return sendXml(req, res, entry, xml)
  }

  // withKeyLock runs fn with the per-key lock held (conditional writes).
  async function withKeyLock(lockKey, fn) {
    const prev = state.keyLocks.get(lockKey) || Promise.resolve()
    let release
    const mine = new Promise((r) => (release = r))
    const tail = prev.then(() => mine)
    state.keyLocks.set(lockKey, tail)
    await prev
    try {
      return await fn()
    } finally {
      release()
      if (state.keyLocks.get(lockKey) === tail) state.keyLocks.delete(lockKey)
    }
  }

  // forward sends the request upstream and relays the answer. Options:
  // body (Buffer replacing the streamed body), spool (from spoolBody), bufferResponse
  // (collect the answer and pass it to onResponse), resetResponse (fault).
  // Resolves once the response is done.
  function forward(req, res, entry, o = {}) {
    return new Promise((resolve) => {
      const headers = { ...req.headers }
      const fixedLength = o.body ? o.body.length : o.spool ? o.spool.bytes : null
      if (fixedLength !== null) {
        headers['content-length'] = String(fixedLength)
        delete headers['transfer-encoding']
      }
      const upReq = http.request({
        host: opt.upstream.hostname,
        port: opt.upstream.port,
        method: req.method,
        path: req.url,
        headers,
        agent,
      })
      let done = false
      const finish = () => {
        if (!done) {
          done = true
          resolve()
        }
      }
      res.on('close', finish)
      // Also once upstream is done: a client that went away while the
      // request waited (key lock, HEAD of a conditional PUT) has closed res
      // before this listener existed, and a conditional PUT's key lock must
      // not wait for an event that already happened.
      upReq.on('close', finish)
      upReq.on('error', (err) => {
        if (!res.headersSent) {
          sendError(req, res, entry, 502, 'BadGateway', `upstream: ${err.message}`)
        } else {
          res.destroy()
        }
      })
      req.on('aborted', () => upReq.destroy())
      upReq.on('response', (upstream) => {
        let up = upstream
        const fix = fixRange(o.range, up)
        if (fix.invalid !== undefined) {
          up.resume()
          entry.rangeFixed = true
          return sendError(req, res, entry, 416, 'InvalidRange', 'The requested range is not satisfiable', {
            RangeRequested: req.headers.range,
            ActualObjectSize: fix.invalid,
          })
        }
        if (fix.up) {
          up = fix.up
          entry.rangeFixed = true
        }
        if (o.resetResponse) {
          // the upstream did the work; the client hears half of it, or nothing
          const cut = (total, writeHalf) => {
            if (!(total > 1) || req.method === 'HEAD') {
              req.socket.destroy()
              return
            }
            res.writeHead(up.statusCode, up.headers)
            writeHalf(Math.floor(total / 2))
          }
          if (o.onResponse) {
            const chunks = []
            up.on('data', (c) => chunks.push(c))
            up.on('end', () => {
              const body = Buffer.concat(chunks)
              o.onResponse(up, body)
              cut(body.length, (limit) => res.write(body.subarray(0, limit), () => req.socket.destroy()))
            })
            return
          }
          cut(Number(up.headers['content-length'] || 0), (limit) => {
            let sent = 0
            up.on('data', (chunk) => {
              if (sent >= limit) return
              const slice = chunk.subarray(0, limit - sent)
              sent += slice.length
              res.write(slice, () => {
                if (sent >= limit) {
                  up.destroy()
                  req.socket.destroy()
                }
              })
            })
          })
          if (!(Number(up.headers['content-length'] || 0) > 1)) up.resume()
          return
        }
        if (o.bufferResponse) {
          const chunks = []
          up.on('data', (c) => chunks.push(c))
          up.on('end', () => {
            const body = Buffer.concat(chunks)
            try {
              if (o.onResponse) o.onResponse(up, body)
            } catch (e) {
              process.stderr.write(`r2proxy: ${e.stack}\n`)
            }
            const h = { ...up.headers, 'content-length': String(body.length) }
            delete h['transfer-encoding']
            res.writeHead(up.statusCode, h)
            res.end(body)
          })
          return
        }
        if (o.onResponse) o.onResponse(up, null)
        res.writeHead(up.statusCode, up.headers)
        up.pipe(res)
        up.on('error', () => res.destroy())
      })
      if (o.body) {
        entry.bytesIn = o.body.length
        upReq.end(o.body)
      } else if (o.spool && o.spool.file) {
        const rs = fs.createReadStream(o.spool.file)
        rs.on('error', (e) => upReq.destroy(e))
        rs.pipe(upReq)
        res.on('close', () => fs.rm(o.spool.file, { force: true }, () => {}))
      } else if (o.spool) {
        upReq.end(o.spool.buffer)
      } else {
        req.on('data', (c) => {
          entry.bytesIn += c.length
        })
        req.pipe(upReq)
      }
    })
  }

  // handleCreateMultipart forwards and records the new upload id.
  function handleCreateMultipart(req, res, entry, o) {
    return forward(req, res, entry, {
      ...o,
      bufferResponse: true,
      onResponse: (up, body) => {
        if (up.statusCode !== 200 || !body) return
        const m = /<UploadId>([^<]+)<\/UploadId>/.exec(body.toString('utf8'))
        if (!m) return
        entry.uploadId = m[1]
        state.uploads.set(m[1], {
          bucket: entry.bucket,
          key: entry.key,
          initiated: new Date(),
          state: 'open',
          parts: new Map(),
        })
      },
    })
  }

  // handleUploadPart checks the part number and records the part's size and ETag.
  function handleUploadPart(req, res, entry, o, q) {
    const n = Number(q.get('partNumber'))
    const upload = state.uploads.get(q.get('uploadId'))
    if (!Number.isInteger(n) || n < 1 || n > MAX_PARTS)
      return sendError(req, res, entry, 400, 'InvalidArgument', `Part number must be an integer between 1 and ${MAX_PARTS}, inclusive`)
    if (upload && upload.state !== 'open')
      return sendError(req, res, entry, 404, 'NoSuchUpload', 'The specified multipart upload does not exist.')
    return forward(req, res, entry, {
      ...o,
      onResponse: (up) => {
        if (up.statusCode !== 200 || !upload) return
        upload.parts.set(n, {
          size: o.spool.bytes,
          etag: stripQuotes(up.headers.etag),
          lastModified: new Date(),
        })
      },
    })
  }

  // handleComplete enforces R2's part rules, then forwards the buffered body.
  async function handleComplete(req, res, entry, o, q) {
    let body
    try {
      body = await readBody(req, 4 * MiB)
    } catch {
      return undefined
    }
    entry.bytesIn = body.length
    const uploadId = q.get('uploadId')
    const upload = state.uploads.get(uploadId)
    entry.uploadId = uploadId
    if (upload && upload.state !== 'open')
      return sendError(req, res, entry, 404, 'NoSuchUpload', 'The specified multipart upload does not exist.')
    const listed = []
    const re = /<Part>([\s\S]*?)<\/Part>/g
    let m
    const text = body.toString('utf8')
    while ((m = re.exec(text)) !== null) {
      const pn = /<PartNumber>\s*(\d+)\s*<\/PartNumber>/.exec(m[1])
      const et = /<ETag>([\s\S]*?)<\/ETag>/.exec(m[1])
      listed.push({ n: pn ? Number(pn[1]) : NaN, etag: et ? stripQuotes(xmlUnescape(et[1])) : '' })
    }
    if (listed.length === 0 || listed.some((p) => Number.isNaN(p.n)))
      return sendError(req, res, entry, 400, 'MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema.')
    for (let i = 1; i < listed.length; i++) {
      if (listed[i].n <= listed[i - 1].n)
        return sendError(req, res, entry, 400, 'InvalidPartOrder', 'The list of parts was not in ascending order. The parts list must be specified in order by part number.')
    }
    if (upload) {
      const sizes = []
      for (const p of listed) {
        const have = upload.parts.get(p.n)
        if (!have || have.etag !== p.etag)
          return sendError(req, res, entry, 400, 'InvalidPart', 'One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not have matched the part\'s entity tag.', { PartNumber: String(p.n) })
        sizes.push(have.size)
      }
      entry.partSizes = sizes
      if (sizes.length > 1) {
        const first = sizes[0]
        for (let i = 0; i < sizes.length - 1; i++) {
          if (sizes[i] !== first)
            return sendError(req, res, entry, 400, 'InvalidPart', 'All non-trailing parts must have the same length.')
        }
        if (sizes[sizes.length - 1] > first)
          return sendError(req, res, entry, 400, 'InvalidPart', 'All non-trailing parts must have the same length.')
        if (first < opt.minPartSize)
          return sendError(req, res, entry, 400, 'EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed object size.', { MinSizeAllowed: String(opt.minPartSize) })
      }
    } else {
      entry.untracked = true
    }
    const run = async () => {
      if (req.headers['if-none-match'] === '*' && (await upstreamExists(entry.rawPath))) {
        return sendError(req, res, entry, 412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', { Condition: 'If-None-Match' })
      }
      return forward(req, res, entry, {
        ...o,
        body,
        bufferResponse: true,
        onResponse: (up, rbody) => {
          if (up.statusCode === 200 && upload && rbody && !/<Error>/.test(rbody.toString('utf8'))) {
            upload.state = 'completed'
            upload.parts.clear()
            forgetFinishedUploads()
          }
        },
      })
    }
    return req.headers['if-none-match'] === '*' ? withKeyLock(`${entry.bucket}/${entry.key}`, run) : run()
  }

  // forgetFinishedUploads keeps the tracking table bounded: past 10,000
  // entries, completed and aborted uploads are dropped, oldest first.
  function forgetFinishedUploads() {
    if (state.uploads.size <= 10000) return
    for (const [id, u] of state.uploads) {
      if (state.uploads.size <= 5000) break
      if (u.state !== 'open') state.uploads.delete(id)
    }
  }

  // removeUploadDir deletes s3rver's staging folder of an aborted upload.
  function removeUploadDir(bucket, uploadId) {
    if (!opt.s3rverDir || !/^[0-9a-f]+$/.test(uploadId)) return
    fs.rm(path.join(opt.s3rverDir, bucket, '._S3rver_uploads', uploadId), { recursive: true, force: true }, () => {})
  }

  // handleAbort implements AbortMultipartUpload from the tracked uploads.
  function handleAbort(req, res, entry, q) {
    const uploadId = q.get('uploadId')
    const upload = state.uploads.get(uploadId)
    entry.uploadId = uploadId
    if (!upload || upload.state !== 'open' || upload.bucket !== entry.bucket || upload.key !== entry.key)
      return sendError(req, res, entry, 404, 'NoSuchUpload', 'The specified multipart upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.', { UploadId: uploadId })
    upload.state = 'aborted'
    upload.parts.clear()
    removeUploadDir(upload.bucket, uploadId)
    forgetFinishedUploads()
    req.resume()
    const send = () => {
      res.writeHead(204, { 'x-amz-request-id': String(entry.seq) })
      res.end()
    }
    if (req.complete) send()
    else req.on('end', send)
    return undefined
  }

  // handleListUploads implements ListMultipartUploads (prefix, markers, max-uploads).
  function handleListUploads(req, res, entry, q, o) {
    const prefix = q.get('prefix') || ''
    const keyMarker = q.get('key-marker') || ''
    const idMarker = q.get('upload-id-marker') || ''
    const max = Math.min(Number(q.get('max-uploads') || 1000), 1000)
    let list = [...state.uploads.entries()]
      .filter(([, u]) => u.state === 'open' && u.bucket === entry.bucket && u.key.startsWith(prefix))
      .map(([id, u]) => ({ id, ...u }))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.initiated - b.initiated || (a.id < b.id ? -1 : 1)))
    if (keyMarker) {
      if (idMarker) {
        const i = list.findIndex((u) => u.key === keyMarker && u.id === idMarker)
        list = i >= 0 ? list.slice(i + 1) : list.filter((u) => u.key > keyMarker)
      } else {
        list = list.filter((u) => u.key > keyMarker)
      }
    }
    const truncated = list.length > max
    const page = list.slice(0, max)
    const last = page[page.length - 1]
    // encoding-type=url: keys, prefix and markers come URL-encoded
    const urlEnc = q.get('encoding-type') === 'url'
    const enc = (s) => xmlEscape(urlEnc ? encodeURIComponent(s).replace(/%2F/g, '/') : s)
    let xml = `<ListMultipartUploadsResult xmlns="${S3_NS}"><Bucket>${xmlEscape(entry.bucket)}</Bucket>`
    xml += `<KeyMarker>${enc(keyMarker)}</KeyMarker><UploadIdMarker>${xmlEscape(idMarker)}</UploadIdMarker>`
    xml += `<NextKeyMarker>${last ? enc(last.key) : ''}</NextKeyMarker><NextUploadIdMarker>${last ? last.id : ''}</NextUploadIdMarker>`
    if (urlEnc) xml += '<EncodingType>url</EncodingType>'
    xml += `<Prefix>${enc(prefix)}</Prefix><MaxUploads>${max}</MaxUploads><IsTruncated>${truncated}</IsTruncated>`
    for (const u of page) {
      xml += `<Upload><Key>${enc(u.key)}</Key><UploadId>${u.id}</UploadId>`
      xml += '<Initiator><ID>123456789000</ID><DisplayName>S3rver</DisplayName></Initiator>'
      xml += '<Owner><ID>123456789000</ID><DisplayName>S3rver</DisplayName></Owner>'
      xml += `<StorageClass>STANDARD</StorageClass><Initiated>${u.initiated.toISOString()}</Initiated></Upload>`
    }
    xml += '</ListMultipartUploadsResult>'
    return sendXml(req, res, entry, xml, o)
  }

  // handleListParts implements ListParts (part-number-marker, max-parts).
  function handleListParts(req, res, entry, q, o) {
    const uploadId = q.get('uploadId')
    const upload = state.uploads.get(uploadId)
    if (!upload || upload.state !== 'open' || upload.bucket !== entry.bucket || upload.key !== entry.key)
      return sendError(req, res, entry, 404, 'NoSuchUpload', 'The specified multipart upload does not exist.', { UploadId: uploadId })
    const marker = Number(q.get('part-number-marker') || 0)
    const max = Math.min(Number(q.get('max-parts') || 1000), 1000)
    const all = [...upload.parts.entries()].filter(([n]) => n > marker).sort((a, b) => a[0] - b[0])
    const page = all.slice(0, max)
    const next = page.length ? page[page.length - 1][0] : marker
    let xml = `<ListPartsResult xmlns="${S3_NS}"><Bucket>${xmlEscape(entry.bucket)}</Bucket><Key>${xmlEscape(entry.key)}</Key>`
    xml += `<UploadId>${uploadId}</UploadId><PartNumberMarker>${marker}</PartNumberMarker><NextPartNumberMarker>${next}</NextPartNumberMarker>`
    xml += `<MaxParts>${max}</MaxParts><IsTruncated>${all.length > max}</IsTruncated><StorageClass>STANDARD</StorageClass>`
    for (const [n, p] of page) {
      xml += `<Part><PartNumber>${n}</PartNumber><LastModified>${p.lastModified.toISOString()}</LastModified>`
      xml += `<ETag>&quot;${p.etag}&quot;</ETag><Size>${p.size}</Size></Part>`
    }
    xml += '</ListPartsResult>'
    return sendXml(req, res, entry, xml, o)
  }

  // upstreamSigned makes a request of the proxy's own to s3rver (GET or
  // HEAD of uri with the query pairs), SigV4-signed with accessKey's secret:
  // s3rver checks every signed request. s3rver builds the canonical query
  // with encodeURIComponent, not RFC 3986's stricter set, so the request and
  // its signature use that too. Resolves with { status, headers, body }.
  function upstreamSigned(method, uri, pairs, accessKey) {
    return new Promise((resolve, reject) => {
      const secret = opt.credentials.get(accessKey)
      const host = `${opt.upstream.hostname}:${opt.upstream.port}`
      const query = pairs
        .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
        .sort()
        .join('&')
      const amzDate = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '')
      const scope = `${amzDate.slice(0, 8)}/us-east-1/s3/aws4_request`
      const signedHeaders = 'host;x-amz-content-sha256;x-amz-date'
      const canonical = [
        method,
        uri,
        query,
        `host:${host}\nx-amz-content-sha256:UNSIGNED-PAYLOAD\nx-amz-date:${amzDate}\n`,
        signedHeaders,
        'UNSIGNED-PAYLOAD',
      ].join('\n')
      const signature = sigV4Signature(secret, amzDate, scope, canonical)
      const headers = {
        host,
        'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
        'x-amz-date': amzDate,
        authorization: `AWS4-HMAC-SHA256 Credential=${accessKey}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`,
      }
      const r = http.request(
        { host: opt.upstream.hostname, port: opt.upstream.port, method, path: query ? `${uri}?${query}` : uri, headers, agent },
        (up) => {
          const chunks = []
          up.on('data', (c) => chunks.push(c))
          up.on('end', () => resolve({ status: up.statusCode, headers: up.headers, body: Buffer.concat(chunks) }))
          up.on('error', reject)
        }
      )
      r.on('error', reject)
      r.end()
    })
  }

  // upstreamObjects lists every key under prefix from s3rver, without a
  // delimiter. It cannot follow s3rver's own pages: s3rver walks its
  // directories depth first in byte order of the entry names (a folder
  // "ws" before a folder "ws-2" and a file "ws"), fills a page in that
  // order, and starts the next page after the page's last key in key
  // order, so keys like "ws-2/x" or "ws" after a page that ended inside
  // "ws/" are never listed. What it does have: the walk visits the
  // entries that continue a listed prefix Q in groups by the character
  // after Q: first the folder named Q itself (keys Q/...), then the
  // groups in character order, the key Q itself among the "." group.
  // A truncated page has therefore seen every group before its last key's
  // group whole; the proxy lists that group as a longer prefix, and the
  // groups after it with start-after (those above "/") or one prefix
  // query each (those below "/", which sort before Q/ as keys).
  // Resolves with { objects } (sorted by key bytes, each key once) or
  // { error: {status, body} } when s3rver refuses.
  async function upstreamObjects(entry, bucket, prefix, accessKey) {
    const found = new Map()
    const uriBucket = `/${rfc3986(bucket)}`
    const pageKeys = Math.max(1, Math.min(1000, opt.listPageKeys))
    const HIGH = '\uFFFF\uFFFF'
    const SLASH = 0x2f
    const DOT = 0x2e
    class Refused extends Error {}

    // query lists one upstream page: keys starting with q after `after`.
    const query = async (q, after) => {
      const pairs = [['list-type', '2'], ['max-keys', String(pageKeys)], ['prefix', q]]
      if (after) pairs.push(['start-after', after])
      const up = await upstreamSigned('GET', uriBucket, pairs, accessKey)
      entry.folded.upstreamPages++
      if (up.status !== 200) throw Object.assign(new Refused('upstream refused'), { up })
      const page = parseListPage(up.body.toString('utf8'))
      for (const o of page.objects) if (o.key.startsWith(prefix)) found.set(o.key, o)
      if (found.size > FOLD_KEY_LIMIT) throw new Error(`more than ${FOLD_KEY_LIMIT} keys to fold`)
      if (page.truncated && page.objects.length === 0)
        throw new Error('upstream answered an empty truncated page')
      return page
    }
    // groupOf names the group of the page's last key under q (a character
    // after q; the key q itself is in the "." group).
    const groupOf = (page, q) => {
      const k = page.objects[page.objects.length - 1].key
      return k.length === q.length ? DOT : k.codePointAt(q.length)
    }
    // exact adds the object named q itself, when there is one (HEAD).
    const exact = async (q) => {
      if (found.has(q) || !q.startsWith(prefix)) return
      const uri = `${uriBucket}/${q.split('/').map(rfc3986).join('/')}`
      const up = await upstreamSigned('HEAD', uri, [], accessKey)
      entry.folded.upstreamPages++
      if (up.status !== 200) return
      found.set(q, {
        key: q,
        lastModified: new Date(up.headers['last-modified']).toISOString(),
        etag: up.headers.etag,
        size: up.headers['content-length'],
        storageClass: 'STANDARD',
      })
    }
    // collect lists every key starting with q.
    const collect = async (q) => {
      const page = await query(q, null)
      if (!page.truncated) return
      const g = groupOf(page, q)
      // the groups still to come: g, then those after it in walk order
      if (g <= SLASH) await exact(q)
      await collect(q + String.fromCodePoint(g))
      if (g <= SLASH) for (let c = g === SLASH ? 0 : g + 1; c <= DOT; c++) await collect(q + String.fromCharCode(c))
      await scan(q, Math.max(g, SLASH))
    }
    // scan lists the keys starting with q in the groups above character c
    // (c >= "/"), which the walk and the key order both take in order.
    const scan = async (q, c) => {
      for (;;) {
        const page = await query(q, q + String.fromCodePoint(c) + HIGH)
        if (!page.truncated) return
        c = groupOf(page, q)
        await collect(q + String.fromCodePoint(c))
      }
    }

    try {
      await collect(prefix)
    } catch (e) {
      if (e instanceof Refused) return { error: e.up }
      throw e
    }
    entry.folded.upstreamKeys = found.size
    return { objects: sortByKeyBytes([...found.values()]) }
  }

  // handleFoldedList answers a ListObjects (V1) or ListObjectsV2 request with
  // a delimiter as S3 and R2 do (see foldListing): Contents for the keys
  // with no delimiter after the prefix, CommonPrefixes sorted and once,
  // max-keys over both, the proxy's own continuation tokens (V2) or
  // NextMarker (V1), start-after / marker, KeyCount, encoding-type=url.
  async function handleFoldedList(req, res, entry, q, o) {
    const v2 = entry.op === 'ListObjectsV2'
    const prefix = q.get('prefix') || ''
    const delimiter = q.get('delimiter')
    const encType = q.get('encoding-type')
    const bad = (message, name, value) =>
      sendError(req, res, entry, 400, 'InvalidArgument', message, { ArgumentName: name, ArgumentValue: value })
    if (encType !== undefined && encType !== 'url')
      return bad('Invalid Encoding Method specified in Request', 'encoding-type', encType)
    let maxKeys = 1000
    if (q.has('max-keys')) {
      const mk = q.get('max-keys')
      if (!/^\d+$/.test(mk) || Number(mk) > 2147483647)
        return bad('Provided max-keys not an integer or within integer range', 'max-keys', mk)
      maxKeys = Math.min(1000, Number(mk))
    }
    let start = ''
    const token = q.get('continuation-token')
    if (v2) {
      if (q.has('marker')) return bad('Marker unsupported with REST.GET.BUCKET in list-type=2', 'marker', q.get('marker'))
      if (token !== undefined) {
        start = decodeFoldToken(token, entry.bucket)
        if (start === null) return bad('The continuation token provided is incorrect', 'continuation-token', token)
      } else start = q.get('start-after') || ''
    } else {
      if (q.has('continuation-token'))
        return bad('continuation-token only supported in REST.GET.BUCKET with list-type=2', 'continuation-token', token)
      if (q.has('start-after'))
        return bad('startAfter only supported in REST.GET.BUCKET with list-type=2', 'start-after', q.get('start-after'))
      start = q.get('marker') || ''
    }
    let accessKey = requestAccessKey(req, q)
    if (!accessKey || !opt.credentials.has(accessKey)) accessKey = opt.credentials.keys().next().value

    entry.folded = { upstreamPages: 0, upstreamKeys: 0, keys: 0, prefixes: 0 }
    let page = { contents: [], prefixes: [], truncated: false, last: null }
    if (maxKeys > 0) {
      let got
      try {
        got = await upstreamObjects(entry, entry.bucket, prefix, accessKey)
      } catch (e) {
        return sendError(req, res, entry, 502, 'BadGateway', `upstream listing: ${e.message}`)
      }
      if (res.destroyed) return undefined
      if (got.error) {
        // s3rver refused (no such bucket, ...): relay its answer
        entry.error = 'upstream'
        res.writeHead(got.error.status, {
          'content-type': 'application/xml',
          'content-length': got.error.body.length,
          'x-amz-request-id': String(entry.seq),
        })
        res.end(got.error.body)
        return undefined
      }
      const after = start ? got.objects.filter((x) => byteCompare(x.key, start) > 0) : got.objects
      page = foldListing(after, prefix, delimiter, start, Math.min(maxKeys, opt.listMaxKeys))
    }
    entry.folded.keys = page.contents.length
    entry.folded.prefixes = page.prefixes.length

    const urlEnc = encType === 'url'
    const enc = (s) => xmlEscape(urlEnc ? encodeURIComponent(s).replace(/%2F/g, '/') : s)
    const owner = '<Owner><ID>123456789000</ID><DisplayName>S3rver</DisplayName></Owner>'
    const withOwner = !v2 || q.get('fetch-owner') === 'true'
    let xml = `<ListBucketResult xmlns="${S3_NS}"><Name>${xmlEscape(entry.bucket)}</Name><Prefix>${enc(prefix)}</Prefix>`
    if (v2) {
      if (q.has('start-after')) xml += `<StartAfter>${enc(q.get('start-after'))}</StartAfter>`
      if (token !== undefined) xml += `<ContinuationToken>${xmlEscape(token)}</ContinuationToken>`
      if (page.truncated) xml += `<NextContinuationToken>${encodeFoldToken(entry.bucket, page.last)}</NextContinuationToken>`
      xml += `<KeyCount>${page.contents.length + page.prefixes.length}</KeyCount>`
    } else {
      xml += `<Marker>${enc(start)}</Marker>`
      if (page.truncated) xml += `<NextMarker>${enc(page.last)}</NextMarker>`
    }
    xml += `<MaxKeys>${maxKeys}</MaxKeys><Delimiter>${enc(delimiter)}</Delimiter>`
    if (urlEnc) xml += '<EncodingType>url</EncodingType>'
    xml += `<IsTruncated>${page.truncated}</IsTruncated>`
    for (const c of page.contents) {
      xml += `<Contents><Key>${enc(c.key)}</Key><LastModified>${xmlEscape(c.lastModified || '')}</LastModified>`
      xml += `<ETag>${xmlEscape(c.etag || '')}</ETag><Size>${xmlEscape(c.size || '0')}</Size>`
      if (withOwner) xml += owner
      xml += `<StorageClass>${xmlEscape(c.storageClass)}</StorageClass></Contents>`
    }
    for (const p of page.prefixes) xml += `<CommonPrefixes><Prefix>${enc(p)}</Prefix></CommonPrefixes>`
    xml += '</ListBucketResult>'
    return sendXml(req, res, entry, xml, o)
  }

  // injectRequestReset reads part of the body, then drops the connection.
  function injectRequestReset(req) {
    const total = Number(req.headers['content-length'] || 0)
    if (!(total > 1)) {
      req.socket.destroy()
      return
    }
    let seen = 0
    req.on('data', (c) => {
      seen += c.length
      if (seen >= total / 2) req.socket.destroy()
    })
    req.on('end', () => req.socket.destroy())
  }

  // handle is the per-request entry point of the data path.
  async function handle(req, res) {
    const qi = req.url.indexOf('?')
    const rawPath = qi < 0 ? req.url : req.url.slice(0, qi)
    const rawQuery = qi < 0 ? '' : req.url.slice(qi + 1)
    const pairs = parseQuery(rawQuery)
    const q = new Map(pairs)
    const segs = rawPath.replace(/^\/+/, '').split('/')
    const bucket = safeDecode(segs[0] || '')
    const key = segs.length > 1 ? safeDecode(segs.slice(1).join('/')) : ''
    const op = classify(req.method, bucket, key, q, req.headers)
    const entry = {
      seq: ++state.seq,
      time: new Date().toISOString(),
      method: req.method,
      path: safeDecode(rawPath),
      rawPath,
      query: [...new Set(pairs.map(([k]) => k))].sort(),
      op,
      bucket,
      key,
      status: null,
      bytesIn: 0,
      bytesOut: 0,
      fault: null,
      ms: null,
    }
    if (q.has('prefix')) entry.listPrefix = q.get('prefix')
    if (req.headers.range !== undefined) entry.range = req.headers.range
    if (q.has('uploadId')) entry.uploadId = q.get('uploadId')
    if (q.has('partNumber')) entry.partNumber = Number(q.get('partNumber'))
    logEntry(entry)
    watchResponse(req, res, entry)
    req.on('error', () => {})
    res.on('error', () => {})

    // authentication: R2 refuses anonymous requests; the proxy checks the
    // signature itself only where it answers without s3rver
    const signed = Boolean(req.headers.authorization) || q.has('X-Amz-Signature') || q.has('Signature')
    if (!signed && !opt.allowAnonymous) return sendError(req, res, entry, 403, 'AccessDenied', 'Access Denied')

    // R2 refuses aws-chunked payloads and streamed bodies without a length
    const sha = req.headers['x-amz-content-sha256']
    if (sha && /^STREAMING-/.test(sha))
      return sendError(req, res, entry, 501, 'NotImplemented', `${sha} is not implemented`)
    if (['PutObject', 'UploadPart'].includes(op) && req.headers['content-length'] === undefined)
      return sendError(req, res, entry, 411, 'MissingContentLength', 'You must provide the Content-Length HTTP header.')

    // faults
    const { latencyMs, fail } = decideFaults(entry)
    if (latencyMs > 0) {
      entry.fault = `latency:${latencyMs}`
      await new Promise((resolve) => {
        const t = setTimeout(() => {
          state.pending.delete(t)
          resolve()
        }, latencyMs)
        t.cancel = resolve
        state.pending.add(t)
      })
      if (res.destroyed) return undefined
    }
    let resetResponse = false
    if (fail) {
      if (fail.status !== undefined) {
        entry.fault = `status:${fail.status}`
        const [code, message] = DEFAULT_MESSAGES[fail.status] || ['InternalError', 'Injected failure.']
        return sendError(req, res, entry, fail.status, fail.code || code, fail.message || message)
      }
      if (fail.reset === 'request') {
        entry.fault = 'reset:request'
        return injectRequestReset(req)
      }
      entry.fault = 'reset:response'
      resetResponse = true
    }

    const o = { resetResponse }
    if (op === 'GetObject') o.range = boundedRange(req.headers.range)
    if (['PutObject', 'UploadPart'].includes(op)) {
      try {
        o.spool = await spoolBody(opt, req)
      } catch {
        entry.status = 'client-gone'
        return undefined
      }
      entry.bytesIn = o.spool.bytes
      if (o.spool.mismatch) {
        if (o.spool.file) fs.rm(o.spool.file, { force: true }, () => {})
        return sendError(req, res, entry, 400, o.spool.mismatch[0], o.spool.mismatch[1])
      }
    }
    // bucket lock rules: deletes and overwrites of young objects under a
    // rule's prefix are refused (ObjectLockedByBucketPolicy, 403)
    if (state.locks.length && ['DeleteObject', 'DeleteObjects', 'PutObject'].includes(op)) {
      if (signed) {
        const bad = verifySigV4(opt, req, rawPath, pairs)
        if (bad) return sendError(req, res, entry, bad[0], bad[1], bad[2])
      }
      if (op === 'DeleteObjects') return handleLockedDelete(req, res, entry, bucket)
      let rule
      try {
        rule = await lockedFor(key, rawPath)
      } catch (e) {
        return sendError(req, res, entry, 502, 'BadGateway', `upstream: ${e.message}`)
      }
      if (rule) {
        if (o.spool && o.spool.file) fs.rm(o.spool.file, { force: true }, () => {})
        return sendError(req, res, entry, 403, 'ObjectLockedByBucketPolicy', LOCKED_MSG)
      }
    }
    switch (op) {
      case 'AbortMultipartUpload':
      case 'ListMultipartUploads':
      case 'ListParts': {
        const bad = verifySigV4(opt, req, rawPath, pairs)
        if (bad) return sendError(req, res, entry, bad[0], bad[1], bad[2])
        if (op === 'AbortMultipartUpload') return handleAbort(req, res, entry, q)
        if (op === 'ListMultipartUploads') return handleListUploads(req, res, entry, q, o)
        return handleListParts(req, res, entry, q, o)
      }
      case 'ListObjects':
      case 'ListObjectsV2': {
        if (!q.get('delimiter')) return forward(req, res, entry, o)
        if (signed) {
          const bad = verifySigV4(opt, req, rawPath, pairs)
          if (bad) return sendError(req, res, entry, bad[0], bad[1], bad[2])
        }
        return handleFoldedList(req, res, entry, q, o)
      }
      case 'CreateMultipartUpload':
        return handleCreateMultipart(req, res, entry, o)
      case 'UploadPart':
        return handleUploadPart(req, res, entry, o, q)
      case 'CompleteMultipartUpload':
        return handleComplete(req, res, entry, o, q)
      case 'PutObject':
        if (req.headers['if-none-match'] === '*') {
          return withKeyLock(`${bucket}/${key}`, async () => {
            let exists
            try {
              exists = await upstreamExists(rawPath)
            } catch (e) {
              return sendError(req, res, entry, 502, 'BadGateway', `upstream: ${e.message}`)
            }
            if (exists)
              return sendError(req, res, entry, 412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', { Condition: 'If-None-Match' })
            return forward(req, res, entry, o)
          })
        }
        return forward(req, res, entry, o)
      default:
        return forward(req, res, entry, o)
    }
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((e) => {
      process.stderr.write(`r2proxy: ${e.stack}\n`)
      if (!res.headersSent) {
        res.writeHead(500)
        res.end()
      } else res.destroy()
    })
  })
  server.keepAliveTimeout = 30000
  server.requestTimeout = 0
  server.headersTimeout = 60000
  return server
}

/* ------------------------------------------------------------- control API */

// startControl creates the control server (log, faults, reset, uploads).
function startControl(opt) {
  // reply writes a JSON answer.
  function reply(res, status, obj) {
    const body = `${JSON.stringify(obj)}\n`
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
    res.end(body)
  }

  // setFaults installs a fault configuration.
  function setFaults(cfg) {
    const rules = validateRules(cfg)
    state.rules = rules
    state.seed = cfg.seed === undefined ? 1 : Number(cfg.seed)
    state.rng = mulberry32(state.seed)
  }

  // configView shows the settings POST /config changes.
  function configView() {
    return {
      minPartSize: opt.minPartSize,
      allowAnonymous: opt.allowAnonymous,
      listPageKeys: opt.listPageKeys,
      listMaxKeys: opt.listMaxKeys,
      locks: state.locks,
    }
  }

  // faultView shows the installed rules with their counters.
  function faultView() {
    return { seed: state.seed, rules: state.rules }
  }

  return http.createServer((req, res) => {
    const u = new URL(req.url, 'http://control')
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      try {
        const route = `${req.method} ${u.pathname}`
        switch (route) {
          case 'GET /health':
            return reply(res, 200, { ok: true })
          case 'GET /config':
            return reply(res, 200, configView())
          case 'GET /log': {
            const since = Number(u.searchParams.get('since') || 0)
            const ops = u.searchParams.getAll('op')
            const pending = u.searchParams.get('pending') === '1'
            const entries = state.log.filter(
              (e) => e.seq > since && (ops.length === 0 || ops.includes(e.op)) && (pending || e.status !== null)
            )
            return reply(res, 200, { last: state.seq, entries })
          }
          case 'GET /faults':
            return reply(res, 200, faultView())
          case 'POST /faults':
          case 'PUT /faults':
            setFaults(body.trim() ? JSON.parse(body) : {})
            return reply(res, 200, faultView())
          case 'DELETE /faults':
            setFaults({})
            return reply(res, 200, faultView())
          case 'GET /stats':
            return reply(res, 200, statsFor(u.searchParams.get('prefix') || ''))
          case 'POST /stats/reset': {
            const prefix = u.searchParams.get('prefix') || ''
            const before = statsFor(prefix)
            resetStats(prefix)
            return reply(res, 200, before)
          }
          case 'POST /reset': {
            setFaults({})
            state.log = []
            state.stats.clear()
            for (const t of state.pending) {
              clearTimeout(t)
              t.cancel()
            }
            state.pending.clear()
            if (u.searchParams.get('uploads') === '1') state.uploads.clear()
            return reply(res, 200, { ok: true, last: state.seq })
          }
          case 'GET /uploads': {
            const bucket = u.searchParams.get('bucket')
            const prefix = u.searchParams.get('prefix') || ''
            const all = u.searchParams.get('all') === '1'
            const uploads = [...state.uploads.entries()]
              .filter(([, x]) => (all || x.state === 'open') && (!bucket || x.bucket === bucket) && x.key.startsWith(prefix))
              .map(([id, x]) => ({
                uploadId: id,
                bucket: x.bucket,
                key: x.key,
                state: x.state,
                initiated: x.initiated.toISOString(),
                parts: [...x.parts.entries()].sort((a, b) => a[0] - b[0]).map(([n, p]) => ({ partNumber: n, size: p.size })),
              }))
            return reply(res, 200, { uploads })
          }
          case 'POST /config': {
            const cfg = body.trim() ? JSON.parse(body) : {}
            for (const k of Object.keys(cfg)) {
              if (!['minPartSize', 'allowAnonymous', 'listPageKeys', 'listMaxKeys', 'locks'].includes(k))
                throw new Error(`unknown field "${k}"`)
            }
            const pageKeys = cfg.listPageKeys === undefined ? opt.listPageKeys : positiveInt('listPageKeys', cfg.listPageKeys)
            const maxKeys = cfg.listMaxKeys === undefined ? opt.listMaxKeys : positiveInt('listMaxKeys', cfg.listMaxKeys)
            if (cfg.minPartSize !== undefined) opt.minPartSize = Number(cfg.minPartSize)
            if (cfg.allowAnonymous !== undefined) opt.allowAnonymous = Boolean(cfg.allowAnonymous)
            if (cfg.locks !== undefined) {
              if (!Array.isArray(cfg.locks)) throw new Error('"locks" is a list of {prefix, maxAgeMs}')
              state.locks = cfg.locks.map((l) => {
                if (!l || typeof l.prefix !== 'string' || !(Number(l.maxAgeMs) > 0))
                  throw new Error('a lock rule is {"prefix": "...", "maxAgeMs": N > 0}')
                return { prefix: l.prefix, maxAgeMs: Number(l.maxAgeMs) }
              })
            }
            opt.listPageKeys = pageKeys
            opt.listMaxKeys = maxKeys
            return reply(res, 200, configView())
          }
          default:
            return reply(res, 404, { error: `no route ${route}` })
        }
      } catch (e) {
        return reply(res, 400, { error: e.message })
      }
    })
  })
}

/* --------------------------------------------------------------------- main */

// listen binds a server and resolves with its port.
function listen(server, port, address) {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, address, () => resolve(server.address().port))
  })
}

// main parses options, starts both servers and writes the port file.
async function main() {
  const opt = parseArgs(process.argv.slice(2))
  const proxy = startProxy(opt)
  const control = startControl(opt)
  const port = await listen(proxy, opt.port, opt.address)
  const controlPort = await listen(control, opt.controlPort, opt.address)
  if (opt.portFile) {
    fs.writeFileSync(`${opt.portFile}.tmp`, `${port} ${controlPort}\n`)
    fs.renameSync(`${opt.portFile}.tmp`, opt.portFile)
  }
  process.stdout.write(
    `r2proxy listening on http://${opt.address}:${port} control http://${opt.address}:${controlPort} upstream ${opt.upstream.origin}\n`
  )
  const stop = () => process.exit(0)
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

if (require.main === module) {
  main().catch((e) => {
    process.stderr.write(`r2proxy: ${e.message}\n`)
    process.exit(2)
  })
}

module.exports = {
  classify,
  boundedRange,
  fixRange,
  validateRules,
  verifySigV4,
  mulberry32,
  parseQuery,
  foldListing,
  encodeFoldToken,
  decodeFoldToken,
  parseListPage,
}

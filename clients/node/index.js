// index.js -- a small Node client for the sqlvault job queue.
//
// It speaks the protocol of docs/PROTOCOL.md through the Redis Function
// library the project ships (src/queue/sqlvault.lua): enqueue is one FCALL
// (deduplicated by job id), options travel as a msgpack map, and a job is
// polled by reading its hash. When the library is missing from Redis (a fresh
// or restarted server) the client loads it from the repository file.
'use strict'

const fs = require('fs')
const path = require('path')
const crypto = require('crypto')
const Redis = require('ioredis')
const { encode, decode } = require('@msgpack/msgpack')

const LIBRARY = path.join(__dirname, '..', '..', 'src', 'queue', 'sqlvault.lua')
const INT_FIELDS = ['attempt', 'max_attempts', 'bytes_done', 'bytes_total', 'created_at', 'started_at',
  'finished_at', 'ts', 'fence', 'retry_at', 'lease_until']
const INTERACTIVE = new Set(['backup', 'export', 'restore', 'import-url'])
const FINAL = new Set(['succeeded', 'failed', 'cancelled'])

class SqlvaultQueue {
  // opts: url (redis://...), prefix ('sqlvault'), pool ('default'), library (path of sqlvault.lua)
  constructor (opts = {}) {
    this.redis = opts.redis || new Redis(opts.url || process.env.SQLVAULT_REDIS_URL || 'redis://127.0.0.1:6379/0',
      { maxRetriesPerRequest: 3 })
    this.prefix = opts.prefix || process.env.SQLVAULT_REDIS_PREFIX || 'sqlvault'
    this.pool = opts.pool || 'default'
    this.library = opts.library || LIBRARY
  }

  // The pool's key prefix: PREFIX:{POOL}:
  base (pool) { return `${this.prefix}:{${pool || this.pool}}:` }

  // FCALL that loads the library once if Redis does not have it.
  async fcall (name, pool, ...args) {
    try {
      return await this.redis.call('FCALL', name, 1, this.base(pool), ...args)
    } catch (e) {
      if (!/Function not found/i.test(e.message)) throw e
      await this.redis.call('FUNCTION', 'LOAD', 'REPLACE', fs.readFileSync(this.library, 'utf8'))
      return this.redis.call('FCALL', name, 1, this.base(pool), ...args)
    }
  }

  // Enqueues a job; returns { id, created, state }. options: id, pool,
  // priority ('interactive' | 'scheduled'), maxAttempts (5), reason.
  async enqueue (type, workspace, jobOpts = {}, options = {}) {
    const id = options.id || crypto.randomBytes(16).toString('hex')
    const priority = options.priority || (options.reason === 'scheduled' || !INTERACTIVE.has(type) ? 'scheduled' : 'interactive')
    const reason = options.reason || jobOpts.reason || ''
    const [created, state] = await this.fcall('sqlvault_enqueue', options.pool, id, type, workspace || '',
      priority, String(options.maxAttempts || 5), Buffer.from(encode(jobOpts)), reason)
    return { id, created: created === 1, state }
  }

  // Reads a job: the hash with numbers as numbers, result parsed and options
  // decoded; null if there is no such job.
  async get (id, pool) {
    const key = `${this.base(pool)}job:${id}`
    const h = await this.redis.hgetall(key)
    if (!h || !h.state) return null
    const opts = await this.redis.hgetBuffer(key, 'opts')
    const job = { id, ...h }
    for (const f of INT_FIELDS) if (f in job) job[f] = Number(job[f])
    if (job.result) { try { job.result = JSON.parse(job.result) } catch (_) {} }
    job.opts = opts && opts.length ? decode(opts) : {}
    delete job.lease
    delete job.done_by
    return job
  }

  // Polls until the job ends (succeeded, failed or cancelled) or timeoutMs.
  async wait (id, { timeoutMs = 60000, intervalMs = 200, pool, onProgress } = {}) {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const job = await this.get(id, pool)
      if (!job) throw new Error(`no job ${id}`)
      if (FINAL.has(job.state)) return job
      if (onProgress) onProgress(job)
      if (Date.now() > deadline) throw new Error(`job ${id} still ${job.state} after ${timeoutMs} ms`)
      await new Promise(resolve => setTimeout(resolve, intervalMs))
    }
  }

  // Cancels a job; returns the state after the call, or null.
  async cancel (id, pool) { return this.fcall('sqlvault_cancel', pool, id) }

  async close () { await this.redis.quit() }
}

module.exports = { SqlvaultQueue }

// standin.js -- a worker stand-in for the route tests of inspect.test.js: it
// claims jobs from a deployment's queue through the shipped Redis Functions
// (sqlvault_claim / sqlvault_complete, as the C worker does) and answers them
// with the test's handler, so a test sees the exact options a route enqueued
// and chooses the answer. Only for unit tests of a route; the real worker runs
// in every test of a path end to end (preview.test.js).
import crypto from 'node:crypto'
import { SqlvaultClient } from '../../clients/node/index.js'

// standIn(dep, handle): handle(job) -> result object, or throws { message, code }
// for a failed job. Returns { jobs (every job claimed, with its opts), stop() }.
export function standIn (dep, handle) {
  const sv = new SqlvaultClient({ url: dep.env.SQLVAULT_REDIS_URL, prefix: dep.env.SQLVAULT_REDIS_PREFIX })
  const jobs = []
  let running = true
  const loop = (async () => {
    while (running) {
      const token = crypto.randomBytes(8).toString('hex')
      let got = null
      try { got = await sv.fcall('sqlvault_claim', sv.pool, 'standin', token, '30000') } catch (e) { if (running) console.error(`# stand-in: claim failed: ${e.message}`) }
      if (!got) { await new Promise(resolve => setTimeout(resolve, 30)); continue }
      const [id] = got
      const job = await sv.getJob(id)
      jobs.push(job)
      let outcome = 'ok'
      let payload
      let code = ''
      try {
        payload = JSON.stringify(await handle(job))
      } catch (e) {
        outcome = 'fail'
        payload = e.message
        code = e.code || 'internal'
      }
      await sv.fcall('sqlvault_complete', sv.pool, id, token, outcome, payload, code, '-1', '0')
    }
  })()
  return {
    jobs,
    async stop () { running = false; await loop; await sv.close() }
  }
}

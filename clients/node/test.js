// test.js -- used by tests/it/queue_node_client.sh: enqueue a backup of the
// workspace in argv[2] with the id argv[3], enqueue it again (deduplicated),
// wait for a real worker to finish it, and print the job as JSON.
import { SqlvaultClient } from './index.js'

const [ws, id] = process.argv.slice(2)
const q = new SqlvaultClient()
try {
  const first = await q.enqueueJob('backup', ws, { id, reason: 'manual', note: 'from node' })
  const again = await q.enqueueJob('backup', ws, { id, reason: 'manual' })
  if (!first.created || again.created) throw new Error(`dedup: ${JSON.stringify([first, again])}`)
  const job = await q.waitForJob(id, { timeoutMs: 60000 })
  console.log(JSON.stringify(job))
} catch (e) {
  console.error(e.stack || e)
  process.exitCode = 1
} finally {
  await q.close()
}

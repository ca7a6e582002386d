// test.js -- used by tests/it/queue_node_client.sh: enqueue a backup of the
// workspace in argv[2] with the id argv[3], enqueue it again (deduplicated),
// wait for a real worker to finish it, and print the job as JSON.
'use strict'
const { SqlvaultQueue } = require('.')

async function main () {
  const [ws, id] = process.argv.slice(2)
  const q = new SqlvaultQueue()
  const first = await q.enqueue('backup', ws, { reason: 'manual', note: 'from node' }, { id })
  const again = await q.enqueue('backup', ws, { reason: 'manual' }, { id })
  if (!first.created || again.created) throw new Error(`dedup: ${JSON.stringify([first, again])}`)
  const job = await q.wait(id, { timeoutMs: 60000 })
  console.log(JSON.stringify(job))
  await q.close()
}
main().catch(e => { console.error(e.stack || e); process.exit(1) })

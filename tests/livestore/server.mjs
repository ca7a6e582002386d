// server.mjs -- a minimal Node server as the plan describes, for sqlvault's
// tests: one real LiveStore 0.4 store (node adapter, fs storage) written
// continuously, with the Node client's listeners registered (clients/node):
//   onBackup:  quiesce() waits for isSynced and holds new commits; resume() lets them go
//   onRestore: pause() holds commits, waits for isSynced and shuts the store down;
//              resume() reopens it and writing goes on from its last event
//
//   node server.mjs DIR WS --rate R --stop FILE --out FILE [--log FILE]
// --out gets the last committed event number (every 50 events and at the end),
// --log one line per listener call.
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { maxN, openStore, options, testSchema, waitSynced } from './common.mjs'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const { SqlvaultClient } = await import(path.join(HERE, '..', '..', 'clients', 'node', 'index.js'))

const [dir, ws, ...rest] = process.argv.slice(2)
const opt = options(rest)
const rate = Number(opt('rate', '50'))
const stop = opt('stop')
const out = opt('out')
const logf = opt('log')
const log = (line) => logf && fs.appendFileSync(logf, `${line}\n`)

// The schema of store.mjs (schema 1), so both scripts open the same stores.
const { items, events, schema } = testSchema(1)
const open = () => openStore(dir, ws, schema)
const synced = (store) => waitSynced(store, 20)
const lastN = (store) => maxN(store, items)

let store = await open()
let n = lastN(store)
let held = false
const sv = new SqlvaultClient({})
const onB = await sv.onBackup(ws, {
  quiesce: async ({ jobId }) => {
    held = true
    await synced(store)
    log(`quiesce ${jobId} at ${n}`)
  },
  resume: ({ jobId }) => {
    held = false
    log(`resume ${jobId}`)
  },
})
const onR = await sv.onRestore(ws, {
  pause: async ({ jobId }) => {
    held = true
    await synced(store)
    await store.shutdownPromise()
    store = null
    log(`pause ${jobId} at ${n}`)
  },
  resume: async ({ jobId }) => {
    store = await open()
    n = lastN(store)
    held = false
    log(`reopen ${jobId} at ${n}`)
  },
})

const t0 = Date.now()
let done = 0
while (!(stop && fs.existsSync(stop))) {
  if (!held && store) {
    n++
    store.commit(events.itemAdded({ id: `i${n}`, n }))
    done++
    if (out && n % 50 === 0) fs.writeFileSync(out, String(n))
  }
  const wait = held ? 20 : t0 + (done * 1000) / rate - Date.now()
  await new Promise((r) => (wait > 0 ? setTimeout(r, wait) : setImmediate(r)))
}
while (!store) await new Promise((r) => setTimeout(r, 20))
await synced(store)
if (out) fs.writeFileSync(out, String(n))
await onB.close()
await onR.close()
await sv.close()
await store.shutdownPromise()
process.exit(0)

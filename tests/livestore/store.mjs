// store.mjs -- drives a real LiveStore 0.4 store (node adapter, fs storage) for
// sqlvault's tests. One process, one store: baseDirectory=DIR, storeId=WS.
//
//   node store.mjs write DIR WS --count N [--rate R] [--burst B] [--pad BYTES] [--schema 1|2] [--out FILE]
//       commits N events 'v1.ItemAdded' {id, n} (n = 1..N after what is there),
//       R per second (0 = as fast as it can), waits for isSynced, shuts down.
//       Writes the committed count to FILE when done (and each 100 events).
//   node store.mjs state DIR WS [--schema 1|2]
//       opens the store, prints JSON {items, maxN, sum} from the state tables
//       and {events} from the event log as LiveStore sees them, shuts down.
//   node store.mjs states WS DIR... [--schema 1|2]
//       the same for the store WS under each DIR, one line each, one process.
//   node store.mjs serve DIR WS --rate R --stop FILE [--schema 1|2] [--out FILE]
//       commits events until FILE exists; then waits for isSynced and exits.
import fs from 'node:fs'
import { itemNs, maxN, openStore, options, testSchema, waitSynced } from './common.mjs'

const argv = process.argv.slice(2)
const cmd = argv[0]
// states WS DIR... takes the workspace first; every other command DIR WS
const [dir, ws, ...rest] = cmd === 'states' ? [undefined, argv[1], ...argv.slice(2)] : argv.slice(1)
const opt = options(rest)
const { items, events, schema } = testSchema(Number(opt('schema', '1')))

// LiveStore's view of the store in dir: {items, maxN, sum} from its state tables.
const stateOf = async (dir) => {
  const store = await openStore(dir, ws, schema)
  const ns = itemNs(store, items).sort((a, b) => a - b)
  const sum = ns.reduce((a, b) => a + b, 0)
  await store.shutdownPromise()
  return JSON.stringify({ items: ns.length, maxN: ns.length ? ns[ns.length - 1] : 0, sum })
}

const main = async () => {
  if (cmd === 'states') {
    // states WS DIR... : one line per DIR (a baseDirectory), in one process
    for (const d of rest.filter((a, i) => !a.startsWith('--') && !rest[i - 1]?.startsWith('--'))) {
      console.log(await stateOf(d))
    }
    return
  }
  if (cmd === 'state') {
    console.log(await stateOf(dir))
    return
  }
  const store = await openStore(dir, ws, schema)
  const out = opt('out')
  let n = maxN(store, items)
  const rate = Number(opt('rate', '0'))
  const stop = opt('stop')
  const total = cmd === 'write' ? Number(opt('count', '100')) : Infinity
  const t0 = Date.now()
  let done = 0
  const burst = Number(opt('burst', '1'))
  // --pad BYTES: a filler string in every event, to grow the event log fast
  const pad = Number(opt('pad', '0')) > 0 ? 'x'.repeat(Number(opt('pad', '0'))) : ''
  while (done < total) {
    if (stop && fs.existsSync(stop)) break
    for (let b = 0; b < burst && done < total; b++) {
      n++
      store.commit(events.itemAdded(pad ? { id: `i${n}`, n, pad } : { id: `i${n}`, n }))
      done++
    }
    if (out && done % 100 === 0) fs.writeFileSync(out, String(n))
    // Always yield: LiveStore's leader persists in this same thread, so a loop
    // that never awaits would keep every event in memory.
    if (rate > 0) {
      const wait = t0 + (done * 1000) / rate - Date.now()
      await new Promise((r) => (wait > 0 ? setTimeout(r, wait) : setImmediate(r)))
    } else {
      await new Promise((r) => setImmediate(r))
    }
  }
  await waitSynced(store)
  if (out) fs.writeFileSync(out, String(n))
  await store.shutdownPromise()
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error('store.mjs:', e?.stack ?? e)
    process.exit(1)
  },
)

// common.mjs -- what store.mjs and server.mjs share: the test schema, opening a
// real LiveStore 0.4 store (node adapter, fs storage: baseDirectory=DIR,
// storeId=WS), waiting for isSynced, the highest item number, and the
// "--name value" option reader. One copy, so both scripts open the same stores.
import { makeAdapter } from '@livestore/adapter-node'
import { createStorePromise, Events, makeSchema, Schema, State, queryDb } from '@livestore/livestore'

// options(rest): a reader of "--name value" pairs in rest, opt(name, dflt).
export const options = (rest) => (name, dflt) => {
  const i = rest.indexOf(`--${name}`)
  return i >= 0 ? rest[i + 1] : dflt
}

// testSchema(version): items(id, n) and the event 'v1.ItemAdded' {id, n, pad?}.
// Schema 2 adds a column, so the state file's hash changes.
export const testSchema = (version = 1) => {
  const columns = {
    id: State.SQLite.text({ primaryKey: true }),
    n: State.SQLite.integer(),
  }
  if (version >= 2) columns.tag = State.SQLite.text({ default: 'v2' })
  const items = State.SQLite.table({ name: 'items', columns })
  const events = {
    itemAdded: Events.synced({
      name: 'v1.ItemAdded',
      schema: Schema.Struct({ id: Schema.String, n: Schema.Number, pad: Schema.optional(Schema.String) }),
    }),
  }
  const materializers = State.SQLite.materializers(events, {
    'v1.ItemAdded': ({ id, n }) => items.insert({ id, n }),
  })
  const schema = makeSchema({ events, state: State.SQLite.makeState({ tables: { items }, materializers }) })
  return { items, events, schema }
}

// openStore(dir, ws, schema): the store WS under baseDirectory dir.
export const openStore = (dir, ws, schema) =>
  createStorePromise({ adapter: makeAdapter({ storage: { type: 'fs', baseDirectory: dir } }), schema, storeId: ws })

// waitSynced(store, stepMs): until syncStatus().isSynced, at most 600 steps.
export const waitSynced = async (store, stepMs = 50) => {
  for (let i = 0; i < 600 && !store.syncStatus().isSynced; i++) await new Promise((r) => setTimeout(r, stepMs))
}

// itemNs(store, items): every item's n (a single-column select may come back
// as numbers or as {n} rows).
export const itemNs = (store, items, q = items.select('n')) =>
  store.query(queryDb(q)).map((r) => (typeof r === 'number' ? r : r.n))

// maxN(store, items): the highest item number, 0 when there is none.
export const maxN = (store, items) => {
  const ns = itemNs(store, items, items.select('n').orderBy('n', 'desc').limit(1))
  return ns.length ? ns[0] : 0
}

// listBackups over a file:// store holding a chain: a full and 150 incrementals
// (object pages-PARENT.zst, include/chain.h). No server needed.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { openStore, listBackups } from '../store.js'

function tsOf (ms) {
  return new Date(ms).toISOString().replace(/[-:]/g, '').replace(/(\d{8}T\d{6})\.(\d{3})Z/, '$1.$2Z')
}

test('listBackups: incrementals carry their parent; only the newest 100 read metadata', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'svstore-'))
  try {
    const ws = 'chainws'
    const t0 = Date.UTC(2026, 10, 30, 10, 0, 0)
    const put = (ts, name, body) => {
      fs.mkdirSync(path.join(root, 'full', ws, ts), { recursive: true })
      fs.writeFileSync(path.join(root, 'full', ws, ts, name), body)
    }
    const full = tsOf(t0)
    put(full, 'livestore.db.zst', Buffer.alloc(1000))
    put(full, 'metadata.json', JSON.stringify({ timestamp: new Date(t0).toISOString(), backupType: 'full', databaseSize: 4096, chainLength: 0 }))
    let parent = full
    for (let i = 1; i <= 150; i++) {
      const ts = tsOf(t0 + i * 60000)
      put(ts, `pages-${parent}.zst`, Buffer.alloc(10 + i))
      put(ts, 'metadata.json', JSON.stringify({ timestamp: new Date(t0 + i * 60000).toISOString(), backupType: 'incremental', databaseSize: 4096 + i, base: full, chainLength: i }))
      parent = ts
    }
    // an uncommitted folder is not listed
    put(tsOf(t0 + 151 * 60000), `pages-${parent}.zst`, Buffer.alloc(5))
    const list = await listBackups(openStore({ kind: 'file', root }), ws)
    assert.equal(list.length, 151)
    assert.equal(list[150].ts, full)
    assert.equal(list[150].backupType, 'full')
    assert.equal(list[150].parent, undefined)
    for (let i = 0; i < 150; i++) {
      const b = list[i]
      const n = 150 - i
      assert.equal(b.backupType, 'incremental')
      assert.equal(b.parent, list[i + 1].ts, `the parent of ${b.ts}`)
      assert.equal(b.storedSize, 10 + n)
      assert.equal(b.timestamp, new Date(t0 + n * 60000).toISOString())
      if (i < 100) {
        assert.equal(b.databaseSize, 4096 + n, 'the newest incrementals are read')
        assert.equal(b.chainLength, n)
      } else {
        assert.equal(b.databaseSize, undefined, 'older incrementals come from the listing alone')
      }
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true })
  }
})

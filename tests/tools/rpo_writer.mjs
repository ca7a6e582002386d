// rpo_writer.mjs -- the writers of the RPO benchmark (scripts/bench.sh row r):
// every PERIOD ms, FRACTION of the N workspaces DATA/rNNNN/livestore.db (chosen
// at random with SEED) get one INSERT (through the sqlite3 CLI, so each write is
// committed when it returns), and each write is followed by the Node client's
// markDirty. Runs for DURATION ms, then writes "WS WRITE_MS BEFORE_MS" lines (the
// time the write had committed by, and the time it started) to OUT and prints a
// one-line summary.
//
//   node rpo_writer.mjs N PERIOD_MS FRACTION DURATION_MS DATA OUT SEED
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import { promisify } from 'node:util'
import { SqlvaultClient } from '../../clients/node/index.js'

const run = promisify(execFile)
const [n, period, fraction, duration, data, out, seedArg] = process.argv.slice(2)
const N = Number(n)
const PERIOD = Number(period)
const K = Math.max(1, Math.round(N * Number(fraction)))
let seed = Number(seedArg) >>> 0 || 1
// mulberry32: a seeded generator, so a run can be replayed
const rand = () => {
  seed = (seed + 0x6d2b79f5) >>> 0
  let t = seed
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}
const name = i => `r${String(i).padStart(4, '0')}`
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

const q = new SqlvaultClient()
const lines = []
const start = Date.now()
let rounds = 0
try {
  for (let r = 0; r * PERIOD < Number(duration); r++) {
    const due = start + r * PERIOD
    if (Date.now() < due) await sleep(due - Date.now())
    const picked = new Set()
    while (picked.size < K) picked.add(1 + Math.floor(rand() * N))
    // the round's writes go out together, 8 at a time (a writer per workspace)
    const todo = [...picked]
    await Promise.all(Array.from({ length: 8 }, async () => {
      for (let i = todo.pop(); i !== undefined; i = todo.pop()) {
        const ws = name(i)
        const before = Date.now()
        await run('sqlite3', [`${data}/${ws}/livestore.db`, `INSERT INTO t(v, at) VALUES ('round ${r}', ${before})`])
        const at = Date.now()
        await q.markDirty(ws)
        lines.push(`${ws} ${at} ${before}`)
      }
    }))
    rounds++
  }
} finally {
  await q.close()
}
fs.writeFileSync(out, lines.join('\n') + '\n')
console.log(`rounds=${rounds} writes=${lines.length} per_round=${K} seed=${seedArg}`)

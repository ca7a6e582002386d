// ext_bsq.mjs -- one query on a point of the backups through sqlvault.so from
// better-sqlite3 (tests/ext), a host that can name no VFS and takes no URI:
// the extension's router opens the plain name "sqlvault:NAME"
// (docs/TIMETRAVEL.md, tests/it/travel_extension.sh).
//
//     node ext_bsq.mjs EXT NAME SQL
//
// EXT: the extension (build/sqlvault.so); NAME: WS[@TIME][#FILE]. Prints the
// rows as one JSON array of arrays on stdout; an error prints "error: MESSAGE"
// on stderr, exit 1. SQL may write: the refusal is what is printed.
import { createRequire } from 'node:module'

const require = createRequire(new URL('../ext/package.json', import.meta.url))
const Database = require('better-sqlite3')
const [ext, name, sql] = process.argv.slice(2)
const loader = new Database(':memory:')
loader.loadExtension(ext)
let db
try {
  db = new Database(`sqlvault:${name}`, { readonly: true, fileMustExist: true })
  const stmt = db.prepare(sql)
  if (stmt.reader) console.log(JSON.stringify(stmt.raw(true).all()))
  else stmt.run()
} catch (e) {
  console.error(`error: ${e.message}`)
  process.exitCode = 1
} finally {
  if (db) db.close()
  loader.close()
}

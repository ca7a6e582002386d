// main.js -- `node main.js` (scripts/web.sh): the reference web server in the
// foreground. Configuration from the environment: SQLVAULT_WEB_ADDR
// (127.0.0.1:8080), SQLVAULT_WEB_USERS (JSON file of demo tokens),
// SQLVAULT_WEB_CORS_ORIGINS, SQLVAULT_WEB_SECRET, SQLVAULT_WEB_PUBLIC_URL
// SQLVAULT_WEB_ACCESS_LOG (1: a line per request on stdout, without query
// strings; 0: none) and the usual SQLVAULT_* (Redis, store, limits, SQLVAULT_TMP_DIR).
import { createWebServer } from './index.js'

let web
try {
  web = await createWebServer({ accessLog: process.env.SQLVAULT_WEB_ACCESS_LOG !== '0' })
} catch (e) {
  console.error(`sqlvault web: ${e.message}`)
  process.exit(2)
}
let url
try {
  url = await web.listen(process.env.SQLVAULT_WEB_ADDR || '127.0.0.1:8080')
} catch (e) {
  console.error(`sqlvault web: cannot listen on ${process.env.SQLVAULT_WEB_ADDR || '127.0.0.1:8080'} (SQLVAULT_WEB_ADDR): ${e.message}`)
  process.exit(2)
}
console.log(`listening on ${url}`)
const stop = async sig => {
  console.log(`sqlvault web: ${sig}, stopping`)
  setTimeout(() => process.exit(0), 3000).unref()
  await web.close()
  process.exit(0)
}
process.on('SIGTERM', () => stop('SIGTERM'))
process.on('SIGINT', () => stop('SIGINT'))

// build.mjs OUTDIR: compiles the plan's BackupRestoreSection.tsx (unchanged)
// with its two context stand-ins into OUTDIR/bundle.js + OUTDIR/index.html.
// The page reads ?server=ORIGIN&ws=WS&token=TOKEN.
import { build } from 'esbuild'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const out = process.argv[2]
if (!out) { console.error('usage: node build.mjs OUTDIR'); process.exit(2) }
fs.mkdirSync(out, { recursive: true })
await build({
  entryPoints: [path.join(here, 'src', 'main.tsx')],
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: 'es2020',
  jsx: 'transform',
  define: { 'process.env.NODE_ENV': '"production"' },
  outfile: path.join(out, 'bundle.js'),
  logLevel: 'warning'
})
fs.writeFileSync(path.join(out, 'index.html'), `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Settings — plan component</title></head>
<body><div id="root"></div>
<script>
  const q = new URLSearchParams(location.search)
  window.authServiceUrl = q.get('server')
  window.__svWorkspace = q.get('ws')
  window.__svToken = q.get('token')
</script>
<script src="bundle.js"></script>
</body></html>
`)
console.log(`built ${path.join(out, 'bundle.js')}`)

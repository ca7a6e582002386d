#!/usr/bin/env node
// Starts @20minutes/s3rver (the local S3 server of the integration tests) on
// loopback with a data directory and the buckets the tests need.
//
// Run it as `node --openssl-legacy-provider start-s3rver.js ...`: s3rver's
// ListObjectsV2 continuation tokens are DES-encrypted, and OpenSSL 3 only
// offers DES through its legacy provider. The script checks this at start-up
// and refuses to run without it rather than failing on the first paginated
// list.
//
// Usage: start-s3rver.js --dir DIR [--port N] [--address 127.0.0.1]
//                        [--bucket NAME]... [--port-file FILE] [--verbose]
// --port 0 (the default) lets the OS pick a free port; the port actually bound
// is printed as `s3rver listening on http://ADDR:PORT` and, with --port-file,
// written to FILE (atomically, once the server accepts connections).
'use strict'

const crypto = require('node:crypto')
const fs = require('node:fs')
const path = require('node:path')

// parseArgs reads the command line into an options object.
function parseArgs(argv) {
  const opt = { port: 0, address: '127.0.0.1', dir: null, buckets: [], portFile: null, verbose: false }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`missing value for ${a}`)
      return argv[++i]
    }
    if (a === '--port') opt.port = Number(next())
    else if (a === '--address') opt.address = next()
    else if (a === '--dir') opt.dir = next()
    else if (a === '--bucket') opt.buckets.push(next())
    else if (a === '--port-file') opt.portFile = next()
    else if (a === '--verbose') opt.verbose = true
    else throw new Error(`unknown argument ${a}`)
  }
  if (!opt.dir) throw new Error('--dir is required')
  if (!Number.isInteger(opt.port) || opt.port < 0 || opt.port > 65535) throw new Error('bad --port')
  return opt
}

// checkLegacyProvider fails unless DES is available (node --openssl-legacy-provider).
function checkLegacyProvider() {
  try {
    crypto.createCipheriv('des', Buffer.alloc(8), Buffer.alloc(8))
  } catch (e) {
    throw new Error(
      'DES is unavailable, so s3rver could not paginate ListObjectsV2\n' +
        'HINT: run this script as `node --openssl-legacy-provider start-s3rver.js ...`'
    )
  }
}

// main starts the server and writes the port file once it listens.
async function main() {
  const opt = parseArgs(process.argv.slice(2))
  checkLegacyProvider()
  fs.mkdirSync(opt.dir, { recursive: true })
  const S3rver = require('@20minutes/s3rver')
  const server = new S3rver({
    address: opt.address,
    port: opt.port,
    directory: path.resolve(opt.dir),
    silent: !opt.verbose,
    configureBuckets: opt.buckets.map((name) => ({ name })),
  })
  const addr = await server.run()
  const url = `http://${addr.address}:${addr.port}`
  if (opt.portFile) {
    fs.writeFileSync(`${opt.portFile}.tmp`, `${addr.port}\n`)
    fs.renameSync(`${opt.portFile}.tmp`, opt.portFile)
  }
  process.stdout.write(`s3rver listening on ${url} dir=${opt.dir} buckets=${opt.buckets.join(',')}\n`)
  const stop = () => {
    server.close().finally(() => process.exit(0))
    setTimeout(() => process.exit(0), 2000).unref()
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

main().catch((e) => {
  process.stderr.write(`start-s3rver: ${e.message}\n`)
  process.exit(2)
})

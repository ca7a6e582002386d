// size.js -- sizes as sqlvault's variables write them: 1048576, 64KiB, 16MiB, 32GiB, 1TB.
const UNITS = { '': 1, b: 1, k: 1024, kb: 1000, kib: 1024, m: 1024 ** 2, mb: 1000 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1000 ** 3, gib: 1024 ** 3, t: 1024 ** 4, tb: 1000 ** 4, tib: 1024 ** 4 }

// parseSize('32GiB') -> 34359738368; throws on anything else.
export function parseSize (s) {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(String(s))
  const unit = m && UNITS[m[2].toLowerCase()]
  if (!m || !unit) throw new Error(`invalid size '${s}' (e.g. 1048576, 64KiB, 16MiB, 32GiB)`)
  return Math.floor(Number(m[1]) * unit)
}

// formatSize(1536) -> '1.5 KiB'
export function formatSize (n) {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  let v = Number(n) || 0
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++ }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${u[i]}`
}

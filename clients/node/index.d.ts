// Type declarations of sqlvault-client (index.js). No build step: the package is plain ESM.
import type { Redis, Cluster } from 'ioredis'

export type JobType = 'backup' | 'export' | 'restore' | 'verify' | 'prune' | 'import-url' | 'replicate' | 'inspect'

/** The result of an `inspect` job (options: at = 'latest' | a backup time | an ISO time | 'live' | 'object:KEY'):
 *  what that point of the workspace holds, read in place (nothing is restored). */
export interface InspectResult {
  source: 'backup' | 'live' | 'object'
  backup: string | null
  at: string | null
  backupType: 'full' | 'incremental' | null
  chainLength: number | null
  size: number
  pageSize: number
  pageCount: number
  /** user tables, sorted by name */
  tables: { name: string; rows: number }[]
  /** a LiveStore event log: its newest sequence number and newest events (at most 10, newest first) */
  livestore: null | { head: number; events: { seq: number; name: string; at: string | null }[] }
  fetched: { requests: number; bytes: number }
}
export type JobState = 'queued' | 'active' | 'retrying' | 'succeeded' | 'failed' | 'cancelled'
export const JOB_TYPES: JobType[]
export const FINAL_STATES: JobState[]
export const LIBRARY_PATH: string

export type ErrorCode = 'REDIS_UNREACHABLE' | 'JOB_FAILED' | 'JOB_CANCELLED' | 'TIMEOUT' | 'ABORTED' | 'NOT_FOUND' | 'INVALID' | 'ERROR'

export class SqlvaultError extends Error {
  code: ErrorCode
  /** the job's error_code (transient, corrupt, checksum, invalid, notfound, toobig, ...) for JOB_FAILED */
  errorCode?: string
  job?: Job
}

/** One job, as its Redis hash (docs/PROTOCOL.md) with numbers as numbers. */
export interface Job {
  id: string
  type: JobType
  workspace: string
  pool: string
  priority: 'interactive' | 'dirty' | 'scheduled'
  state: JobState
  attempt: number
  max_attempts: number
  stage?: string
  bytes_done?: number
  bytes_total?: number
  created_at: number
  started_at?: number
  finished_at?: number
  worker?: string
  error?: string
  error_code?: string
  result?: Record<string, any>
  opts: Record<string, any>
  reason?: string
  [field: string]: any
}

export interface EnqueueOptions {
  /** job id: the same id twice is one job (dedup); random when absent */
  id?: string
  pool?: string | string[]
  priority?: 'interactive' | 'dirty' | 'scheduled'
  maxAttempts?: number
  /** job options, sent as a msgpack map: reason, from, format, ttl, user_id, db, ... */
  [option: string]: any
}

export interface WaitOptions {
  timeoutMs?: number
  onProgress?: (job: Job) => void
  signal?: AbortSignal
  pool?: string
  pollMs?: number
}

export interface Backup {
  ts: string
  timestamp?: string
  backupType?: 'full' | 'pre-restore' | string
  databaseSize?: number
  compressedSize?: number
  storedSize?: number
  checksum?: string
  reason?: string
  verified: boolean
  verifiedAt?: string
  error?: string
}

export interface ListenerEvent { jobId: string; workspace: string; kind: 'restore' | 'backup' }
export interface ListenerEndEvent extends ListenerEvent { outcome: 'completed' | 'failed' | 'resume' | 'flag-gone' | 'superseded' }
export interface Listener {
  listenerId: string
  workspace: string
  readonly paused: string | null
  readonly quiesced: string | null
  close(): Promise<void>
}

export type StoreConfig =
  | { kind: 'file'; root: string }
  | { kind: 's3'; bucket: string; prefix: string; endpoint: string; region: string; accessKeyId: string; secretAccessKey: string }

export interface ClientOptions {
  redis?: Redis | Cluster
  url?: string
  prefix?: string
  /** A pool, or a pool set "a,b,c" (or an array): each workspace then goes to
   * pool poolFor(set, workspace), the same function as the C side. */
  pool?: string | string[]
  library?: string
  commandTimeoutMs?: number
  /** After an enqueue, wait this long for a replica's ack (WAIT 1) when the
   * pool's master has replicas; default SQLVAULT_REDIS_WAIT or 1000, 0 = off. */
  waitReplicaMs?: number
  store?: StoreConfig
  onError?: (e: Error) => void
  /** The clock of markDirty's marks, ms since the epoch (default Date.now). */
  now?: () => number
}

export class SqlvaultClient {
  constructor(opts?: ClientOptions)
  redis: Redis | Cluster
  prefix: string
  /** the first pool of the set */
  pool: string
  /** the pool set (one name when a single pool) */
  pools: string[]
  /** the pool of a workspace in this client's pool set */
  poolFor(workspace: string): string
  base(pool?: string): string
  enqueue(type: JobType, workspace: string, options?: EnqueueOptions): Promise<string>
  enqueueJob(type: JobType, workspace: string, options?: EnqueueOptions): Promise<{ id: string; created: boolean; state: JobState; pool: string }>
  getJob(id: string, opts?: { pool?: string }): Promise<Job | null>
  waitForJob(id: string, opts?: WaitOptions): Promise<Job>
  run(type: JobType, workspace: string, options?: EnqueueOptions, waitOpts?: WaitOptions): Promise<Job>
  cancel(id: string, opts?: { pool?: string }): Promise<string | null>
  listBackups(workspace: string): Promise<Backup[]>
  /** After writing to a workspace: ZADD PREFIX:{POOL}:dirty NX now WS (its pool of the set)
   * and SADD PREFIX:workspaces WS. The leading scheduler backs it up within
   * SQLVAULT_INCREMENTAL_EVERY. Resolves true when newly marked, false when already waiting. */
  markDirty(workspace: string): Promise<boolean>
  onRestore(workspace: string, handlers: { pause?: (e: ListenerEvent) => any; resume?: (e: ListenerEndEvent) => any }, opts?: { pools?: string[] }): Promise<Listener>
  onBackup(workspace: string, handlers: { quiesce?: (e: ListenerEvent) => any; resume?: (e: ListenerEndEvent) => any }, opts?: { pools?: string[] }): Promise<Listener>
  loadLibrary(): Promise<void>
  close(): Promise<void>
}

/** The first client's names: enqueue → { id, created, state }, get, wait. */
export class SqlvaultQueue extends SqlvaultClient {
  // @ts-ignore
  enqueue(type: JobType, workspace: string, jobOpts?: Record<string, any>, options?: EnqueueOptions): Promise<{ id: string; created: boolean; state: JobState }>
  get(id: string, pool?: string): Promise<Job | null>
  wait(id: string, opts?: WaitOptions): Promise<Job>
}

export function isValidId(s: unknown): boolean
/** 32-bit FNV-1a of a workspace id's UTF-8 bytes (the pool-set hash). */
export function fnv1a32(s: string): number
/** A pool list split on commas and spaces, empties and repeats dropped; ['default'] when empty. */
export function parsePools(pools: string | string[] | undefined): string[]
/** The pool of workspace in a pool set: parsePools(pools)[fnv1a32(workspace) % n]. */
export function poolFor(pools: string | string[] | undefined, workspace: string): string
export function parseSize(s: string | number): number
export function formatSize(n: number): string
export function storeConfig(env?: Record<string, string | undefined>): StoreConfig
export function openStore(cfg?: StoreConfig): { cfg: StoreConfig; list(prefix: string): Promise<{ key: string; size: number }[]>; getText(key: string): Promise<string | null> }

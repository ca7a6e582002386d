// Type declarations of the reference web server (index.js). No build step.
import type { IncomingMessage, ServerResponse, Server } from 'node:http'
import type { SqlvaultClient, StoreConfig, Job } from '../index.js'

export class HttpError extends Error { constructor(status: number, message: string); status: number }

export interface App {
  sv: SqlvaultClient
  store: StoreConfig
  env: Record<string, string | undefined>
  maxDbSize: number
  route(method: string, re: RegExp, handler: (req: IncomingMessage, res: ServerResponse, match: RegExpExecArray, ctx: { url: URL; app: App }) => any): void
  user(req: IncomingMessage): Promise<string>
  workspace(req: IncomingMessage, ws: string): Promise<string>
  isAdmin(userId: string): boolean | Promise<boolean>
  sendJson(res: ServerResponse, status: number, body: unknown, headers?: Record<string, string>): void
  fail(res: ServerResponse, status: number, error: string): void
  readJson(req: IncomingMessage, limit?: number): Promise<any>
  publicJob(job: Job): Record<string, unknown>
  HttpError: typeof HttpError
}

export interface WebServerOptions {
  authenticate?: (req: IncomingMessage) => string | null | Promise<string | null>
  canAccess?: (userId: string, workspace: string) => boolean | Promise<boolean>
  listWorkspaces?: (userId: string) => string[] | Promise<string[]>
  isAdmin?: (userId: string) => boolean | Promise<boolean>
  usersFile?: string
  client?: SqlvaultClient
  redisUrl?: string
  prefix?: string
  store?: StoreConfig
  maxDbSize?: string | number
  exportTtl?: number
  jobTimeoutMs?: number
  secret?: string
  corsOrigins?: string
  tmpDir?: string
  publicDir?: string
  routesDir?: string
  routeModules?: Array<((app: App) => any) | { default: (app: App) => any }>
  env?: Record<string, string | undefined>
}

export function loadUsers(file: string): Map<string, { user: string; workspaces: string[]; admin: boolean }>
export function createWebServer(opts?: WebServerOptions): Promise<{ app: App; server: Server; client: SqlvaultClient; listen(addr?: string): Promise<string>; close(): Promise<void> }>

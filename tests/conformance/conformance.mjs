#!/usr/bin/env node
// Conformance of a server (abs-sim) with a real Audiobookshelf 2.36.0.
//
// Usage: node conformance.mjs BASE_URL            (e.g. http://127.0.0.1:13378)
// Env:   ABS_USERNAME / ABS_PASSWORD (default root / root): an existing root or admin account.
//
// Drives the server the way the probe drove a real 2.36.0 server, with nothing but what a real
// client has (REST with fetch, Socket.IO with the official socket.io-client), and compares what it
// answers with the captures in ../fixtures/abs-2.36.0/: the same events reach the same sockets, and
// every payload has the same keys (recursively) and JSON types. Ids, tokens, timestamps and numbers
// are not compared, except where the value is the behaviour (error messages, token `type`s, token
// lifetimes, `isFinished`, ...). Prints one `ok - ...` / `not ok - ... (expected X got Y)` line per
// check and exits 1 if any failed.
//
// Synchronisation: every wait has a timeout (TIMEOUT_MS). To prove that an event did NOT arrive,
// the script does a `ping` → `pong` round trip on the socket after the trigger: events on one socket
// are delivered in order, so whatever the trigger emitted to that socket comes before the `pong`.

import { readFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { isDeepStrictEqual } from 'node:util'
import { io } from 'socket.io-client'

const TIMEOUT_MS = 5000
const RUN_TIMEOUT_MS = 90_000

// ---------------------------------------------------------------------------------------------
// Fixtures

const fixtureDir = new URL('../fixtures/abs-2.36.0/', import.meta.url)
const readFixture = (name) => JSON.parse(readFileSync(new URL(name, fixtureDir), 'utf8'))
const probe = readFixture('probe-results.json')
const captured = readFixture('captured-events.json')

/** The first argument of the `nth` event `event` that the probe socket `socket` received. */
function capturedPayload(socket, event, nth = 0, where = () => true) {
  const found = captured.filter((e) => e.socket === socket && e.event === event && where(e.args[0]))
  if (found.length <= nth) throw new Error(`fixture has no ${event} #${nth} on ${socket}`)
  return found[nth].args[0]
}

// ---------------------------------------------------------------------------------------------
// Reporting

const tally = { passed: 0, failed: 0 }

const show = (value) => {
  const text = value === undefined ? 'undefined' : JSON.stringify(value)
  return text.length > 300 ? `${text.slice(0, 300)}…` : text
}

function report(name, pass, expected, got) {
  if (pass) {
    tally.passed += 1
    console.log(`ok - ${name}`)
  } else {
    tally.failed += 1
    console.log(`not ok - ${name} (expected ${expected} got ${got})`)
  }
  return pass
}

const expectEqual = (name, expected, got) =>
  report(name, isDeepStrictEqual(expected, got), show(expected), show(got))

const expectTrue = (name, pass, expected, got) => report(name, Boolean(pass), expected, got)

const sorted = (keys) => [...keys].sort()

/** Same set of keys (order does not matter). */
const expectKeys = (name, expectedKeys, object) =>
  expectEqual(name, sorted(expectedKeys), isObject(object) ? sorted(Object.keys(object)) : object)

// ---------------------------------------------------------------------------------------------
// Shapes: keys and JSON types, recursively

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v)
const jsonType = (v) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v)

/** Keys whose value is legitimately `null` or a number depending on history (e.g. a rerun). */
const NULL_OR_NUMBER = new Set(['lastSeen', 'finishedAt'])
/** Objects whose keys depend on the media file, not on the protocol: only the type is compared. */
const OPAQUE = new Set(['metaTags'])

/**
 * Differences between the shape of `actual` and that of `expected`, as "path: expected X got Y".
 * A `null` in the capture only says the key is nullable (the probe's test book had no publisher,
 * cover, ...), so any value matches it; the key itself must still be there.
 */
function shapeDiffs(expected, actual, path = '$') {
  const key = path.split('.').at(-1)
  const [te, ta] = [jsonType(expected), jsonType(actual)]
  if (te === 'null') return []
  if (te !== ta) {
    const nullable = NULL_OR_NUMBER.has(key) && [te, ta].every((t) => t === 'null' || t === 'number')
    return nullable ? [] : [`${path}: expected ${te} got ${ta}`]
  }
  if (te === 'object' && !OPAQUE.has(key)) return objectDiffs(expected, actual, path)
  if (te === 'array') return arrayDiffs(expected, actual, path)
  return []
}

function objectDiffs(expected, actual, path) {
  const diffs = []
  for (const k of Object.keys(expected)) {
    if (!(k in actual)) diffs.push(`${path}.${k}: expected ${jsonType(expected[k])} got no key`)
    else diffs.push(...shapeDiffs(expected[k], actual[k], `${path}.${k}`))
  }
  for (const k of Object.keys(actual)) {
    if (!(k in expected)) diffs.push(`${path}.${k}: expected no key got ${jsonType(actual[k])}`)
  }
  return diffs
}

/**
 * Element shapes for arrays that were empty in the captures (the probe's test book had no
 * chapters, a new user no progress): from the protocol notes (§5b) or another capture.
 */
const ELEMENT_WHEN_EMPTY = {
  chapters: [{ id: 0, start: 0, end: 0, title: '' }],
  mediaProgress: probe.userUpdatedAfterPatchProgress.mediaProgress,
  narrators: [''],
  genres: [''],
}

/** Each actual element must have the shape of one of the expected elements (else: the nearest's diffs). */
function arrayDiffs(fromCapture, actual, path) {
  const expected = fromCapture.length > 0 ? fromCapture : (ELEMENT_WHEN_EMPTY[path.split('.').at(-1)] ?? [])
  if (expected.length === 0) return []
  return actual.flatMap((item, i) =>
    expected.map((e) => shapeDiffs(e, item, `${path}[${i}]`)).reduce((best, d) => (d.length < best.length ? d : best)),
  )
}

function expectShape(name, expected, actual) {
  const diffs = shapeDiffs(expected, actual)
  return report(`${name} has the shape of the real server's`, diffs.length === 0, 'the same shape', diffs.join('; '))
}

// ---------------------------------------------------------------------------------------------
// REST

if (!/^https?:\/\/[^/]/.test(process.argv[2] ?? '')) {
  console.error('usage: node conformance.mjs BASE_URL   (e.g. http://127.0.0.1:13378)')
  process.exit(2)
}
const baseUrl = new URL(process.argv[2])
const basePath = baseUrl.pathname.replace(/\/$/, '')

async function request(method, path, { token, body, headers = {} } = {}) {
  const res = await fetch(`${baseUrl.origin}${basePath}${path}`, {
    method,
    headers: {
      ...(token && { authorization: `Bearer ${token}` }),
      ...(body !== undefined && { 'content-type': 'application/json' }),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    redirect: 'manual',
    signal: AbortSignal.timeout(TIMEOUT_MS),
  })
  const text = await res.text()
  let json
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: res.status, headers: res.headers, text, json }
}

/** Whether the response sets the `refresh_token` cookie (Headers.getSetCookie is Node >= 19.7). */
function hasRefreshCookie(res) {
  const cookies = res.headers.getSetCookie?.() ?? [res.headers.get('set-cookie') ?? '']
  return cookies.some((c) => /(^|,\s*)refresh_token=/.test(c))
}

function login(username, password, returnTokens) {
  return request('POST', '/login', {
    body: { username, password },
    headers: returnTokens ? { 'x-return-tokens': 'true' } : {},
  })
}

/** The claims of a JWT (no signature check: a client cannot check it either). */
function claims(jwt) {
  try {
    return JSON.parse(Buffer.from(String(jwt).split('.')[1], 'base64url').toString('utf8'))
  } catch {
    return undefined
  }
}

// ---------------------------------------------------------------------------------------------
// Sockets

const openSockets = new Set()

/** One Socket.IO connection that records every event it receives, in order. */
class Probe {
  constructor(label, socket) {
    this.label = label
    this.socket = socket
    this.events = []
    this.waiters = []
    socket.onAny((event, ...args) => this.#receive({ event, args }))
  }

  /** Connects (no credentials unless `options` carries some) and resolves once connected. */
  static connect(label, { path = `${basePath}/socket.io`, transports = ['websocket'], ...options } = {}) {
    const socket = io(baseUrl.origin, { path, transports, reconnection: false, forceNew: true, timeout: TIMEOUT_MS, ...options })
    openSockets.add(socket)
    const probe = new Probe(label, socket)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${label} socket (${path}) did not connect within ${TIMEOUT_MS} ms`)), TIMEOUT_MS)
      socket.once('connect', () => {
        clearTimeout(timer)
        resolve(probe)
      })
      socket.once('connect_error', (err) => {
        clearTimeout(timer)
        reject(new Error(`${label} socket (${path}) failed to connect: ${err.message}`))
      })
    })
  }

  #receive(entry) {
    this.events.push(entry)
    const index = this.events.length - 1
    this.waiters = this.waiters.filter((w) => !w.offer(entry, index))
  }

  /** Position to look from for events caused by what comes next. */
  mark() {
    return this.events.length
  }

  emit(event, ...args) {
    this.socket.emit(event, ...args)
  }

  /** Names of the events received since `from`. */
  namesSince(from) {
    return this.events.slice(from).map((e) => e.event)
  }

  /** The first `event` at or after `from` whose first argument satisfies `where`, waiting if needed. */
  next(event, from, where = () => true) {
    const matches = (e, i) => i >= from && e.event === event && where(e.args[0])
    const hit = (index) => ({ index, payload: this.events[index].args[0], args: this.events[index].args })
    const index = this.events.findIndex(matches)
    if (index >= 0) return Promise.resolve(hit(index))
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter)
        reject(new Error(`no '${event}' on the ${this.label} socket within ${TIMEOUT_MS} ms (got ${show(this.namesSince(from))})`))
      }, TIMEOUT_MS)
      const waiter = {
        offer: (e, i) => {
          if (!matches(e, i)) return false
          clearTimeout(timer)
          resolve(hit(i))
          return true
        },
      }
      this.waiters.push(waiter)
    })
  }

  /** `ping` → `pong`: everything the server sent this socket before it has arrived. */
  async roundTrip() {
    const from = this.mark()
    this.emit('ping')
    await this.next('pong', from)
  }

  /** Round trip, then reports that no `event` arrived since `from`. */
  async expectNone(name, event, from) {
    await this.roundTrip()
    const got = this.events.slice(from).filter((e) => e.event === event)
    return report(name, got.length === 0, `no ${event}`, show(got.map((e) => e.args)))
  }

  /** Disconnects and waits until the client has seen it. */
  close() {
    openSockets.delete(this.socket)
    if (!this.socket.connected) return Promise.resolve()
    return new Promise((resolve) => {
      this.socket.once('disconnect', () => resolve())
      this.socket.disconnect()
    })
  }
}

// ---------------------------------------------------------------------------------------------
// The steps, in the probe's order

const run = randomBytes(3).toString('hex')
const ctx = {
  rootName: process.env.ABS_USERNAME ?? 'root',
  rootPassword: process.env.ABS_PASSWORD ?? 'root',
  aliceName: `alice-${run}`,
  alicePassword: `alice-${run}-password`,
  deviceInfo: { deviceId: 'probe-device-1', clientName: 'abs-probe', clientVersion: '0.1.0' },
  apiKeyIds: [],
}

async function stepStatus() {
  const res = await request('GET', '/status')
  expectEqual('GET /status → 200', 200, res.status)
  // The fixture was taken before /init; ConfigPath and MetadataPath are only there before it.
  const { ConfigPath, MetadataPath, ...initialised } = probe.statusBeforeInit
  expectKeys('GET /status keys (initialised server)', Object.keys(initialised), res.json)
  expectEqual('GET /status app', 'audiobookshelf', res.json?.app)
  expectEqual('GET /status serverVersion', '2.36.0', res.json?.serverVersion)
  expectEqual('GET /status isInit', true, res.json?.isInit)
}

/** Engine.IO open packet and protocol check, as a raw polling client sees them ([verified] in the notes). */
async function stepEngineIo() {
  const open = await request('GET', `/socket.io/?EIO=4&transport=polling&t=${run}`)
  expectEqual('Engine.IO v4 polling handshake → 200', 200, open.status)
  expectEqual('Engine.IO open packet type', '0', open.text.slice(0, 1))
  let handshake
  try {
    handshake = JSON.parse(open.text.slice(1))
  } catch {
    handshake = open.text
  }
  expectKeys('Engine.IO open packet keys', ['sid', 'upgrades', 'pingInterval', 'pingTimeout', 'maxPayload'], handshake)
  const { sid, ...settings } = handshake ?? {}
  expectEqual('Engine.IO settings (engine.io defaults)', { upgrades: ['websocket'], pingInterval: 25000, pingTimeout: 20000, maxPayload: 1000000 }, settings)
  const v3 = await request('GET', `/socket.io/?EIO=3&transport=polling&t=${run}`)
  expectEqual('Engine.IO v3 (socket.io v2 clients) refused → 400', 400, v3.status)
  expectEqual('Engine.IO v3 refusal body', { code: 5, message: 'Unsupported protocol version' }, v3.json)
}

async function stepLoginWithoutHeader() {
  const res = await login(ctx.rootName, ctx.rootPassword, false)
  const fx = probe.loginWithoutHeader
  expectEqual('login without x-return-tokens → 200', fx.status, res.status)
  expectKeys('login without x-return-tokens: top-level keys', fx.topKeys, res.json)
  expectKeys('login without x-return-tokens: user keys', fx.userKeys, res.json?.user)
  expectEqual('login without x-return-tokens: user.refreshToken', fx.refreshTokenInBody, res.json?.user?.refreshToken)
  expectEqual('login without x-return-tokens: refresh_token cookie set', fx.setCookieHasRefreshToken, hasRefreshCookie(res))
  expectEqual('login without x-return-tokens: user.accessToken is a string', 'string', typeof res.json?.user?.accessToken)
}

async function stepLoginWithHeader() {
  const res = await login(ctx.rootName, ctx.rootPassword, true)
  const fx = probe.loginWithReturnTokens
  expectEqual('login with x-return-tokens → 200', fx.status, res.status)
  expectKeys('login with x-return-tokens: top-level keys', probe.loginWithoutHeader.topKeys, res.json)
  expectKeys('login with x-return-tokens: user keys', probe.loginWithoutHeader.userKeys, res.json?.user)
  expectEqual('login with x-return-tokens: refresh_token cookie set', fx.setCookieHasRefreshToken, hasRefreshCookie(res))
  const user = res.json?.user ?? {}
  expectEqual('login with x-return-tokens: user.refreshToken is a string', 'string', typeof user.refreshToken)
  expectTokenClaims('access token', fx.accessTokenClaims, user.accessToken)
  expectTokenClaims('refresh token', fx.refreshTokenClaims, user.refreshToken)
  expectTokenClaims('legacy user.token', fx.legacyTokenClaims, user.token)
  if (typeof user.accessToken !== 'string') throw new Error('no access token: cannot go on')
  ctx.root = { id: user.id, access: user.accessToken, refresh: user.refreshToken, legacy: user.token }
}

/** Same claim names and `type` as the fixture's, and the same lifetime (exp - iat). */
function expectTokenClaims(what, fx, token) {
  const got = claims(token)
  expectKeys(`${what}: claim names`, Object.keys(fx), got)
  expectEqual(`${what}: type claim`, fx.type, got?.type)
  const lifetime = (c) => (c && c.exp !== undefined ? c.exp - c.iat : undefined)
  expectEqual(`${what}: lifetime exp - iat (s)`, lifetime(fx), lifetime(got))
}

async function stepBadLogin() {
  const res = await login(ctx.rootName, `${ctx.rootPassword}-wrong`, true)
  expectEqual('bad login → 401', probe.badLogin.status, res.status)
  expectEqual('bad login body', probe.badLogin.body, res.text)
}

async function stepAdminSocket() {
  ctx.admin = await Probe.connect('admin')
  const from = ctx.admin.mark()
  ctx.admin.emit('auth', ctx.root.access)
  const init = await ctx.admin.next('init', from)
  const online = await ctx.admin.next('user_online', from)
  expectTrue("admin's own socket: user_online comes before init", online.index < init.index, 'user_online then init', show(ctx.admin.namesSince(from)))
  expectShape("admin's own user_online", capturedPayload('A(root)', 'user_online'), online.payload)
  expectShape('admin init', capturedPayload('A(root)', 'init'), init.payload)
  expectEqual('admin init: usersOnline counts this one socket', 1, ownEntry(init.payload)?.connections)
  ctx.root.id ??= init.payload?.userId
}

const ownEntry = (init) => init?.usersOnline?.find((u) => u.id === init.userId)

async function stepApiKeys() {
  const name = `tray-probe-${run}`
  const res = await request('POST', '/api/api-keys', { token: ctx.root.access, body: { name, userId: ctx.root.id, isActive: true } })
  const fx = probe.apiKeyCreate
  expectEqual('POST /api/api-keys (isActive:true) → 200', fx.status, res.status)
  const apiKey = res.json?.apiKey
  expectKeys('API key: response apiKey keys', fx.keys, apiKey)
  expectKeys('API key: claim names', Object.keys(fx.claims), claims(apiKey?.apiKey))
  expectEqual('API key: type claim', fx.claims.type, claims(apiKey?.apiKey)?.type)
  if (apiKey?.id) ctx.apiKeyIds.push(apiKey.id)
  ctx.apiKey = apiKey?.apiKey
  expectEqual('GET /api/me with an active API key', probe.apiKeyRestMe, (await request('GET', '/api/me', { token: ctx.apiKey })).status)

  const inactive = await request('POST', '/api/api-keys', { token: ctx.root.access, body: { name: `${name}-inactive`, userId: ctx.root.id } })
  if (inactive.json?.apiKey?.id) ctx.apiKeyIds.push(inactive.json.apiKey.id)
  const fxInactive = probe.apiKeyCreatedWithoutIsActive
  expectEqual('API key created without isActive: isActive', fxInactive.isActive, inactive.json?.apiKey?.isActive)
  const me = await request('GET', '/api/me', { token: inactive.json?.apiKey?.apiKey })
  expectEqual('GET /api/me with an inactive API key', fxInactive.restMeStatus, me.status)
}

async function stepApiKeyToLegacyToken() {
  const fx = probe.apiKeyToAuthorizeToLegacyToken
  const res = await request('POST', '/api/authorize', { token: ctx.apiKey })
  expectEqual('POST /api/authorize with an API key', fx.authorizeStatus, res.status)
  const legacy = res.json?.user?.token
  expectKeys('POST /api/authorize with an API key: user.token claim names', Object.keys(fx.legacyClaims), claims(legacy))
  const title = 'socket auth with the legacy token from /api/authorize'
  const outcome = await authOutcome('legacy-from-api-key', [legacy], {})
  expectEqual(`${title} → init`, fx.socketInit, outcome.init !== undefined)
  expectEqual(`${title}: auth_failed`, fx.auth_failed, outcome.authFailed ?? null)
  await expectRootSocketAuth(title, 'auth:legacyTokenViaApiKeyAuthorize', outcome)
}

async function stepCreateAlice() {
  const from = ctx.admin.mark()
  const res = await request('POST', '/api/users', {
    token: ctx.root.access,
    // Like the web client (and the probe): the real server stores `isActive: !!req.body.isActive`.
    body: { username: ctx.aliceName, password: ctx.alicePassword, type: 'user', isActive: true },
  })
  expectEqual('POST /api/users → 200', probe.createUserStatus, res.status)
  const added = await ctx.admin.next('user_added', from)
  expectShape('user_added to admin', probe.userAddedPayload, added.payload)
  expectEqual('user_added: username', ctx.aliceName, added.payload?.username)
  ctx.alice = { id: res.json?.user?.id ?? added.payload?.id }
}

/**
 * Connects a fresh socket, emits `auth` with `args` (unless `args` is null), collects the outcome
 * (`init` / `auth_failed` payloads, events seen, still connected after a round trip), then closes
 * it. `adminFrom` marks where to look on the admin socket for what this socket caused.
 */
async function authOutcome(label, args, connectOptions) {
  const adminFrom = ctx.admin.mark()
  const socket = await Probe.connect(label, connectOptions)
  try {
    if (args !== null) socket.emit('auth', ...args)
    const answer = args === null ? undefined : await firstOf(socket, ['init', 'auth_failed'], 0)
    await socket.roundTrip()
    return {
      adminFrom,
      init: socket.events.find((e) => e.event === 'init')?.args[0],
      authFailed: socket.events.find((e) => e.event === 'auth_failed')?.args[0],
      answerCount: socket.events.filter((e) => ['init', 'auth_failed'].includes(e.event)).length,
      answer,
      names: socket.namesSince(0),
      connected: socket.socket.connected,
    }
  } finally {
    await socket.close()
  }
}

/** Whichever of `events` comes first at or after `from`. */
function firstOf(probeSocket, events, from) {
  const pending = events.map((event) => probeSocket.next(event, from).then((hit) => ({ event, ...hit })))
  return Promise.any(pending).catch(() => {
    throw new Error(`none of ${events.join('/')} on the ${probeSocket.label} socket within ${TIMEOUT_MS} ms (got ${show(probeSocket.namesSince(from))})`)
  })
}

async function stepUnauthenticatedSocket() {
  const fx = probe.socketAuthProbes.noAuth
  const socket = await Probe.connect('noauth')
  try {
    await socket.roundTrip()
    expectEqual('unauthenticated socket: ping → pong, without arguments', [], socket.events[0]?.args)
    socket.emit('search_covers', { requestId: 'r1', title: 'Test Book' })
    const error = await socket.next('cover_search_error', 0)
    expectEqual('unauthenticated socket: search_covers → cover_search_error', fx.coverSearchWithoutAuth, error.payload)
    await socket.roundTrip()
    const expectedNames = fx.eventsReceived.filter((n) => !n.startsWith('('))
    expectEqual('unauthenticated socket: events received (then our last pong)', [...expectedNames, 'pong'], socket.namesSince(0))
    expectEqual('unauthenticated socket: still connected', fx.stillConnectedAfter3s, socket.socket.connected)
  } finally {
    await socket.close()
  }
}

/** The auth variants of `socketAuthProbes`, each on a fresh socket. */
function authVariants() {
  const { access, refresh, legacy } = ctx.root
  return [
    {
      name: 'handshakeAuthOnly',
      what: 'token in handshake auth, ?token= and Authorization header, no auth event',
      args: null,
      options: { auth: { token: access }, query: { token: access }, extraHeaders: { authorization: `Bearer ${access}` } },
    },
    { name: 'garbage', what: 'garbage string', args: ['garbage'] },
    { name: 'refreshToken', what: 'refresh token', args: [refresh] },
    { name: 'apiKey', what: 'API key', args: [ctx.apiKey] },
    { name: 'bearerPrefixed', what: '"Bearer <access token>"', args: [`Bearer ${access}`] },
    { name: 'objectPayload', what: 'object {token}', args: [{ token: access }] },
    { name: 'noPayload', what: 'no payload', args: [] },
    // Not probed by itself; the protocol notes group it with "nothing" ([verified]).
    { name: 'noPayload', what: 'null', args: [null] },
    { name: 'accessToken', what: 'access token', args: [access], captured: 'auth:accessToken' },
    { name: 'legacyUserToken', what: 'legacy user.token', args: [legacy], captured: 'auth:legacyUserToken' },
    {
      name: 'basePathSocketIo',
      what: 'access token on /audiobookshelf/socket.io',
      args: [access],
      options: { path: '/audiobookshelf/socket.io' },
      captured: 'auth:basePath',
    },
    { name: 'pollingTransport', what: 'access token over polling', args: [access], options: { transports: ['polling'] }, captured: 'auth:polling' },
  ]
}

/** Every variant on its own socket; one that breaks does not stop the others. */
async function stepAuthVariants() {
  for (const variant of authVariants()) {
    try {
      await stepAuthVariant(variant)
    } catch (err) {
      report(`socket auth with ${variant.what}`, false, 'the variant to complete', err?.message ?? String(err))
    }
  }
}

async function stepAuthVariant(variant) {
  const fx = probe.socketAuthProbes[variant.name]
  const title = `socket auth with ${variant.what}`
  const outcome = await authOutcome(variant.name, variant.args, variant.options ?? {})
  expectEqual(`${title}: connected`, fx.connected, true)
  if (variant.args === null) {
    expectEqual(`${title}: init without an auth event`, fx.initWithoutAuthEvent, outcome.init ?? null)
    expectEqual(`${title}: events received`, ['pong'], outcome.names)
    return
  }
  const expected = fx.init ? 'init' : 'auth_failed'
  expectEqual(`${title} → ${expected}`, expected, outcome.answer?.event)
  expectEqual(`${title}: one answer only`, 1, outcome.answerCount)
  if (fx.auth_failed) {
    expectEqual(`${title}: auth_failed payload`, fx.auth_failed, outcome.authFailed)
    expectEqual(`${title}: still connected after auth_failed, answering ping`, true, outcome.connected)
    await ctx.admin.expectNone(`${title}: no user_online to admin`, 'user_online', outcome.adminFrom)
  } else {
    await expectRootSocketAuth(title, variant.captured, outcome)
  }
}

/** A second root socket authenticated: user_online first, init with 2 connections, admin told. */
async function expectRootSocketAuth(title, capturedSocket, outcome) {
  const names = outcome.names.filter((n) => ['user_online', 'init'].includes(n))
  expectEqual(`${title}: user_online to this admin socket, then init`, ['user_online', 'init'], names)
  expectShape(`${title}: init`, capturedPayload(capturedSocket, 'init'), outcome.init)
  expectEqual(`${title}: init usersOnline counts both root sockets`, 2, ownEntry(outcome.init)?.connections)
  const online = await ctx.admin.next('user_online', outcome.adminFrom)
  expectShape(`${title}: user_online to the admin socket`, capturedPayload(capturedSocket, 'user_online'), online.payload)
  const offline = await ctx.admin.next('user_offline', online.index)
  expectShape(`${title}: user_offline to the admin socket on disconnect`, capturedPayload('A(root)', 'user_offline'), offline.payload)
}

async function stepReauthSameSocket() {
  const from = ctx.admin.mark()
  ctx.admin.emit('auth', ctx.root.access)
  const init = await ctx.admin.next('init', from)
  const names = ctx.admin.namesSince(from).filter((n) => ['user_online', 'init'].includes(n))
  expectEqual('re-auth on the same socket: user_online then init again', ['user_online', 'init'], names)
  expectShape('re-auth on the same socket: init', probe.socketAuthProbes.reauthSameSocket, init.payload)
  expectEqual('re-auth on the same socket: still one connection', 1, ownEntry(init.payload)?.connections)
}

async function stepAliceSocket() {
  const res = await login(ctx.aliceName, ctx.alicePassword, true)
  expectEqual('alice login → 200', 200, res.status)
  const user = res.json?.user ?? {}
  Object.assign(ctx.alice, { id: user.id ?? ctx.alice.id, access: user.accessToken, refresh: user.refreshToken, legacy: user.token })

  const adminFrom = ctx.admin.mark()
  ctx.aliceSocket = await Probe.connect('alice')
  ctx.aliceSocket.emit('auth', ctx.alice.access)
  const init = await ctx.aliceSocket.next('init', 0)
  expectShape('alice init (no usersOnline for a non-admin)', probe.initAlice, init.payload)
  const online = await ctx.admin.next('user_online', adminFrom, (p) => p?.id === ctx.alice.id)
  expectShape('user_online(alice) to admin', probe.userOnlinePayload, online.payload)
  await ctx.aliceSocket.expectNone('no user_online to a non-admin', 'user_online', 0)
}

async function stepFindItem() {
  const libs = await request('GET', '/api/libraries', { token: ctx.alice.access })
  expectEqual('GET /api/libraries → 200', 200, libs.status)
  const library = libs.json?.libraries?.find((l) => l.mediaType === 'book')
  if (!library) throw new Error(`no book library in ${show(libs.json)}`)
  const items = await request('GET', `/api/libraries/${library.id}/items`, { token: ctx.alice.access })
  expectEqual('GET /api/libraries/{id}/items → 200', 200, items.status)
  const item = items.json?.results?.find((i) => (i.media?.duration ?? 0) > 60) ?? items.json?.results?.[0]
  if (!item) throw new Error(`no item in ${show(items.json)}`)
  ctx.itemId = item.id
}

/** POST /api/items/{id}/play as alice (direct play), checking user_stream_update to admin. */
async function play(title) {
  const adminFrom = ctx.admin.mark()
  const res = await request('POST', `/api/items/${ctx.itemId}/play`, {
    token: ctx.alice.access,
    body: {
      deviceInfo: ctx.deviceInfo,
      mediaPlayer: 'html5',
      forceDirectPlay: true,
      supportedMimeTypes: ['audio/mpeg', 'audio/mp4', 'audio/x-m4b', 'audio/ogg', 'audio/flac', 'audio/aac', 'audio/webm'],
    },
  })
  expectEqual(`${title}: POST /api/items/{id}/play → 200`, probe.playStatus, res.status)
  expectKeys(`${title}: play response keys`, probe.playResponseKeys, res.json)
  const session = res.json
  if (!session?.id) throw new Error(`no session id in the play response ${show(session)}`)
  const update = await ctx.admin.next('user_stream_update', adminFrom)
  expectShape(`${title}: user_stream_update to admin at start`, probe.userStreamUpdateOnStart, update.payload)
  expectEqual(`${title}: user_stream_update carries the new session`, session.id, update.payload?.session?.id)
  return session
}

/** POST /api/session/{id}/sync as alice; user_item_progress_updated to alice only. */
async function sync(title, sessionId, body, fixture) {
  const [adminFrom, aliceFrom] = [ctx.admin.mark(), ctx.aliceSocket.mark()]
  const res = await request('POST', `/api/session/${sessionId}/sync`, { token: ctx.alice.access, body })
  expectEqual(`${title}: POST /api/session/{id}/sync → 200`, probe.sync1Status, res.status)
  const progress = await ctx.aliceSocket.next('user_item_progress_updated', aliceFrom)
  expectShape(`${title}: user_item_progress_updated to alice`, fixture, progress.payload)
  expectEqual(`${title}: user_item_progress_updated sessionId`, sessionId, progress.payload?.sessionId)
  expectEqual(`${title}: deviceDescription for a client without user agent`, probe.progressUpdated1.deviceDescription, progress.payload?.deviceDescription)
  await ctx.admin.expectNone(`${title}: no user_item_progress_updated to admin`, 'user_item_progress_updated', adminFrom)
  return progress.payload
}

async function stepPlayback() {
  const session = await play('play')
  ctx.sessionId = session.id
  await sync('sync 1', session.id, { currentTime: 30.5, timeListened: 20, duration: 600 }, probe.progressUpdated1)
  await sync('sync 2', session.id, { currentTime: 41, timeListened: 10, duration: 600 }, probe.progressUpdated2)
  await ctx.aliceSocket.expectNone('no user_stream_update to a non-admin', 'user_stream_update', 0)
}

async function stepPatchProgress() {
  const aliceFrom = ctx.aliceSocket.mark()
  const res = await request('PATCH', `/api/me/progress/${ctx.itemId}`, {
    token: ctx.alice.access,
    body: { currentTime: 50, duration: 600, progress: 50 / 600 },
  })
  expectEqual('PATCH /api/me/progress/{itemId} → 200', probe.patchProgressStatus, res.status)
  const updated = await ctx.aliceSocket.next('user_updated', aliceFrom)
  expectShape('user_updated to alice after PATCH progress', capturedPayload('B(alice)', 'user_updated'), updated.payload)
  await ctx.aliceSocket.expectNone('PATCH progress sends no user_item_progress_updated', 'user_item_progress_updated', aliceFrom)
}

async function stepOnlineDuringSession() {
  const online = await request('GET', '/api/users/online', { token: ctx.root.access })
  expectEqual('GET /api/users/online → 200', 200, online.status)
  expectShape('GET /api/users/online during a session', probe.usersOnlineRest, online.json)
  const alice = online.json?.usersOnline?.find((u) => u.id === ctx.alice.id)
  expectEqual('GET /api/users/online: alice has the open session', ctx.sessionId, alice?.session?.id)
  expectEqual('GET /api/users/online: openSessions has it', [ctx.sessionId], online.json?.openSessions?.map((s) => s.id))
  const asAlice = await request('GET', '/api/users/online', { token: ctx.alice.access })
  expectEqual('GET /api/users/online as a non-admin', probe.usersOnlineRestAsAlice, asAlice.status)
  const open = await request('GET', '/api/sessions/open', { token: ctx.root.access })
  expectEqual('GET /api/sessions/open → 200', 200, open.status)
  expectShape('GET /api/sessions/open during a session', probe.sessionsOpenRest, open.json)
}

/** POST /api/session/{id}/close as alice; user_stream_update (still with the session) to admin. */
async function close(title, sessionId, body) {
  const [adminFrom, aliceFrom] = [ctx.admin.mark(), ctx.aliceSocket.mark()]
  const res = await request('POST', `/api/session/${sessionId}/close`, { token: ctx.alice.access, body })
  expectEqual(`${title}: POST /api/session/{id}/close → 200`, probe.closeStatus, res.status)
  const update = await ctx.admin.next('user_stream_update', adminFrom)
  expectShape(`${title}: user_stream_update to admin at close`, probe.userStreamUpdateOnClose, update.payload)
  expectEqual(`${title}: user_stream_update at close still carries the closing session (quirk)`, sessionId, update.payload?.session?.id)
  const closed = await ctx.aliceSocket.next('user_session_closed', aliceFrom)
  expectEqual(`${title}: user_session_closed to alice`, sessionId, closed.payload)
  await ctx.admin.expectNone(`${title}: no user_session_closed to admin`, 'user_session_closed', adminFrom)
  return { update: update.payload, aliceFrom, closedIndex: closed.index }
}

async function stepClose() {
  const body = { currentTime: 55, timeListened: 5, duration: 600 }
  const { update, aliceFrom, closedIndex } = await close('close', ctx.sessionId, body)
  expectEqual('close: user_stream_update session has the synced currentTime', 55, update?.session?.currentTime)
  const progress = await ctx.aliceSocket.next('user_item_progress_updated', aliceFrom)
  expectShape('close: user_item_progress_updated to alice', probe.progressUpdatedOnClose, progress.payload)
  expectTrue('close: user_item_progress_updated before user_session_closed', progress.index < closedIndex, 'progress then closed', show(ctx.aliceSocket.namesSince(aliceFrom)))

  const online = await request('GET', '/api/users/online', { token: ctx.root.access })
  expectShape('GET /api/users/online after close', probe.usersOnlineRestAfterClose, online.json)
  expectEqual('GET /api/users/online after close: no open sessions', probe.usersOnlineRestAfterClose.openSessions, online.json?.openSessions)
  const alice = online.json?.usersOnline?.find((u) => u.id === ctx.alice.id)
  expectEqual('GET /api/users/online after close: alice session', null, alice?.session)
}

async function stepFinish() {
  const session = await play('play again')
  expectEqual('play again: session resumes where the last one closed', probe.startTimeOfSessionAfterFinished, session.startTime)
  const nearEnd = Math.max(0, Math.floor(session.duration) - 5)
  const envelope = capturedPayload('B(alice)', 'user_item_progress_updated', 0, (p) => p.data?.isFinished)
  const progress = await sync('sync near the end', session.id, { currentTime: nearEnd, timeListened: 5, duration: session.duration }, envelope)
  expectEqual('sync near the end: isFinished', probe.progressUpdatedNearEnd.isFinished, progress?.data?.isFinished)
  expectEqual('sync near the end: progress', probe.progressUpdatedNearEnd.progress, progress?.data?.progress)
  expectEqual('sync near the end: finishedAt is set', 'number', typeof progress?.data?.finishedAt)
  const { aliceFrom } = await close('close without body', session.id, undefined)
  await ctx.aliceSocket.expectNone('close without body: no user_item_progress_updated', 'user_item_progress_updated', aliceFrom)
}

async function stepSecondSocket() {
  const fx = probe.secondSocketSameUser
  const adminFrom = ctx.admin.mark()
  const second = await Probe.connect('alice#2')
  try {
    second.emit('auth', ctx.alice.access)
    await second.next('init', 0)
    const online = await ctx.admin.next('user_online', adminFrom, (p) => p?.id === ctx.alice.id)
    expectTrue('second socket of alice: user_online to admin again', fx.userOnlineOnSecondSocket, 'user_online', 'none')
    expectShape('second socket of alice: user_online', capturedPayload('A(root)', 'user_online', 1, (p) => p.username === 'alice'), online.payload)
    const rest = await request('GET', '/api/users/online', { token: ctx.root.access })
    const entry = rest.json?.usersOnline?.find((u) => u.id === ctx.alice.id)
    expectEqual('GET /api/users/online: alice has 2 connections', 2, entry?.connections)
  } finally {
    await second.close()
  }
  const offline = await ctx.admin.next('user_offline', adminFrom, (p) => p?.id === ctx.alice.id)
  expectTrue('closing one of two sockets: user_offline to admin', fx.userOfflineWhileFirstSocketStillConnected, 'user_offline', 'none')
  expectShape('closing one of two sockets: user_offline', capturedPayload('A(root)', 'user_offline', 0, (p) => p.username === 'alice'), offline.payload)
  await ctx.aliceSocket.roundTrip()
  expectEqual('closing one of two sockets: the other stays connected', fx.firstSocketStillConnected, ctx.aliceSocket.socket.connected)
}

async function stepAdminMessage() {
  const fx = probe.adminMessage
  const [adminFrom, aliceFrom] = [ctx.admin.mark(), ctx.aliceSocket.mark()]
  ctx.admin.emit('message_all_users', { message: fx.toAdmin })
  expectEqual('message_all_users from admin → admin_message to admin', fx.toAdmin, (await ctx.admin.next('admin_message', adminFrom)).payload)
  expectEqual('message_all_users from admin → admin_message to alice', fx.toAlice, (await ctx.aliceSocket.next('admin_message', aliceFrom)).payload)

  const [adminFrom2, aliceFrom2] = [ctx.admin.mark(), ctx.aliceSocket.mark()]
  ctx.aliceSocket.emit('message_all_users', { message: 'hello from alice' })
  await ctx.aliceSocket.expectNone('message_all_users from a non-admin: nothing to alice', 'admin_message', aliceFrom2)
  await ctx.admin.expectNone('message_all_users from a non-admin: nothing to admin', 'admin_message', adminFrom2)
}

async function stepLogListener() {
  ctx.admin.emit('set_log_listener', 2)
  await ctx.admin.roundTrip()
  const adminFrom = ctx.admin.mark()
  const ping = await request('GET', '/ping')
  expectEqual('GET /ping → 200', 200, ping.status)
  const log = await ctx.admin.next('log', adminFrom)
  expectShape('log event to an admin log listener', probe.logEventSample, log.payload)

  const aliceFrom = ctx.aliceSocket.mark()
  ctx.aliceSocket.emit('set_log_listener', 2)
  await ctx.aliceSocket.roundTrip()
  await request('GET', '/ping')
  await ctx.admin.roundTrip()
  await ctx.aliceSocket.expectNone('set_log_listener from a non-admin: no log events', 'log', aliceFrom)
  ctx.admin.emit('remove_log_listener')
  await ctx.admin.roundTrip()
}

async function stepRefresh() {
  const fx = probe.refreshWithHeader
  const refresh = (token) => request('POST', '/auth/refresh', { headers: token ? { 'x-refresh-token': token } : {} })
  const res = await refresh(ctx.alice.refresh)
  expectEqual('POST /auth/refresh with x-refresh-token → 200', fx.status, res.status)
  expectKeys('refresh: top-level keys', fx.topKeys, res.json)
  const user = res.json?.user ?? {}
  expectTokenClaims('refreshed access token', fx.accessTokenClaims, user.accessToken)
  expectEqual('refresh: new refresh token returned', fx.newRefreshTokenReturned, typeof user.refreshToken === 'string')
  expectEqual('refresh: refresh token rotated', fx.rotated, typeof user.refreshToken === 'string' && user.refreshToken !== ctx.alice.refresh)

  const grace = await refresh(ctx.alice.refresh)
  expectEqual('refresh with the old token in the grace period → 200', probe.refreshWithOldTokenInGrace.status, grace.status)
  expectEqual('refresh with the old token: returns the rotated token', probe.refreshWithOldTokenInGrace.sameAsRotated, grace.json?.user?.refreshToken === user.refreshToken)

  const none = await refresh(undefined)
  expectEqual('refresh without a token → 401', probe.refreshNoToken.status, none.status)
  expectEqual('refresh without a token: body', probe.refreshNoToken.body, none.json)
}

async function stepRestTokens() {
  const me = (options, query = '') => request('GET', `/api/me${query}`, options).then((r) => r.status)
  expectEqual('REST with a refresh token as Bearer', probe.restWithRefreshTokenAsBearer, await me({ token: ctx.alice.refresh }))
  expectEqual('REST with the legacy token', probe.restWithLegacyToken, await me({ token: ctx.alice.legacy }))
  expectEqual('REST with ?token=', probe.restWithTokenQueryParam, await me({}, `?token=${encodeURIComponent(ctx.alice.access)}`))

  const fx = probe.authorize
  const res = await request('POST', '/api/authorize', { token: ctx.root.access })
  expectEqual('POST /api/authorize → 200', fx.status, res.status)
  expectKeys('POST /api/authorize: top-level keys', fx.topKeys, res.json)
  expectEqual('POST /api/authorize: user has an accessToken', fx.userHasAccessToken, 'accessToken' in (res.json?.user ?? {}))
  expectEqual('POST /api/authorize: user.token type', fx.userToken, typeof res.json?.user?.token)
}

async function stepTeardown() {
  const adminFrom = ctx.admin.mark()
  await ctx.aliceSocket.close()
  const offline = await ctx.admin.next('user_offline', adminFrom, (p) => p?.id === ctx.alice.id)
  expectShape('user_offline(alice) to admin', probe.userOfflinePayload, offline.payload)

  const removedFrom = ctx.admin.mark()
  const res = await request('DELETE', `/api/users/${ctx.alice.id}`, { token: ctx.root.access })
  expectEqual('DELETE /api/users/{id} → 200', 200, res.status)
  const removed = await ctx.admin.next('user_removed', removedFrom)
  expectKeys('user_removed to admin: keys', probe.userRemovedKeys, removed.payload)

  const fx = probe.socketAuthProbes.unknownUserId
  const outcome = await authOutcome('deleted-user', [ctx.alice.access], {})
  expectEqual("socket auth with a deleted user's token → auth_failed", fx.auth_failed, outcome.authFailed)
  expectEqual("socket auth with a deleted user's token: no init", fx.init, outcome.init ?? null)
}

async function stepTotals() {
  const adminNames = ctx.admin.namesSince(0)
  expectEqual('admin never received user_item_progress_updated', false, adminNames.includes('user_item_progress_updated'))
  expectEqual('admin never received user_session_closed', false, adminNames.includes('user_session_closed'))
  const aliceNames = ctx.aliceSocket.namesSince(0)
  for (const event of ['user_stream_update', 'user_online', 'user_offline', 'log']) {
    expectEqual(`alice never received ${event}`, false, aliceNames.includes(event))
  }
  await Promise.allSettled(ctx.apiKeyIds.map((id) => request('DELETE', `/api/api-keys/${id}`, { token: ctx.root.access })))
  await ctx.admin.close()
}

// ---------------------------------------------------------------------------------------------
// Runner

/** Steps marked `critical` stop the run when they fail: nothing after them can work. */
const steps = [
  ['status', stepStatus],
  ['Engine.IO', stepEngineIo],
  ['login without x-return-tokens', stepLoginWithoutHeader],
  ['login with x-return-tokens', stepLoginWithHeader, { critical: true }],
  ['bad login', stepBadLogin],
  ['admin socket', stepAdminSocket, { critical: true }],
  ['API keys', stepApiKeys],
  ['API key → /api/authorize → legacy token → socket', stepApiKeyToLegacyToken],
  ['create alice', stepCreateAlice, { critical: true }],
  ['unauthenticated socket', stepUnauthenticatedSocket],
  ['socket auth variants', stepAuthVariants],
  ['re-auth on the same socket', stepReauthSameSocket],
  ['alice socket', stepAliceSocket, { critical: true }],
  ['find an item', stepFindItem, { critical: true }],
  ['play and sync', stepPlayback, { critical: true }],
  ['patch progress', stepPatchProgress],
  ['online users and open sessions', stepOnlineDuringSession],
  ['close', stepClose],
  ['finish', stepFinish],
  ['second socket of the same user', stepSecondSocket],
  ['admin message', stepAdminMessage],
  ['log listener', stepLogListener],
  ['refresh', stepRefresh],
  ['REST token kinds and authorize', stepRestTokens],
  ['user offline and removed', stepTeardown],
  ['totals', stepTotals],
]

async function main() {
  const started = Date.now()
  console.log(`# conformance of ${baseUrl.href} with Audiobookshelf 2.36.0 captures (run ${run})`)
  for (const [title, fn, { critical = false } = {}] of steps) {
    console.log(`# ${title}`)
    try {
      await fn()
    } catch (err) {
      report(title, false, 'the step to complete', err?.message ?? String(err))
      if (critical) {
        console.log(`# stopping: the "${title}" step is needed by the rest`)
        break
      }
    }
  }
  for (const socket of openSockets) socket.disconnect()
  console.log(`# ${((Date.now() - started) / 1000).toFixed(1)} s`)
  console.log(`conformance: ${tally.passed} passed, ${tally.failed} failed`)
  process.exit(tally.failed === 0 ? 0 : 1)
}

setTimeout(() => {
  console.log(`not ok - whole run (expected to finish within ${RUN_TIMEOUT_MS} ms got still running)`)
  console.log(`conformance: ${tally.passed} passed, ${tally.failed + 1} failed`)
  process.exit(1)
}, RUN_TIMEOUT_MS).unref()

await main()

// Unmodified Yjs clients (yjs + y-websocket WebsocketProvider) driving syncd.
//
// node client.js '<json>' where json.mode is:
//   "edit":  json.clients = [{token, inserts: [..], url?}]; every client connects to
//            json.url / json.doc, waits for sync, types its inserts concurrently,
//            then all wait until their texts are equal and contain every insert.
//   "read":  one client connects and waits until its text contains every string
//            of json.expect (default: any sync).
//   "apply": reads {"updates": [base64, ...]} on stdin, applies them in order to a
//            fresh Y.Doc and prints the text of json.field (differential tests).
// Each line of output is JSON: {"event": "synced"} once every client synced, then
// {"event": "done", ...} or {"event": "error", "message": ...}; the exit code is 0
// only after "done".
'use strict'

const Y = require('yjs')
const { WebsocketProvider } = require('y-websocket')
const WebSocket = require('ws')

const config = JSON.parse(process.argv[2] || '{}')
const field = config.field || 'notes'
const timeoutMs = config.timeout_ms || 20000

function emit (message) {
  process.stdout.write(JSON.stringify(message) + '\n')
}

function connect (token, url) {
  const doc = new Y.Doc()
  const provider = new WebsocketProvider(url || config.url, config.doc, doc, {
    WebSocketPolyfill: WebSocket,
    params: config.subprotocol ? {} : { token },
    protocols: config.subprotocol ? ['syncd.yjs', 'bearer.' + token] : [],
    disableBc: true,
    maxBackoffTime: 500
  })
  provider.on('connection-close', (event) => {
    if (event && event.code >= 4000) emit({ event: 'closed', code: event.code, reason: String(event.reason || '') })
  })
  const client = { doc, provider, text: doc.getText(field) }
  live.push(client)
  return client
}

function synced (client) {
  return new Promise((resolve) => {
    if (client.provider.synced) return resolve()
    client.provider.once('sync', (isSynced) => { if (isSynced) resolve() })
  })
}

function until (predicate, clients) {
  return new Promise((resolve) => {
    const check = () => { if (predicate()) { for (const c of clients) c.doc.off('update', check); resolve() } }
    for (const c of clients) c.doc.on('update', check)
    check()
  })
}

async function edit () {
  const clients = config.clients.map((spec) => connect(spec.token, spec.url))
  await Promise.all(clients.map(synced))
  emit({ event: 'synced' })
  await Promise.all(clients.map(async (client, index) => {
    for (const piece of config.clients[index].inserts) {
      // at either end, so no piece is split by another (the test looks for each whole)
      client.text.insert(Math.random() < 0.5 ? 0 : client.text.length, piece)
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
  }))
  const pieces = config.clients.flatMap((spec) => spec.inserts)
  const texts = () => clients.map((c) => c.text.toString())
  await until(() => {
    const all = texts()
    return all.every((t) => t === all[0]) && pieces.every((p) => all[0].includes(p))
  }, clients)
  const text = clients[0].text.toString()
  for (const c of clients) c.provider.destroy()
  emit({ event: 'done', text, texts: texts() })
}

async function read () {
  const client = connect(config.token)
  await synced(client)
  emit({ event: 'synced', text: client.text.toString() })
  const expect = config.expect || []
  await until(() => expect.every((p) => client.text.toString().includes(p)), [client])
  const text = client.text.toString()
  client.provider.destroy()
  emit({ event: 'done', text })
}

async function apply () {
  const chunks = []
  for await (const chunk of process.stdin) chunks.push(chunk)
  const { updates } = JSON.parse(Buffer.concat(chunks).toString())
  const doc = new Y.Doc()
  for (const update of updates) Y.applyUpdate(doc, Buffer.from(update, 'base64'))
  emit({ event: 'done', text: doc.getText(field).toString(), state: Buffer.from(Y.encodeStateVector(doc)).toString('base64') })
}

const live = []
const modes = { edit, read, apply }
const timer = setTimeout(() => {
  emit({ event: 'error', message: 'timeout', texts: live.map((c) => c.text.toString()), connected: live.map((c) => c.provider.wsconnected) })
  process.exit(2)
}, timeoutMs)
modes[config.mode]().then(() => { clearTimeout(timer); process.exit(0) }, (error) => {
  emit({ event: 'error', message: String(error && error.stack ? error.stack : error) })
  process.exit(1)
})

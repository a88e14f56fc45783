/**
 * Live sync over `/sync/ws`: hello with the stored cursor, `changes` frames
 * applied exactly as pull pages, the outbox pushed on the same socket.
 *
 * Heartbeat: a `ping` frame every 15 s; no frame for 45 s closes the socket.
 * After every close it reconnects with exponential back-off and full jitter
 * (0.5 s doubling to 30 s), from the last cursor, except as docs/protocol.md
 * says: 4401 refresh the token first; 4403 stop (sign in again); 4409 do not
 * reconnect (a newer socket of this user is live); 4400 start again from the
 * snapshot; 4426 stop (update the app); 4429, 1012, 1011, 4408 reconnect.
 */

import type { Engine, PushAnswer, PulledChange } from "./engine.js";
import { SignedOutError } from "./errors.js";
import type { Problem } from "./api.js";

export type WebSocketLike = {
  readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason?: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
};
export type WebSocketFactory = new (url: string, protocols?: string | string[]) => WebSocketLike;

const PING_MS = 15_000;
const SILENCE_MS = 45_000;
const PUSH_TIMEOUT_MS = 30_000;
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 30_000;

type ServerFrame =
  | { type: "changes"; changes: PulledChange[]; cursor: string; has_more: boolean }
  | { type: "caught_up"; cursor: string }
  | ({ type: "push_result"; batch_id: string; problem?: Partial<Problem> } & Partial<PushAnswer>)
  | { type: "error"; problem: Partial<Problem> }
  | { type: "pong" };

export function backoffDelay(attempt: number, random: () => number = Math.random): number {
  return Math.floor(random() * Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** attempt));
}

export class LiveSync {
  private socket: WebSocketLike | null = null;
  private running = false;
  private attempt = 0;
  private timers: ReturnType<typeof setTimeout>[] = [];
  private heartbeat: ReturnType<typeof setInterval> | null = null;
  private lastFrameAt = 0;
  private frames: Promise<unknown> = Promise.resolve();
  private pushing = false;
  private caughtUp = false;
  private inflight: { batchId: string; resolve: (frame: ServerFrame | null) => void } | null = null;
  /** How many times a socket was opened (for tests and diagnostics). */
  connects = 0;

  constructor(
    private readonly engine: Engine,
    private readonly url: string,
    private readonly WebSocketImpl: WebSocketFactory,
    private readonly onMediaDue: () => void,
  ) {}

  get connected(): boolean {
    return this.caughtUp;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    void this.connect();
  }

  stop(): void {
    this.running = false;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers = [];
    this.teardown(1000, "client stopped");
    this.engine.setStatus({ live: false });
  }

  /** Push now if the socket is live (called after every local write). */
  poke(): void {
    if (this.caughtUp) void this.flush();
  }

  private later(ms: number, run: () => void): void {
    const timer = setTimeout(() => {
      this.timers = this.timers.filter((t) => t !== timer);
      run();
    }, ms);
    this.timers.push(timer);
  }

  private teardown(code: number, reason: string): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    const socket = this.socket;
    this.socket = null;
    this.caughtUp = false;
    const inflight = this.inflight;
    this.inflight = null;
    inflight?.resolve(null); // the batch stays stored: resent with its id on the next socket
    if (socket) {
      socket.onclose = socket.onmessage = socket.onerror = socket.onopen = null;
      try {
        socket.close(code, reason);
      } catch {
        // already closed
      }
    }
  }

  private reconnect(delay = backoffDelay(this.attempt++)): void {
    this.teardown(1000, "reconnecting");
    this.engine.setStatus({ live: false });
    if (this.running) this.later(delay, () => void this.connect());
  }

  private async connect(): Promise<void> {
    if (!this.running || this.socket) return;
    let token: string;
    try {
      token = await this.engine.session.accessToken();
    } catch (error) {
      if (error instanceof SignedOutError) return this.halt(error.code);
      return this.reconnect();
    }
    if (!this.running) return;
    let socket: WebSocketLike;
    try {
      socket = new this.WebSocketImpl(this.url, ["syncd.v1", `bearer.${token}`]);
    } catch {
      return this.reconnect();
    }
    this.socket = socket;
    this.connects++;
    let helloAcked = new Set<number>();
    socket.onopen = () => {
      void (async () => {
        helloAcked = await this.engine.ackedSeqs();
        const cursor = await this.engine.storage.getMeta("cursor");
        if (this.socket !== socket) return; // torn down while the hello was being prepared
        this.lastFrameAt = Date.now();
        socket.send(JSON.stringify({ type: "hello", client_id: this.engine.clientId, cursor, ...(this.engine.schema ? { schema: this.engine.schema } : {}) }));
        const heartbeat = setInterval(() => (this.socket === socket ? this.beat(socket) : clearInterval(heartbeat)), PING_MS);
        this.heartbeat = heartbeat;
      })();
    };
    socket.onmessage = (event) => {
      this.lastFrameAt = Date.now();
      const frame = JSON.parse(String(event.data)) as ServerFrame;
      this.frames = this.frames.then(() => this.handle(socket, frame, helloAcked)).catch((error: unknown) => {
        this.engine.setStatus({ lastError: error instanceof Error ? error.message : String(error) });
        if (this.socket === socket) this.reconnect();
      });
    };
    socket.onerror = () => undefined; // onclose follows
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.onClose(event.code);
    };
  }

  private beat(socket: WebSocketLike): void {
    if (this.socket !== socket) return;
    if (Date.now() - this.lastFrameAt > SILENCE_MS) return this.reconnect();
    try {
      socket.send(JSON.stringify({ type: "ping" }));
    } catch {
      this.reconnect();
    }
  }

  private halt(code: string): void {
    this.running = false;
    this.teardown(1000, code);
    this.engine.setStatus({ live: false, lastError: code });
  }

  private onClose(code: number): void {
    this.engine.setStatus({ online: code !== 1006 ? this.engine.state.online : false, lastError: `socket closed (${code})` });
    switch (code) {
      case 4401:
        this.teardown(1000, "refreshing");
        void this.engine.session.refresh().then(
          () => this.reconnect(0),
          (error: unknown) => (error instanceof SignedOutError ? this.halt(error.code) : this.reconnect()),
        );
        return;
      case 4403:
        return this.halt("forbidden");
      case 4409:
        return this.halt("superseded");
      case 4426:
        return this.halt("upgrade_required"); // the app's schema is below the server's minimum

      case 4400:
        this.teardown(1000, "resetting");
        void this.engine.resetCursor().then(() => this.reconnect());
        return;
      case 4429:
        return this.reconnect(0);
      default:
        return this.reconnect();
    }
  }

  private async handle(socket: WebSocketLike, frame: ServerFrame, helloAcked: Set<number>): Promise<void> {
    if (this.socket !== socket) return;
    switch (frame.type) {
      case "changes":
        await this.engine.applyPage(frame.changes, frame.cursor);
        return;
      case "caught_up":
        await this.engine.applyPage([], frame.cursor, helloAcked);
        this.caughtUp = true;
        this.attempt = 0;
        this.engine.setStatus({ online: true, live: true, lastError: null });
        this.onMediaDue();
        void this.flush();
        return;
      case "push_result":
        if (this.inflight?.batchId === frame.batch_id) this.inflight.resolve(frame);
        return;
      case "error":
        this.engine.setStatus({ lastError: frame.problem.code ?? "error" });
        return;
      case "pong":
        return;
    }
  }

  /** Push the outbox on the socket, one batch at a time, until it is empty. */
  private async flush(): Promise<void> {
    if (this.pushing) return;
    this.pushing = true;
    try {
      while (this.caughtUp && this.socket) {
        const socket = this.socket;
        const batch = await this.engine.nextBatch();
        if (!batch) return;
        const answer = await new Promise<ServerFrame | null>((resolve) => {
          const timer = setTimeout(() => resolve(null), PUSH_TIMEOUT_MS);
          this.inflight = {
            batchId: batch.batchId,
            resolve: (frame: ServerFrame | null) => {
              clearTimeout(timer);
              resolve(frame);
            },
          };
          socket.send(JSON.stringify({ type: "push", ...this.engine.body(batch.batchId, batch.entries) }));
        });
        this.inflight = null;
        if (answer === null || answer.type !== "push_result") {
          if (this.socket === socket) this.reconnect(); // resent with the same batch id
          return;
        }
        if (answer.problem) {
          const status = answer.problem.status ?? 400;
          if (status === 429 || status >= 500) {
            // The server's limits: the same batch again, after its retry_after at least.
            const wait = Number((answer.problem as { retry_after?: number }).retry_after ?? 0) * 1000;
            if (this.socket === socket) this.reconnect(Math.max(wait, backoffDelay(this.attempt++)));
            return;
          }
          await this.engine.refuseBatch(status, answer.problem).catch(() => undefined);
          return;
        }
        await this.engine.settle(batch.batchId, batch.entries, answer as unknown as PushAnswer);
      }
    } finally {
      this.pushing = false;
    }
  }
}

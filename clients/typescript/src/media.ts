/**
 * The media queue: photos and documents upload on their own schedule, never
 * holding back the record outbox.
 *
 * A job is stored with its bytes (so it survives a restart) and goes:
 * declare (`POST /media/uploads`, idempotent by the media id) -> upload by
 * the presigned URL -> `POST /media/{id}/complete`. A failure waits (1 s
 * doubling to 5 min, with jitter) and tries again; an answer that can never
 * succeed (`upload_too_large`, `media_mismatch`, ...) drops the job and emits
 * `mediaRejected`. An owner the server does not know yet (`unknown_owner`:
 * its record is still in the outbox) is retried like a failure.
 */

import type { Engine } from "./engine.js";
import { OfflineError, SignedOutError } from "./errors.js";
import type { Problem } from "./api.js";
import type { MediaJob } from "./storage.js";

const RETRYABLE = new Set(["unknown_owner", "upload_missing", "not_found", "owner_out_of_scope"]);
const MAX_DELAY_MS = 300_000;

async function sha256(bytes: Uint8Array): Promise<string | null> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) return null;
  const digest = new Uint8Array(await subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

export class MediaQueue {
  private running: Promise<number> | null = null;

  constructor(
    private readonly engine: Engine,
    private readonly baseUrl: string,
    private readonly fetchImpl: typeof fetch,
  ) {}

  async add(job: Omit<MediaJob, "state" | "attempts" | "nextAttemptAt" | "lastError">): Promise<void> {
    await this.engine.storage.write([{ op: "putMedia", job: { ...job, state: "queued", attempts: 0, nextAttemptAt: 0, lastError: null } }]);
    await this.engine.refreshPending();
  }

  /** Try every job that is due; answers how many finished. One pass at a time. */
  pass(now = Date.now()): Promise<number> {
    this.running ??= this.runPass(now).finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async runPass(now: number): Promise<number> {
    let finished = 0;
    for (const job of await this.engine.storage.media()) {
      if (job.nextAttemptAt > now) continue;
      try {
        if (await this.process(job)) finished++;
      } catch (error) {
        if (error instanceof SignedOutError) throw error;
        await this.later(job, error instanceof Error ? error.message : String(error));
        if (error instanceof OfflineError) break;
      }
    }
    await this.engine.refreshPending();
    return finished;
  }

  private async later(job: MediaJob, lastError: string): Promise<void> {
    const attempts = job.attempts + 1;
    const delay = Math.min(MAX_DELAY_MS, 1000 * 2 ** Math.min(attempts, 20)) * (0.5 + Math.random() / 2);
    await this.engine.storage.write([{ op: "putMedia", job: { ...job, attempts, nextAttemptAt: Date.now() + delay, lastError } }]);
  }

  private async refuse(job: MediaJob, problem: Partial<Problem> | undefined): Promise<boolean> {
    if (problem?.code && RETRYABLE.has(problem.code)) {
      await this.later(job, problem.code);
      return false;
    }
    await this.engine.storage.write([{ op: "dropMedia", id: job.id }]);
    this.engine.events.emit("mediaRejected", { id: job.id, problem: problem ?? {} });
    return false;
  }

  /** Move one job as far as it goes; answers true once it is complete. */
  private async process(job: MediaJob): Promise<boolean> {
    const api = this.engine.api;
    if (job.state === "queued") {
      const checksum = await sha256(job.bytes);
      const declared = await this.engine.authed((signal) =>
        api.request("post", "/media/uploads", {
          body: {
            media_id: job.id,
            content_type: job.contentType,
            size: job.bytes.byteLength,
            sha256: checksum,
            owner_type: job.ownerType,
            owner_id: job.ownerId,
          },
          signal,
        } as never),
      );
      if (!declared.ok) {
        if (declared.problem?.code !== "media_already_uploaded") {
          if (declared.status >= 500 || declared.status === 429) throw new Error(`declare: ${declared.status}`);
          return this.refuse(job, declared.problem);
        }
      } else {
        const upload = (declared.data as { upload: { method: string; url: string; headers?: Record<string, string> | null; fields?: Record<string, string> | null } }).upload;
        await this.upload(job, upload);
      }
      job = { ...job, state: "uploaded" };
      await this.engine.storage.write([{ op: "putMedia", job }]);
    }
    const completed = await this.engine.authed((signal) =>
      api.request("post", "/media/{media_id}/complete", { path: { media_id: job.id }, signal } as never),
    );
    if (!completed.ok) {
      if (completed.problem?.code === "upload_missing") {
        await this.engine.storage.write([{ op: "putMedia", job: { ...job, state: "queued" } }]);
        throw new Error("upload_missing");
      }
      if (completed.status >= 500 || completed.status === 429) throw new Error(`complete: ${completed.status}`);
      return this.refuse(job, completed.problem);
    }
    await this.engine.storage.write([{ op: "dropMedia", id: job.id }]);
    this.engine.events.emit("change", { entities: ["media_asset", "task_event"] });
    return true;
  }

  private async upload(
    job: MediaJob,
    upload: { method: string; url: string; headers?: Record<string, string> | null; fields?: Record<string, string> | null },
  ): Promise<void> {
    const url = new URL(upload.url, this.baseUrl).toString();
    let body: BodyInit;
    if (upload.method === "POST") {
      const form = new FormData();
      for (const [name, value] of Object.entries(upload.fields ?? {})) form.append(name, value);
      form.append("file", new Blob([job.bytes as BlobPart], { type: job.contentType }));
      body = form;
    } else {
      body = new Blob([job.bytes as BlobPart], { type: job.contentType });
    }
    let response: Response;
    try {
      response = await this.fetchImpl(url, {
        method: upload.method,
        headers: upload.method === "POST" ? {} : (upload.headers ?? {}),
        body,
        signal: AbortSignal.timeout(120_000),
      });
    } catch (error) {
      throw new OfflineError(error);
    }
    if (!response.ok) throw new Error(`upload answered ${response.status}`);
  }
}

/** What the SDK throws: the server's problem, a link that is down, or a signed-out session. */

import type { Problem } from "./api.js";

/** The server answered with an RFC 9457 problem; branch on `code`. */
export class SyncError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly problem: Partial<Problem> | undefined,
  ) {
    super(`${status} ${code}${problem?.detail ? `: ${problem.detail}` : ""}`);
    this.name = "SyncError";
  }

  /** Worth trying again later (the server is busy or restarting). */
  get retryable(): boolean {
    return this.status >= 500 || this.status === 429 || this.status === 408;
  }
}

/** No answer: the device is offline, the link died, or the server is down. */
export class OfflineError extends Error {
  constructor(readonly cause: unknown) {
    super(`no answer from the server (${cause instanceof Error ? cause.message : String(cause)})`);
    this.name = "OfflineError";
  }
}

/** There is no session (never signed in, signed out, or the refresh token was refused). */
export class SignedOutError extends Error {
  constructor(readonly code = "signed_out") {
    super(`not signed in (${code})`);
    this.name = "SignedOutError";
  }
}

export function problemError(status: number, problem: Partial<Problem> | undefined): SyncError {
  return new SyncError(status, problem?.code ?? `http_${status}`, problem);
}

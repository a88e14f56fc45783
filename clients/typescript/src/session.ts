/**
 * Signing in, and keeping a valid access token over a bad link.
 *
 * The token pair lives in storage (meta `auth`). The access token is
 * refreshed shortly before it expires and on a 401; one refresh runs at a
 * time. Refresh tokens rotate: the next pair is stored before its access
 * token is used. If the refresh answer is lost, the same refresh token is
 * sent again later: within the server's reuse grace it answers the same next
 * token, so a dying link never locks the technician out. Only a definite 401
 * from `/auth/refresh` (`refresh_reused`, an expired session) signs out.
 */

import { OfflineError, SignedOutError, problemError } from "./errors.js";
import type { Client, Problem } from "./api.js";
import type { SyncStorage } from "./storage.js";

export interface Auth {
  accessToken: string;
  refreshToken: string;
  /** When the access token expires (ms since the epoch, by this device's clock). */
  expiresAt: number;
}

/** Refresh this long before the access token expires. */
const REFRESH_MARGIN_MS = 60_000;
export const REQUEST_TIMEOUT_MS = 30_000;

export function isNetworkError(error: unknown): boolean {
  return error instanceof TypeError || (error instanceof Error && (error.name === "AbortError" || error.name === "TimeoutError"));
}

export class Session {
  auth: Auth | null = null;
  private refreshing: Promise<void> | null = null;

  constructor(
    private readonly api: Client,
    private readonly storage: SyncStorage,
    private readonly clientId: () => string,
    private readonly onSignedOut: (code: string) => void,
  ) {}

  async load(): Promise<void> {
    const stored = await this.storage.getMeta("auth");
    this.auth = stored ? (JSON.parse(stored) as Auth) : null;
  }

  private async keep(pair: { access_token: string; refresh_token: string; expires_in: number }): Promise<void> {
    const auth = { accessToken: pair.access_token, refreshToken: pair.refresh_token, expiresAt: Date.now() + pair.expires_in * 1000 };
    await this.storage.write([{ op: "setMeta", key: "auth", value: JSON.stringify(auth) }]);
    this.auth = auth;
  }

  async login(email: string, password: string): Promise<void> {
    let answer;
    try {
      answer = await this.api.request("post", "/auth/login", {
        body: { email, password, client_id: this.clientId() },
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (error) {
      throw isNetworkError(error) ? new OfflineError(error) : error;
    }
    if (!answer.ok) throw problemError(answer.status, answer.problem);
    await this.keep(answer.data);
  }

  async logout(): Promise<void> {
    const auth = this.auth;
    if (auth) {
      try {
        await this.api.request("post", "/auth/logout", {
          headers: { Authorization: `Bearer ${auth.accessToken}` },
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        });
      } catch {
        // Offline: the session ends on the server when its tokens expire.
      }
    }
    this.auth = null;
    await this.storage.write([{ op: "setMeta", key: "auth", value: null }]);
  }

  /** A usable access token, refreshed first if it is about to expire. */
  async accessToken(): Promise<string> {
    if (!this.auth) throw new SignedOutError();
    if (this.auth.expiresAt - REFRESH_MARGIN_MS <= Date.now()) await this.refresh();
    if (!this.auth) throw new SignedOutError();
    return this.auth.accessToken;
  }

  /** Trade the refresh token for a new pair (one refresh at a time). */
  refresh(): Promise<void> {
    this.refreshing ??= this.runRefresh().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private async runRefresh(): Promise<void> {
    const auth = this.auth;
    if (!auth) throw new SignedOutError();
    let answer;
    try {
      answer = await this.api.request("post", "/auth/refresh", {
        body: { refresh_token: auth.refreshToken },
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (error) {
      // The answer may be lost after the server rotated the token: keep the
      // same refresh token; the reuse grace answers the same next one.
      throw isNetworkError(error) ? new OfflineError(error) : error;
    }
    if (answer.ok) return this.keep(answer.data);
    if (answer.status === 401) {
      const code = (answer.problem as Problem | undefined)?.code ?? "token_invalid";
      this.auth = null;
      await this.storage.write([{ op: "setMeta", key: "auth", value: null }]);
      this.onSignedOut(code);
      throw new SignedOutError(code);
    }
    throw problemError(answer.status, answer.problem);
  }
}

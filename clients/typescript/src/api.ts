/**
 * Types for the syncd HTTP API and a minimal typed `fetch` wrapper (re-exported
 * by `./index.ts`; the SDK's own modules import it from here).
 *
 * `./schema.d.ts` is generated from `../openapi.json` by openapi-typescript
 * (`npm run generate`); never edit it by hand. This file has no runtime
 * dependencies: it uses the platform's `fetch`.
 *
 *     const api = createClient({ baseUrl: "https://sync.example.com", tenant: "acme" });
 *     const login = await api.request("post", "/auth/login", {
 *       body: { email: "admin@example.com", password: "..." },
 *     });
 *     if (login.ok) console.log(login.data.access_token); // typed: TokenPairRead
 *     else console.error(login.problem?.code);
 */

import type { components, operations, paths } from "./schema.js";

export type { components, operations, paths } from "./schema.js";

/** A named schema: `Schema<"TokenPairRead">`. */
export type Schema<Name extends keyof components["schemas"]> = components["schemas"][Name];

/** The RFC 9457 problem body every error answers with (`application/problem+json`). */
export type Problem = Schema<"Problem">;

export type HttpMethod = "get" | "put" | "post" | "delete" | "patch";

/** The paths that have an operation for `M`. */
export type PathsWith<M extends HttpMethod> = {
  [P in keyof paths]: paths[P][M] extends undefined ? never : P;
}[keyof paths];

/** The operation at `M P`. */
export type Operation<P extends keyof paths, M extends HttpMethod> = NonNullable<paths[P][M]>;

type ParameterOf<O, K extends "path" | "query" | "header"> = O extends {
  parameters: { [key in K]?: infer V };
}
  ? NonNullable<V>
  : never;

type JsonBody<T> = T extends { content: { "application/json": infer B } } ? B : never;

/** The JSON request body of an operation (`never` if it takes none, or not JSON). */
export type RequestBody<O> = O extends { requestBody?: infer R } ? JsonBody<NonNullable<R>> : never;

type SuccessStatus = 200 | 201 | 202 | 203 | 204;

type SuccessData<R> = R extends { content: { "application/json": infer B } }
  ? B
  : R extends { content?: never }
    ? undefined // 204: no body
    : unknown; // not JSON (a blob, a page): read `response` yourself

/** What a successful answer carries (the union over the operation's 2xx responses). */
export type ResponseData<O> = O extends { responses: infer R }
  ? { [S in keyof R & SuccessStatus]: SuccessData<R[S]> }[keyof R & SuccessStatus]
  : never;

type PathPart<O> = [ParameterOf<O, "path">] extends [never]
  ? { path?: undefined }
  : { path: ParameterOf<O, "path"> };

type QueryPart<O> = [ParameterOf<O, "query">] extends [never]
  ? { query?: undefined }
  : Record<string, never> extends ParameterOf<O, "query">
    ? { query?: ParameterOf<O, "query"> }
    : { query: ParameterOf<O, "query"> };

type BodyPart<O> = [RequestBody<O>] extends [never]
  ? { body?: undefined }
  : O extends { requestBody: unknown }
    ? { body: RequestBody<O> }
    : { body?: RequestBody<O> };

/** The options of one call: path and query parameters, JSON body, extra headers. */
export type RequestOptions<O> = PathPart<O> &
  QueryPart<O> &
  BodyPart<O> & {
    headers?: Record<string, string>;
    signal?: AbortSignal;
  };

type OptionsArgument<O> = Record<string, never> extends RequestOptions<O>
  ? [options?: RequestOptions<O>]
  : [options: RequestOptions<O>];

export type ApiResult<O> =
  | { ok: true; status: number; data: ResponseData<O>; response: Response }
  | { ok: false; status: number; problem: Problem | undefined; response: Response };

export interface ClientOptions {
  /** Where syncd answers, e.g. `https://sync.example.com` (no trailing slash needed). */
  baseUrl: string;
  /** The access token to send as `Authorization: Bearer ...`, read on every call. */
  token?: () => string | undefined;
  /** The tenant's slug or id, sent as `X-Tenant` (public routes that need one). */
  tenant?: string;
  /** Another `fetch` (tests, a polyfill); defaults to the global one. */
  fetch?: typeof fetch;
}

type QueryValue = string | number | boolean | null | undefined | readonly (string | number | boolean)[];

function fillPath(template: string, values: Record<string, string | number> | undefined): string {
  return template.replace(/\{([^}]+)\}/g, (_, name: string) => {
    const value = values?.[name];
    if (value === undefined) throw new Error(`missing path parameter ${name} for ${template}`);
    return encodeURIComponent(String(value));
  });
}

function queryString(query: Record<string, QueryValue> | undefined): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value === undefined || value === null) continue;
    for (const item of Array.isArray(value) ? value : [value]) search.append(name, String(item));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

export function createClient(options: ClientOptions) {
  const baseUrl = options.baseUrl.replace(/\/+$/, "");
  const fetchImpl = options.fetch ?? globalThis.fetch;

  async function request<M extends HttpMethod, P extends PathsWith<M>>(
    method: M,
    path: P,
    ...[init]: OptionsArgument<Operation<P, M>>
  ): Promise<ApiResult<Operation<P, M>>> {
    const call = (init ?? {}) as {
      path?: Record<string, string | number>;
      query?: Record<string, QueryValue>;
      body?: unknown;
      headers?: Record<string, string>;
      signal?: AbortSignal;
    };
    const headers: Record<string, string> = { Accept: "application/json" };
    const token = options.token?.();
    if (token) headers.Authorization = `Bearer ${token}`;
    if (options.tenant) headers["X-Tenant"] = options.tenant;
    if (call.body !== undefined) headers["Content-Type"] = "application/json";
    Object.assign(headers, call.headers);

    const response = await fetchImpl(`${baseUrl}${fillPath(path, call.path)}${queryString(call.query)}`, {
      method: method.toUpperCase(),
      headers,
      body: call.body === undefined ? undefined : JSON.stringify(call.body),
      signal: call.signal,
    });
    const json = (response.headers.get("Content-Type") ?? "").includes("json");
    if (response.ok) {
      const data = response.status !== 204 && json ? await response.json() : undefined;
      return { ok: true, status: response.status, data: data as ResponseData<Operation<P, M>>, response };
    }
    const problem = json ? ((await response.json()) as Problem) : undefined;
    return { ok: false, status: response.status, problem, response };
  }

  return { request };
}

export type Client = ReturnType<typeof createClient>;

// Compile-time checks of the wrapper's types against the generated schema.
type Expect<T extends true> = T;
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
export type _Checks = [
  Expect<Equal<ResponseData<operations["login"]>, Schema<"TokenPairRead">>>,
  Expect<Equal<RequestBody<operations["login"]>, Schema<"LoginBody">>>,
];

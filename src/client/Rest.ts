import { FetchHttpClient, type HttpApi, HttpApiClient, HttpApiError, type HttpApiGroup, HttpClient, HttpClientRequest } from "@effect/platform"
import type { HttpClientResponse } from "@effect/platform/HttpClientResponse"
import { Cause, Effect, Exit } from "effect"
import { Api } from "../api/Api.js"
import { ValidationError } from "../domain/Errors.js"

export interface RestOptions {
  /** The chatapi base URL, e.g. `http://localhost:8080`. */
  readonly baseUrl: string
  /** The tenant's API key: server-side only, never in a browser. */
  readonly apiKey: string
  /** The user who acts (`X-User-Id`); leave it out for `POST /notify`. */
  readonly userId?: string | undefined
}

/**
 * Every 400 has the same wire body, so the client decodes it as the API's `HttpApiDecodeError`
 * whichever error the server meant: it is handed on as one `ValidationError`, field included.
 */
const asValidationError = (response: Effect.Effect<unknown, unknown>) =>
  Effect.catchIf(
    response,
    (e): e is HttpApiError.HttpApiDecodeError => e instanceof HttpApiError.HttpApiDecodeError,
    (e) => {
      const field = e.issues[0]?.path.map(String).join(".")
      return Effect.fail(new ValidationError({ message: e.message, ...(field ? { field } : {}) }))
    }
  )

/** An `HttpApi` client whose every request carries `headers`. */
export const makeApiClient = <Id extends string, Groups extends HttpApiGroup.HttpApiGroup.Any, E, R>(
  api: HttpApi.HttpApi<Id, Groups, E, R>,
  baseUrl: string,
  headers: Record<string, string>
) =>
  HttpApiClient.make(api, {
    baseUrl,
    transformClient: HttpClient.mapRequest(HttpClientRequest.setHeaders(headers)),
    transformResponse: asValidationError
  })

const headersOf = (options: RestOptions): Record<string, string> => ({
  "x-api-key": options.apiKey,
  ...(options.userId === undefined ? {} : { "x-user-id": options.userId })
})

/**
 * The REST API as an Effect client, derived from the server's own `HttpApi` contract, so the two
 * cannot drift. Needs an `HttpClient` (e.g. `FetchHttpClient.layer`).
 */
export const makeRest = (options: RestOptions) => makeApiClient(Api, options.baseUrl, headersOf(options))

export type RestClient = Effect.Effect.Success<ReturnType<typeof makeRest>>

/** `headers` and `urlParams` whose fields are all optional may be left out: they default to `{}`. */
type Loose<Req> = Omit<Req, "withResponse" | "headers" | "urlParams"> & Partial<Pick<Req, Extract<keyof Req, "headers" | "urlParams">>>

/** A request with nothing required may be left out altogether. */
type Args<Req> = {} extends Req ? [request?: Req] : [request: Req]

type PromiseMethod<F> = F extends (request: infer Req) => Effect.Effect<infer A, infer _E, infer _R>
  ? (...args: Args<Loose<Req>>) => Promise<Exclude<A, readonly [unknown, HttpClientResponse]>>
  : never

/** An `HttpApiClient` with Promises in place of Effects; a failure rejects with the typed error itself. */
export type PromiseClient<C> = {
  readonly [G in keyof C]: { readonly [M in keyof C[G]]: PromiseMethod<C[G][M]> }
}

/** Runs an Effect as a Promise that rejects with the failure itself (not a wrapper). */
export const runPromise = <A, E>(effect: Effect.Effect<A, E>): Promise<A> =>
  Effect.runPromiseExit(effect).then((exit) => Exit.isSuccess(exit) ? exit.value : Promise.reject(Cause.squash(exit.cause)))

/** Wraps every endpoint of an Effect `HttpApiClient` as a Promise-returning function. */
export const promiseClient = <C>(client: C): PromiseClient<C> =>
  Object.fromEntries(
    Object.entries(client as object).map(([group, endpoints]) => [
      group,
      Object.fromEntries(
        Object.entries(endpoints as Record<string, (request: unknown) => Effect.Effect<unknown, unknown>>).map(([name, call]) => [
          name,
          (request?: object) => runPromise(call({ headers: {}, urlParams: {}, ...request }))
        ])
      )
    ])
  ) as PromiseClient<C>

/** An `HttpApi` client with Promises, over `fetch`, whose every request carries `headers`. */
export const createApiClient = <Id extends string, Groups extends HttpApiGroup.HttpApiGroup.Any, E, R>(
  api: HttpApi.HttpApi<Id, Groups, E, R>,
  baseUrl: string,
  headers: Record<string, string>
): PromiseClient<HttpApiClient.Client<Groups, E, never>> => {
  // The contexts a client needs besides HttpClient are none for chatapi's contracts.
  const client = makeApiClient(api, baseUrl, headers) as unknown as Effect.Effect<HttpApiClient.Client<Groups, E, never>, never, HttpClient.HttpClient>
  return promiseClient(Effect.runSync(Effect.provide(client, FetchHttpClient.layer)))
}

/**
 * The REST API for Promise users (server-side: it holds the API key), e.g.
 * `await rest.rooms.create({ payload: { type: "dm", members: ["bob"] } })`.
 */
export const createRestClient = (options: RestOptions): PromiseClient<RestClient> => createApiClient(Api, options.baseUrl, headersOf(options))

/**
 * chatapi's client SDK, for Node and browsers: `import { ChatapiClient } from "chatapi/client"`.
 *
 * - `ChatapiClient`: the realtime client with Promises and events, for any application.
 * - `Realtime.make` / `ChatRealtime`: the same client for Effect applications, events as a Stream.
 * - `makeRest` (Effect) and `createRestClient` (Promises): the REST API, derived from the server's
 *   `HttpApi` contract; it takes the tenant's API key, so it belongs on your backend.
 */
export { type BackoffOptions, reconnectDelay } from "./Backoff.js"
export { ChatapiClient, type ChatapiClientOptions, type ChatapiEvent } from "./ChatapiClient.js"
export { ChatError, ClientClosed } from "./Errors.js"
export type { ChatEvent, ChatEventMap, ChatEventType, ConnectionStatus, SentMessage } from "./Events.js"
export * as Realtime from "./Realtime.js"
export { ChatRealtime, type RealtimeOptions, type SendOptions } from "./Realtime.js"
export { socketUrl, type WebSocketConstructor } from "./Wire.js"
export { createApiClient, createRestClient, makeApiClient, makeRest, type PromiseClient, promiseClient, type RestClient, type RestOptions } from "./Rest.js"
export type * from "../domain/ServerFrames.js"
export { Api } from "../api/Api.js"
export { MessageId, RoomId, UserId } from "../domain/Ids.js"

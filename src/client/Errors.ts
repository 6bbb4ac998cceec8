import { Schema } from "effect"

/** The server refused a frame: the SPEC §9 `code` (e.g. `FORBIDDEN`), its message and field. */
export class ChatError extends Schema.TaggedError<ChatError>()("ChatError", {
  code: Schema.String,
  message: Schema.String,
  field: Schema.optional(Schema.String)
}) {}

/** The client was closed before the operation could complete. */
export class ClientClosed extends Schema.TaggedError<ClientClosed>()("ClientClosed", {
  message: Schema.String
}) {}

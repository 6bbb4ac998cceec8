import { HttpApi } from "@effect/platform"
import { AdminApi } from "./AdminApi.js"
import { DecodeError } from "./Errors.js"
import { HealthApi } from "./HealthApi.js"
import { MessagesApi } from "./MessagesApi.js"
import { NotificationsApi, NotifyApi } from "./NotificationsApi.js"
import { RoomsApi } from "./RoomsApi.js"
import { TokensApi } from "./TokensApi.js"

const base = HttpApi.make("chatapi")
// Request decoding failures use the same §9 body as every other error.
;(base as { errorSchema: unknown }).errorSchema = DecodeError

export class Api extends base.add(HealthApi).add(AdminApi).add(RoomsApi).add(MessagesApi).add(TokensApi).add(NotifyApi).add(NotificationsApi) {}

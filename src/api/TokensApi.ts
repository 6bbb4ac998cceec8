import { HttpApiEndpoint, HttpApiGroup } from "@effect/platform"
import { ConnectionToken, CreateToken } from "../domain/Token.js"
import * as Errors from "./Errors.js"
import { UserAuth } from "./Middleware.js"

export class TokensApi extends HttpApiGroup.make("tokens")
  .add(
    HttpApiEndpoint.post("create", "/tokens")
      .setPayload(CreateToken)
      .addSuccess(ConnectionToken, { status: 201 })
      .addError(Errors.ValidationError)
  )
  .middleware(UserAuth)
{}

import { Args, Command, HelpDoc, Options, ValidationError } from "@effect/cli"
import { Console, Effect, Layer, ParseResult, Schema } from "effect"
import { TenantConfig } from "../domain/Tenant.js"
import { CliLoggerLive } from "../Logging.js"
import { DatabaseLive } from "../Server.js"
import { Tenants } from "../services/Tenants.js"

const print = (value: unknown) => Console.log(JSON.stringify(value, null, 2))

const TenantsLive = Tenants.Default.pipe(Layer.provide(DatabaseLive))

/** Runs against the migrated store; logs go to stderr so that stdout carries only the JSON. */
const withTenants = <A, E>(f: (tenants: Tenants) => Effect.Effect<A, E>) =>
  Effect.flatMap(Tenants, f).pipe(
    Effect.flatMap(print),
    Effect.provide(TenantsLive),
    Effect.provide(CliLoggerLive)
  )

const name = Args.text({ name: "NAME" }).pipe(Args.withDescription("the tenant's display name"))
const tenantId = Args.text({ name: "TENANT_ID" }).pipe(Args.withDescription("the tenant_id printed by create or list"))

const decodeConfig = Schema.decodeUnknown(Schema.parseJson(TenantConfig))

const config = Options.text("config").pipe(
  Options.withPseudoName("JSON"),
  Options.withDescription("the tenant's config, e.g. '{\"rate_limit_per_sec\":50}'"),
  Options.withDefault("{}"),
  Options.mapEffect((json) =>
    decodeConfig(json).pipe(
      Effect.mapError((e) => {
        // An optional field fails both halves of its `T | undefined`; the first says what is wrong.
        const byPath = new Map(ParseResult.ArrayFormatter.formatErrorSync(e).reverse().map((i) => [i.path.join("."), i.message]))
        const text = [...byPath].reverse().map(([path, message]) => (path === "" ? message : `${path}: ${message}`)).join("; ")
        return ValidationError.invalidValue(HelpDoc.p(`--config: ${text}`))
      })
    )
  )
)

const create = Command.make("create", { name, config }, ({ config, name }) => withTenants((t) => t.create(name, config))).pipe(
  Command.withDescription("Create a tenant and print it with its API key (shown only once).")
)

const list = Command.make("list", {}, () => withTenants((t) => t.list)).pipe(
  Command.withDescription("List tenants (never their keys).")
)

const rotate = Command.make("rotate", { tenantId }, ({ tenantId }) => withTenants((t) => t.rotateKey(tenantId))).pipe(
  Command.withDescription("Issue a new API key, printed once; the old key stops working at once.")
)

export const tenants = Command.make("tenants").pipe(
  Command.withDescription("Create, list and re-key tenants on the configured store."),
  Command.withSubcommands([create, list, rotate])
)

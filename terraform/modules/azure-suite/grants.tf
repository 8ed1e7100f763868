# Which function runs in which app, and what each app's identity may do, derived from the ports
# the handlers declare (var.function_needs = shared/catalog/needs.json) and the events they emit.
#
# Provider-free on purpose: grants name their scopes symbolically ("table:orders",
# "queue:poison:notifier"); iam.tf turns them into ARM ids, and
# tests/terraform/test_least_privilege.py evaluates these locals with the real Terraform.
#
# Apps: every function runs in its own Flex Consumption app by default (var.function_apps
# groups them otherwise), each with its own system-assigned identity, package container and
# settings; the one package registers every catalog function and the app settings
# `AzureWebJobs.<function>.Disabled = true` switch off the others. An app's identity holds the
# union of its functions' grants, so with the default every identity holds exactly its
# function's.
#
# Port -> Azure role assignments:
#   objects         : Blob Data Reader on claims (claim checks resolved on decode); readers of the
#                     upload event Reader on uploads; thumbnail writers Contributor on thumbnails;
#                     publishers Contributor on claims
#   index           : Table Data Contributor on the metadataindex table
#   idempotency     : Table Data Contributor on the idempotency table
#   orders          : Table Data Contributor on the orders table (schedules: Table Data Reader,
#                     the reconciler only queries)
#   publisher       : EventGrid Data Sender on its own events topic only (a topic per producer,
#                     whose subscriptions take only the types it emits)
#   payments        : payment_provider = stripe: Key Vault Secrets User on the stripe-api-key
#                     secret only; simulated: nothing (no cloud call)
#   mailer          : Key Vault Secrets User on the smtp-password secret (when SMTP has a user)
#   dead_letters    : Queue Data Message Sender on its own poison queue only
#   webhook_secrets : Key Vault Secrets User on the webhook-secret secret only

locals {
  function_kinds = merge(
    { for name in keys(var.consumers) : name => "consumer" },
    # An endpoint that only reads (GET: the order status) gets read access, nothing more.
    { for name, e in var.http_endpoints : name => contains(["GET", "HEAD"], upper(e.method)) ? "read" : "http" },
    { for name in keys(var.schedules) : name => "schedule" },
  )

  function_needs = merge(
    var.function_needs.consumers,
    var.function_needs.http_endpoints,
    var.function_needs.schedules,
  )

  functions_without_needs = [for name in keys(local.function_kinds) : name if !contains(keys(local.function_needs), name)]
  needs_without_function  = [for name in keys(local.function_needs) : name if !contains(keys(local.function_kinds), name)]

  # App key => the catalog functions it runs.
  apps = length(var.function_apps) > 0 ? var.function_apps : { for name in keys(local.function_kinds) : name => [name] }

  # The package registers every catalog function: each app switches off the others.
  app_disabled_functions = {
    for app, functions in local.apps : app => sort([for f in keys(local.function_kinds) : f if !contains(functions, f)])
  }

  function_app = merge([for app, functions in local.apps : { for f in functions : f => app }]...)

  functions_without_app = [for name in keys(local.function_kinds) : name if !contains(keys(local.function_app), name)]
  functions_in_two_apps = [for name in keys(local.function_kinds) : name if length([for fs in values(local.apps) : fs if contains(fs, name)]) > 1]
  unknown_app_functions = [for name in keys(local.function_app) : name if !contains(keys(local.function_kinds), name)]

  upload_readers = [for name, c in var.consumers : name if contains(c.subscribes, var.upload_event_name)]

  port_grants = {
    for name, kind in local.function_kinds : name => {
      objects = concat(
        [{ scope = "container:claims", role = "Storage Blob Data Reader" }],
        [for r in [name] : { scope = "container:claims", role = "Storage Blob Data Contributor" } if contains(try(local.function_needs[name].ports, []), "publisher")],
        [for r in [name] : { scope = "container:uploads", role = "Storage Blob Data Reader" } if contains(local.upload_readers, name)],
        [for r in [name] : { scope = "container:thumbnails", role = "Storage Blob Data Contributor" } if contains(var.thumbnail_writers, name)],
      )
      index       = [{ scope = "table:index", role = "Storage Table Data Contributor" }]
      idempotency = [{ scope = "table:idempotency", role = "Storage Table Data Contributor" }]
      orders      = [{ scope = "table:orders", role = kind == "read" ? "Storage Table Data Reader" : "Storage Table Data Contributor" }]
      publisher   = [{ scope = "topic:events:${name}", role = "EventGrid Data Sender" }]
      payments    = [for p in [var.payment_provider] : { scope = "secret:stripe", role = "Key Vault Secrets User" } if p == "stripe"]
      mailer      = [for u in compact([var.smtp.username]) : { scope = "secret:smtp", role = "Key Vault Secrets User" }]
      # Its own poison queue (the consumer's queue only exists for consumers).
      dead_letters    = [for r in [name] : { scope = "queue:poison:${name}", role = "Storage Queue Data Message Sender" } if kind == "consumer"]
      webhook_secrets = [{ scope = "secret:webhook", role = "Key Vault Secrets User" }]
    }
  }

  # Function name => its grants (per port it declares).
  function_grants = {
    for name in keys(local.function_kinds) : name => flatten([
      for p in try(local.function_needs[name].ports, []) : try(local.port_grants[name][p], [])
    ])
  }

  # App key => the distinct grants of its functions ("scope|role" => grant).
  app_grants = {
    for app, functions in local.apps : app => merge([
      for f in functions : { for g in try(local.function_grants[f], []) : "${g.scope}|${g.role}" => g }
    ]...)
  }

  # Which apps read which secret (their Key Vault references) and run HTTP functions.
  app_reads_secret = {
    for app, grants in local.app_grants : app => {
      webhook = contains(keys(grants), "secret:webhook|Key Vault Secrets User")
      smtp    = contains(keys(grants), "secret:smtp|Key Vault Secrets User")
      stripe  = contains(keys(grants), "secret:stripe|Key Vault Secrets User")
    }
  }

  # A custom topic per producer (a function declaring the publisher port): only its app may
  # send to it, and each consumer subscription on it takes only the types that producer emits.
  producer_event_types = {
    for name, n in local.function_needs : name => sort(distinct([
      for e in n.emits : var.events[e].type if contains(keys(var.events), e)
    ])) if contains(n.ports, "publisher")
  }

  # EVENTSUITE_EVENTGRID_ENDPOINT is one per app: an app runs at most one producer.
  apps_with_two_producers = [
    for app, functions in local.apps : app if length([for f in functions : f if contains(keys(local.producer_event_types), f)]) > 1
  ]

  # HTTP endpoints that authenticate every call themselves (HMAC signature): never behind Entra ID.
  signed_http_endpoints = [for name in keys(var.http_endpoints) : name if contains(try(local.function_needs[name].ports, []), "webhook_secrets")]

  # Apps running an HTTP endpoint that is not a signed webhook: protected by App Service
  # authentication (Entra ID) unless orders_api_auth.mode = "function_key".
  entra_apps = {
    for app, functions in local.apps : app => [
      for f in functions : "${var.http_route_prefix == "" ? "" : "/${var.http_route_prefix}"}${var.http_endpoints[f].path}"
      if contains(local.signed_http_endpoints, f)
    ] if var.orders_api_auth.mode == "entra" && anytrue([for f in functions : contains(keys(var.http_endpoints), f) && !contains(local.signed_http_endpoints, f)])
  }
}

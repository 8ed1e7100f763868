# What each function's service account may do, derived from the ports its handlers declare
# (var.function_needs = shared/catalog/needs.json) and the events it emits.
#
# Provider-free on purpose: grants name their targets symbolically ("bucket:claims",
# "topic:events", "firestore"); iam.tf binds them, and tests/terraform/test_least_privilege.py
# evaluates these locals with the real Terraform against needs.json.
#
# Port -> Google Cloud grants:
#   objects         : objectViewer on claims (claim checks resolved on decode); readers of the
#                     upload event objectViewer on uploads; thumbnail writers objectUser on
#                     thumbnails (a retry overwrites); publishers objectUser on claims
#   index           : Firestore create + update (set) on the suite database
#   idempotency     : Firestore get, create, update, delete (claim, complete, release)
#   orders          : Firestore, consumers get/create/update; HTTP endpoints get/create;
#                     schedules list (the reconciler's query)
#   publisher       : roles/pubsub.publisher on its own events topic only (a topic per producer,
#                     whose subscriptions take only the types it emits)
#   payments        : payment_provider = stripe: secretAccessor on the Stripe API key secret
#                     only; simulated: nothing (no cloud call)
#   mailer          : secretAccessor on the SMTP password secret (when one is configured)
#   dead_letters    : roles/pubsub.publisher on its own dead-letter topic only
#   webhook_secrets : secretAccessor on the webhook secret only
#
# Firestore IAM has no collection-level grant: each function gets a custom role holding only
# the datastore.entities.* permissions its ports use, bound with an IAM condition on the suite's
# database, so no function can delete what it never deletes or touch another database.

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

  upload_readers = [for name, c in var.consumers : name if contains(c.subscribes, var.storage_event)]

  port_grants = {
    for name, kind in local.function_kinds : name => {
      objects = concat(
        [{ target = "bucket:claims", role = "roles/storage.objectViewer", permissions = [] }],
        [
          for r in [name] : { target = "bucket:claims", role = "roles/storage.objectUser", permissions = [] }
          if contains(try(local.function_needs[name].ports, []), "publisher")
        ],
        [
          for r in [name] : { target = "bucket:uploads", role = "roles/storage.objectViewer", permissions = [] }
          if contains(local.upload_readers, name)
        ],
        [
          for r in [name] : { target = "bucket:thumbnails", role = "roles/storage.objectUser", permissions = [] }
          if contains(var.thumbnail_writers, name)
        ],
      )
      index       = [{ target = "firestore", role = "", permissions = ["datastore.entities.create", "datastore.entities.update"] }]
      idempotency = [{ target = "firestore", role = "", permissions = ["datastore.entities.create", "datastore.entities.delete", "datastore.entities.get", "datastore.entities.update"] }]
      orders = {
        consumer = [{ target = "firestore", role = "", permissions = ["datastore.entities.create", "datastore.entities.get", "datastore.entities.update"] }]
        http     = [{ target = "firestore", role = "", permissions = ["datastore.entities.create", "datastore.entities.get", "datastore.entities.update"] }]
        read     = [{ target = "firestore", role = "", permissions = ["datastore.entities.get"] }]
        schedule = [{ target = "firestore", role = "", permissions = ["datastore.entities.get", "datastore.entities.list", "datastore.entities.update"] }]
      }[kind]
      publisher       = [{ target = "topic:events:${name}", role = "roles/pubsub.publisher", permissions = [] }]
      payments        = [for p in [var.payment_provider] : { target = "secret:stripe", role = "roles/secretmanager.secretAccessor", permissions = [] } if p == "stripe"]
      mailer          = [for s in compact([var.smtp_password_secret_id]) : { target = "secret:smtp", role = "roles/secretmanager.secretAccessor", permissions = [] }]
      dead_letters    = [for r in [name] : { target = "topic:dlq:${name}", role = "roles/pubsub.publisher", permissions = [] } if kind == "consumer"]
      webhook_secrets = [{ target = "secret:webhook", role = "roles/secretmanager.secretAccessor", permissions = [] }]
    }
  }

  # Function name => its grants (per port it declares).
  function_grants = {
    for name in keys(local.function_kinds) : name => flatten([
      for p in try(local.function_needs[name].ports, []) : try(local.port_grants[name][p], [])
    ])
  }

  # Role grants (everything but Firestore): "function/target/role" => binding.
  function_role_grants = merge([
    for name, grants in local.function_grants : {
      for g in grants : "${name}/${g.target}/${g.role}" => { function = name, target = g.target, role = g.role }
      if g.target != "firestore"
    }
  ]...)

  # Firestore: function => the union of the permissions its ports use (none: no role at all).
  function_firestore_permissions = {
    for name, grants in local.function_grants : name => sort(distinct(flatten([
      for g in grants : g.permissions if g.target == "firestore"
    ]))) if length([for g in grants : g if g.target == "firestore"]) > 0
  }

  # Functions that read the SMTP password / the webhook secret (their secret environment).
  smtp_mail_functions    = [for name, grants in local.function_grants : name if anytrue([for g in grants : g.target == "secret:smtp"])]
  webhook_secret_readers = [for name, grants in local.function_grants : name if anytrue([for g in grants : g.target == "secret:webhook"])]
  stripe_key_readers     = [for name, grants in local.function_grants : name if anytrue([for g in grants : g.target == "secret:stripe"])]

  # A topic per producer (a function declaring the publisher port): only that function may
  # publish on it, so a producer can only ever announce what it publishes (a subscription of a
  # consumer takes from a producer's topic only the types that producer emits, needs.json).
  producer_event_types = {
    for name, n in local.function_needs : name => sort(distinct([
      for e in n.emits : var.events[e].type if contains(keys(var.events), e)
    ])) if contains(n.ports, "publisher")
  }
  producer_topics = { for p in keys(local.producer_event_types) : p => "${var.name_prefix}-events-${replace(p, "_", "-")}" }

  # EVENTSUITE_EVENTS_TOPIC: a producer's own topic; functions that publish nothing get none.
  producer_env = {
    for name in keys(local.function_kinds) : name => {
      for k, v in { EVENTSUITE_EVENTS_TOPIC = lookup(local.producer_topics, name, "") } : k => v
      if contains(keys(local.producer_topics), name)
    }
  }
}

# Everything is derived from the catalog inputs (var.events, var.consumers, var.http_endpoints,
# var.schedules): adding a consumer to shared/catalog/catalog.json adds its subscription(s),
# dead-letter topic and subscription, function, service account, IAM and alert policies here;
# adding a schedule adds its function, Cloud Scheduler job, IAM and alert policy (schedules.tf).

data "google_project" "this" {
  project_id = var.project_id
}

# The Cloud Storage service agent (the data source also makes sure it exists).
data "google_storage_project_service_account" "gcs" {
  project = var.project_id
}

locals {
  labels = merge(var.labels, {
    app        = "eventsuite"
    suite      = var.name_prefix
    managed-by = "terraform"
  })

  # Service agents. google_project_service_identity would force-create the Pub/Sub agent but it
  # only exists in the google-beta provider; the agent exists in every project where the Pub/Sub
  # API is enabled (see README for the one-off `gcloud beta services identity create`).
  pubsub_service_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
  gcs_service_agent    = "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}"

  bucket_location    = coalesce(var.bucket_location, var.region)
  firestore_location = coalesce(var.firestore_location, var.region)
  firestore_database = coalesce(var.firestore_database_id, "${var.name_prefix}-db")

  # ---- naming (the same rule on every cloud) -------------------------------------------------
  # `<prefix>-<consumer>` for subscriptions and functions, `<prefix>-<consumer>-dlq` for dead
  # letters. Catalog names use '_' (orders_api); Cloud Functions/Run names allow only '-'.
  consumer_names        = { for c in keys(var.consumers) : c => "${var.name_prefix}-${replace(c, "_", "-")}" }
  endpoint_names        = { for e in keys(var.http_endpoints) : e => "${var.name_prefix}-${replace(e, "_", "-")}" }
  schedule_names        = { for s in keys(var.schedules) : s => "${var.name_prefix}-${replace(s, "_", "-")}" }
  dead_letter_topics    = { for c, n in local.consumer_names : c => "${n}-dlq" }
  dead_letter_subs      = { for c, n in local.consumer_names : c => "${n}-dlq-sub" }
  events_topic_prefix   = "${var.name_prefix}-events"
  uploads_topic_name    = "${var.name_prefix}-uploads"
  push_invoker_sa_id    = "${var.name_prefix}-push"
  build_sa_id           = "${var.name_prefix}-build"
  webhook_secret_id     = "${var.name_prefix}-webhook-secret"
  stripe_secret_id      = "${var.name_prefix}-stripe-api-key"
  bucket_name_prefix    = "${var.project_id}-${var.name_prefix}"
  all_function_names    = merge(local.consumer_names, local.endpoint_names, local.schedule_names)
  overlapping_functions = setintersection(toset(keys(var.consumers)), toset(keys(var.http_endpoints)))
  overlapping_schedules = setintersection(toset(keys(var.schedules)), setunion(keys(var.consumers), keys(var.http_endpoints)))
  scheduler_sa_id       = "${var.name_prefix}-scheduler"

  # Service account ids are limited to 30 characters: long names are cut and made unique with a
  # short hash of the full name.
  function_sa_ids = {
    for k, n in local.all_function_names : k => (
      length(n) <= 30 ? n : "${replace(substr(n, 0, 23), "/-+$/", "")}-${substr(md5(n), 0, 6)}"
    )
  }

  # ---- routing ---------------------------------------------------------------------------------
  unknown_subscriptions = flatten([
    for c, cfg in var.consumers : [for e in cfg.subscribes : "${c} -> ${e}" if !contains(keys(var.events), e)]
  ])
  unknown_schedule_emits = flatten([
    for s, cfg in var.schedules : [for e in cfg.emits : "${s} -> ${e}" if !contains(keys(var.events), e)]
  ])

  # CloudEvents types a consumer receives from the application events topic.
  consumer_event_types = {
    for c, cfg in var.consumers : c => [
      for e in cfg.subscribes : var.events[e].type if e != var.storage_event && contains(keys(var.events), e)
    ]
  }

  # Order consumers get ordered delivery: their events carry an ordering key (order id).
  consumer_ordered = {
    for c, cfg in var.consumers : c => var.enable_message_ordering && anytrue([
      for e in cfg.subscribes : try(var.events[e].ordering_key, null) != null if e != var.storage_event
    ])
  }

  # One push subscription per (consumer, producer topic it needs) and one for the uploads topic.
  # Event subscriptions are named `<prefix>-<consumer>-from-<producer>`; the uploads one
  # `<prefix>-<consumer>-uploads`, or `<prefix>-<consumer>` when the consumer takes nothing else.
  subscriptions = merge(
    merge([
      for c, types in local.consumer_event_types : {
        for p, ptypes in local.producer_event_types : "${c}/events/${p}" => {
          consumer   = c
          source     = "events"
          topic_key  = "events/${p}"
          topic_name = local.producer_topics[p]
          name       = "${local.consumer_names[c]}-from-${replace(p, "_", "-")}"
          filter     = join(" OR ", [for t in types : "attributes.ce-type=\"${t}\"" if contains(ptypes, t)])
          ordered    = local.consumer_ordered[c]
        } if length(setintersection(types, ptypes)) > 0
      }
    ]...),
    {
      for c, cfg in var.consumers : "${c}/uploads" => {
        consumer   = c
        source     = "uploads"
        topic_key  = "uploads"
        topic_name = local.uploads_topic_name
        name       = length(local.consumer_event_types[c]) > 0 ? "${local.consumer_names[c]}-uploads" : local.consumer_names[c]
        filter     = "attributes.eventType=\"OBJECT_FINALIZE\""
        ordered    = false
      } if contains(cfg.subscribes, var.storage_event)
    },
  )

  # Subscribed event types that no producer emits: their consumer would never receive them.
  unproduced_subscriptions = flatten([
    for c, types in local.consumer_event_types : [
      for t in types : "${c} <- ${t}" if !contains(flatten(values(local.producer_event_types)), t)
    ]
  ])

  consumer_subscriptions = {
    for c in keys(var.consumers) : c => [for k, s in local.subscriptions : s.name if s.consumer == c]
  }

  # ---- packages --------------------------------------------------------------------------------
  used_groups = toset(concat(
    [for c in values(var.consumers) : c.group],
    [for e in values(var.http_endpoints) : e.group],
    [for s in values(var.schedules) : s.group],
  ))
  missing_groups = setsubtract(local.used_groups, toset(keys(var.package_paths)))

  # ---- environment (functions/README.md, "Deployment contract") --------------------------------
  common_env = {
    EVENTSUITE_GCP_PROJECT        = var.project_id
    EVENTSUITE_UPLOADS_BUCKET     = local.bucket_names.uploads
    EVENTSUITE_THUMBNAILS_BUCKET  = local.bucket_names.thumbnails
    EVENTSUITE_CLAIMS_BUCKET      = local.bucket_names.claims
    EVENTSUITE_FIRESTORE_DATABASE = local.firestore_database
    EVENTSUITE_MAIL_FROM          = var.mail_from
    EVENTSUITE_MAILER             = "smtp"
    EVENTSUITE_SMTP_HOST          = var.smtp.host
    EVENTSUITE_SMTP_PORT          = tostring(var.smtp.port)
    EVENTSUITE_SMTP_USERNAME      = var.smtp.username
    EVENTSUITE_SMTP_STARTTLS      = var.smtp.starttls ? "true" : "false"
    EVENTSUITE_PAYMENT_PROVIDER   = var.payment_provider
    # functions-framework: put the execution id on every log line.
    LOG_EXECUTION_ID = "true"
  }

  bucket_names = {
    uploads    = "${local.bucket_name_prefix}-uploads"
    thumbnails = "${local.bucket_name_prefix}-thumbnails"
    claims     = "${local.bucket_name_prefix}-claims"
    source     = "${local.bucket_name_prefix}-source"
  }

  # Every function of the suite: its own service account, and the grants of the ports its
  # handlers declare (grants.tf, iam.tf).
  functions = merge(
    { for c, cfg in var.consumers : c => { kind = "consumer", group = cfg.group } },
    { for e, cfg in var.http_endpoints : e => { kind = "http", group = cfg.group } },
    { for s, cfg in var.schedules : s => { kind = "schedule", group = cfg.group } },
  )

}

# Catalog contract checks: fail the plan with a readable message instead of a late API error.
resource "terraform_data" "catalog_contract" {
  input = {
    consumers      = keys(var.consumers)
    http_endpoints = keys(var.http_endpoints)
    schedules      = keys(var.schedules)
  }

  lifecycle {
    precondition {
      condition     = length(local.functions_without_needs) == 0 && length(local.needs_without_function) == 0
      error_message = "function_needs (shared/catalog/needs.json) must list exactly the catalog's functions: missing ${jsonencode(local.functions_without_needs)}, unknown ${jsonencode(local.needs_without_function)}."
    }
    precondition {
      condition     = length(local.unproduced_subscriptions) == 0
      error_message = "Consumers subscribe to events no function emits (needs.json emits, each producer has its own topic): ${join(", ", local.unproduced_subscriptions)}."
    }
    precondition {
      condition     = length(local.unknown_subscriptions) == 0
      error_message = "Consumers subscribe to events missing from the catalog: ${join(", ", local.unknown_subscriptions)}."
    }
    precondition {
      condition     = length(local.missing_groups) == 0
      error_message = "package_paths has no zip for group(s): ${join(", ", tolist(local.missing_groups))}."
    }
    precondition {
      condition     = length(local.overlapping_functions) == 0
      error_message = "Consumer and HTTP endpoint names must differ: ${join(", ", tolist(local.overlapping_functions))}."
    }
    precondition {
      condition     = length(local.overlapping_schedules) == 0
      error_message = "Schedule names must differ from consumer and HTTP endpoint names: ${join(", ", tolist(local.overlapping_schedules))}."
    }
    precondition {
      condition     = length(local.unknown_schedule_emits) == 0
      error_message = "Schedules emit events missing from the catalog: ${join(", ", local.unknown_schedule_emits)}."
    }
    precondition {
      condition     = alltrue([for s in values(local.subscriptions) : length(s.filter) <= 256])
      error_message = "A Pub/Sub subscription filter is longer than 256 bytes (a consumer subscribes to too many event types); split the consumer or shorten the type names."
    }
    precondition {
      condition     = alltrue([for n in values(local.all_function_names) : length(n) <= 49])
      error_message = "Function names (<prefix>-<name>) must stay within 49 characters (Cloud Run service name limit); shorten name_prefix."
    }
    precondition {
      condition     = alltrue([for c in keys(var.consumers) : length(local.consumer_subscriptions[c]) > 0])
      error_message = "Every consumer must end up with at least one subscription."
    }
  }
}

# ---------------------------------------------------------------------------------------------
# Project services (never disabled on destroy: other workloads may share the project)
# ---------------------------------------------------------------------------------------------

locals {
  # No eventarc.googleapis.com: consumers are reached by Pub/Sub push subscriptions that this
  # module owns (filters, dead letters, retry policy), not by Eventarc triggers.
  project_services = toset(concat([
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
    ],
    # Cloud Scheduler runs the catalog schedules (schedules.tf); only needed when there are any.
    length(var.schedules) > 0 ? ["cloudscheduler.googleapis.com"] : [],
  ))
}

resource "google_project_service" "this" {
  for_each = var.enable_project_services ? local.project_services : toset([])

  project                    = var.project_id
  service                    = each.value
  disable_on_destroy         = false
  disable_dependent_services = false
}

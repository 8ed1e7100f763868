# ---------------------------------------------------------------------------------------------
# Where and what: project, region, naming
# ---------------------------------------------------------------------------------------------

variable "project_id" {
  description = "Google Cloud project id that hosts the suite."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project id: 6-30 characters, lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen."
  }
}

variable "region" {
  description = "Region for the functions, the Pub/Sub message storage policy (if enabled) and, by default, the buckets and the Firestore database."
  type        = string

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must be a Google Cloud region such as europe-west1 or us-central1."
  }
}

variable "name_prefix" {
  description = "Prefix of every resource name: `<prefix>-<consumer>` for subscriptions and functions, `<prefix>-<consumer>-dlq` for dead-letter topics. Keep it short: service account ids are limited to 30 characters."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,18}[a-z0-9]$", var.name_prefix)) && !strcontains(var.name_prefix, "--")
    error_message = "name_prefix must be 2-20 characters: lowercase letters, digits and single hyphens, starting with a letter and ending with a letter or digit."
  }
}

variable "labels" {
  description = "Extra labels put on every resource that supports labels."
  type        = map(string)
  default     = {}

  validation {
    condition = alltrue([
      for k, v in var.labels : can(regex("^[a-z][a-z0-9_-]{0,62}$", k)) && can(regex("^[a-z0-9_-]{0,63}$", v))
    ])
    error_message = "Label keys must start with a lowercase letter; keys and values may hold lowercase letters, digits, '_' and '-' (at most 63 characters)."
  }
}

variable "enable_project_services" {
  description = "Enable the Google APIs the suite needs (google_project_service, never disabled on destroy). Set false when a platform team manages APIs."
  type        = bool
  default     = true
}

# ---------------------------------------------------------------------------------------------
# The event catalog (shared/catalog/catalog.json), projected by the root module
# ---------------------------------------------------------------------------------------------

variable "events" {
  description = "Catalog events: name -> CloudEvents `type` and the data field used as Pub/Sub ordering key (null when the event is unordered)."
  type = map(object({
    type         = string
    ordering_key = optional(string)
  }))

  validation {
    condition     = length(var.events) > 0 && alltrue([for e in values(var.events) : can(regex("^[A-Za-z0-9._-]+$", e.type))])
    error_message = "events must not be empty and every type must be a reverse-DNS CloudEvents type (letters, digits, '.', '_' and '-')."
  }
}

variable "consumers" {
  description = "Catalog consumers: name -> group (code package), subscribed event names and per-consumer settings. One subscription (or two), a dead-letter topic with its subscription, a function, a service account and two alert policies are created per entry."
  type = map(object({
    group                 = string
    subscribes            = list(string)
    max_delivery_attempts = number
    timeout_seconds       = number
    memory_mb             = number
    description           = optional(string, "")
  }))

  validation {
    condition     = alltrue([for name, c in var.consumers : can(regex("^[a-z][a-z0-9_]{1,30}$", name)) && can(regex("^[a-z][a-z0-9_]{0,30}$", c.group))])
    error_message = "Consumer names and groups must be lowercase identifiers (letters, digits, '_'; starting with a letter; consumer names 2-31 characters)."
  }

  validation {
    condition     = alltrue([for c in values(var.consumers) : length(c.subscribes) > 0])
    error_message = "Every consumer must subscribe to at least one event."
  }

  validation {
    condition     = alltrue([for c in values(var.consumers) : c.max_delivery_attempts >= 1 && c.max_delivery_attempts == floor(c.max_delivery_attempts)])
    error_message = "max_delivery_attempts must be a positive integer (it is clamped to Pub/Sub's 5..100 range)."
  }

  validation {
    condition     = alltrue([for c in values(var.consumers) : c.timeout_seconds >= 1 && c.timeout_seconds <= 540 && c.timeout_seconds == floor(c.timeout_seconds)])
    error_message = "timeout_seconds must be an integer in 1..540 (the gen2 event-function limit, and within Pub/Sub's 600 s push acknowledgement deadline)."
  }

  validation {
    condition     = alltrue([for c in values(var.consumers) : c.memory_mb >= 128 && c.memory_mb <= 32768 && c.memory_mb == floor(c.memory_mb)])
    error_message = "memory_mb must be an integer number of MiB between 128 and 32768."
  }
}

variable "http_endpoints" {
  description = "Catalog HTTP endpoints: name -> group, method, path and settings. One gen2 HTTP function with its own service account per entry."
  type = map(object({
    group           = string
    method          = string
    path            = string
    timeout_seconds = number
    memory_mb       = number
    description     = optional(string, "")
  }))
  default = {}

  validation {
    condition     = alltrue([for name, e in var.http_endpoints : can(regex("^[a-z][a-z0-9_]{1,30}$", name)) && can(regex("^[a-z][a-z0-9_]{0,30}$", e.group))])
    error_message = "HTTP endpoint names and groups must be lowercase identifiers (letters, digits, '_'; starting with a letter)."
  }

  validation {
    condition     = alltrue([for e in values(var.http_endpoints) : e.timeout_seconds >= 1 && e.timeout_seconds <= 3600 && e.memory_mb >= 128 && e.memory_mb <= 32768])
    error_message = "HTTP endpoint timeout_seconds must be in 1..3600 and memory_mb in 128..32768."
  }
}

variable "schedules" {
  description = "Catalog schedules: name -> group (code package), period and settings. Per entry: a gen2 HTTP function (entry point `schedule_entry_point`, `EVENTSUITE_SCHEDULE`) with its own service account and the grants of its group, a Cloud Scheduler job that POSTs to it every `every_minutes` with an OIDC token of `<prefix>-scheduler`, and an alert policy on its failed or missing runs."
  type = map(object({
    group           = string
    every_minutes   = number
    timeout_seconds = number
    memory_mb       = number
    emits           = optional(list(string), [])
    description     = optional(string, "")
  }))
  default = {}

  validation {
    condition     = alltrue([for name, s in var.schedules : can(regex("^[a-z][a-z0-9_]{1,30}$", name)) && can(regex("^[a-z][a-z0-9_]{0,30}$", s.group))])
    error_message = "Schedule names and groups must be lowercase identifiers (letters, digits, '_'; starting with a letter; schedule names 2-31 characters)."
  }

  validation {
    # A cron step must divide its field's range to keep runs evenly spaced by the step:
    # */N on the minutes below an hour, 0 */H on the hours, 0 0 once a day.
    condition = alltrue([
      for s in values(var.schedules) : s.every_minutes == floor(s.every_minutes) && (
        (s.every_minutes >= 1 && s.every_minutes < 60 && 60 % s.every_minutes == 0) ||
        (s.every_minutes >= 60 && s.every_minutes <= 1440 && 1440 % s.every_minutes == 0 && s.every_minutes % 60 == 0)
      )
    ])
    error_message = "every_minutes must divide an hour (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30) or be whole hours dividing a day (60, 120, 180, 240, 360, 480, 720, 1440), so that the cron schedule runs evenly."
  }

  validation {
    condition     = alltrue([for s in values(var.schedules) : s.timeout_seconds >= 1 && s.timeout_seconds <= 1770 && s.timeout_seconds == floor(s.timeout_seconds)])
    error_message = "Schedule timeout_seconds must be an integer in 1..1770 (Cloud Scheduler waits at most 1800 s for an HTTP target; the job's deadline is the timeout plus 30 s)."
  }

  validation {
    condition     = alltrue([for s in values(var.schedules) : s.memory_mb >= 128 && s.memory_mb <= 32768 && s.memory_mb == floor(s.memory_mb)])
    error_message = "Schedule memory_mb must be an integer number of MiB between 128 and 32768."
  }
}

variable "storage" {
  description = "Catalog storage prefixes. uploads_prefix filters the bucket notification; the other two are passed through for the code."
  type = object({
    uploads_prefix    = string
    thumbnails_prefix = optional(string, "thumbnails/")
    claims_prefix     = optional(string, "claims/")
  })

  validation {
    condition     = length(var.storage.uploads_prefix) > 0 && endswith(var.storage.uploads_prefix, "/")
    error_message = "storage.uploads_prefix must be a non-empty prefix ending in '/'."
  }
}

variable "function_needs" {
  description = "shared/catalog/needs.json: per consumer, HTTP endpoint and schedule, the ports its handlers declare and the events it emits. Each service account's grants are derived from it (grants.tf): a port nobody declares is granted to nobody."
  type = object({
    consumers      = map(object({ ports = list(string), emits = list(string) }))
    http_endpoints = optional(map(object({ ports = list(string), emits = list(string) })), {})
    schedules      = optional(map(object({ ports = list(string), emits = list(string) })), {})
  })
  nullable = false

  validation {
    condition = alltrue(flatten([
      for group in [var.function_needs.consumers, var.function_needs.http_endpoints, var.function_needs.schedules] : [
        for n in values(group) : [
          for p in n.ports : contains(["objects", "index", "idempotency", "orders", "publisher", "payments", "mailer", "dead_letters", "webhook_secrets"], p)
        ]
      ]
    ]))
    error_message = "function_needs declares a port this module cannot grant (known: objects, index, idempotency, orders, publisher, payments, mailer, dead_letters, webhook_secrets)."
  }
}

variable "storage_event" {
  description = "Name of the catalog event that is produced by the uploads bucket (a GCS notification), not by application code. Consumers subscribed to it get a push subscription on the uploads topic instead of a ce-type filter on the events topic."
  type        = string
  default     = "ImageUploaded"
}

# ---------------------------------------------------------------------------------------------
# Code packages and runtime
# ---------------------------------------------------------------------------------------------

variable "package_paths" {
  description = "Catalog group -> local path of the reproducible zip for that group (main.py and requirements.txt at the zip root). The object name includes the file's MD5, so a code change redeploys and an unchanged zip does not."
  type        = map(string)

  validation {
    condition     = alltrue([for p in values(var.package_paths) : endswith(p, ".zip")])
    error_message = "Every package path must point to a .zip file."
  }
}

variable "runtime" {
  description = "Cloud Functions gen2 runtime."
  type        = string
  default     = "python312"

  validation {
    condition     = can(regex("^python3[0-9]+$", var.runtime))
    error_message = "runtime must be a Python runtime id such as python312."
  }
}

variable "consumer_entry_point" {
  description = "Entry point of the event consumers (a functions-framework @cloud_event function)."
  type        = string
  default     = "handle_event"
}

variable "http_entry_point" {
  description = "Entry point of the HTTP endpoints (a functions-framework @http function)."
  type        = string
  default     = "handle_http"
}

variable "schedule_entry_point" {
  description = "Entry point of the schedule functions (a functions-framework @http function that runs the catalog schedule named by EVENTSUITE_SCHEDULE)."
  type        = string
  default     = "handle_schedule"
}

variable "schedule_ingress_settings" {
  description = "Ingress of the schedule functions. ALLOW_INTERNAL_ONLY works because Cloud Scheduler in the same project counts as internal traffic."
  type        = string
  default     = "ALLOW_INTERNAL_ONLY"

  validation {
    condition     = contains(["ALLOW_ALL", "ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB"], var.schedule_ingress_settings)
    error_message = "schedule_ingress_settings must be ALLOW_ALL, ALLOW_INTERNAL_ONLY or ALLOW_INTERNAL_AND_GCLB."
  }
}

variable "schedule_retry_count" {
  description = "Cloud Scheduler retries of a failed run (the function answered non-2xx or timed out), with 10 s..80 s backoff, before waiting for the next tick. Re-running a schedule is safe: the order reconciler re-publishes with derived event ids."
  type        = number
  default     = 3

  validation {
    condition     = var.schedule_retry_count >= 0 && var.schedule_retry_count <= 5 && var.schedule_retry_count == floor(var.schedule_retry_count)
    error_message = "schedule_retry_count must be an integer between 0 and 5 (Cloud Scheduler's limit)."
  }
}

variable "schedules_paused" {
  description = "Create the Cloud Scheduler jobs paused (e.g. in a copy of the stack that must not act on shared data)."
  type        = bool
  default     = false
}

variable "max_instance_count" {
  description = "Upper bound of instances per function (protects Firestore, the payment gateway and the bill)."
  type        = number
  default     = 10

  validation {
    condition     = var.max_instance_count >= 1 && var.max_instance_count <= 1000
    error_message = "max_instance_count must be between 1 and 1000."
  }
}

variable "min_instance_count" {
  description = "Warm instances per function (0 = scale to zero)."
  type        = number
  default     = 0

  validation {
    condition     = var.min_instance_count >= 0 && var.min_instance_count <= 100
    error_message = "min_instance_count must be between 0 and 100."
  }
}

variable "build_service_account_email" {
  description = "Existing service account Cloud Build uses to build the functions. Null creates `<prefix>-build` with only what a build needs: logging.logWriter, storage.objectViewer conditioned on the gcf-v2-sources-<number>-<region> and suite source buckets, artifactregistry.writer on the suite's `<prefix>-functions` repository. A given account gets no grants from this module."
  type        = string
  default     = null
}

# ---------------------------------------------------------------------------------------------
# Pub/Sub delivery
# ---------------------------------------------------------------------------------------------

variable "retry_minimum_backoff" {
  description = "Pub/Sub push retry policy: minimum delay between deliveries of a nacked message (duration in seconds, e.g. \"10s\")."
  type        = string
  default     = "10s"

  validation {
    condition     = can(regex("^[0-9]+(\\.[0-9]+)?s$", var.retry_minimum_backoff)) && try(tonumber(trimsuffix(var.retry_minimum_backoff, "s")) <= 600, false)
    error_message = "retry_minimum_backoff must be a duration like \"10s\" of at most 600s."
  }
}

variable "retry_maximum_backoff" {
  description = "Pub/Sub push retry policy: maximum delay between deliveries of a nacked message (duration in seconds, e.g. \"600s\")."
  type        = string
  default     = "600s"

  validation {
    condition     = can(regex("^[0-9]+(\\.[0-9]+)?s$", var.retry_maximum_backoff)) && try(tonumber(trimsuffix(var.retry_maximum_backoff, "s")) <= 600, false)
    error_message = "retry_maximum_backoff must be a duration like \"600s\" of at most 600s."
  }
}

variable "ack_deadline_margin_seconds" {
  description = "Seconds added to a consumer's function timeout to get its push acknowledgement deadline (capped at Pub/Sub's 600 s), so Pub/Sub never redelivers while the function is still running."
  type        = number
  default     = 30

  validation {
    condition     = var.ack_deadline_margin_seconds >= 0 && var.ack_deadline_margin_seconds <= 300
    error_message = "ack_deadline_margin_seconds must be between 0 and 300."
  }
}

variable "subscription_message_retention" {
  description = "How long a consumer subscription keeps unacknowledged messages (at most 7 days)."
  type        = string
  default     = "604800s"

  validation {
    condition     = try(tonumber(trimsuffix(var.subscription_message_retention, "s")) >= 600 && tonumber(trimsuffix(var.subscription_message_retention, "s")) <= 604800, false) && can(regex("^[0-9]+s$", var.subscription_message_retention))
    error_message = "subscription_message_retention must be between \"600s\" and \"604800s\"."
  }
}

variable "dead_letter_topic_retention" {
  description = "Message retention on each dead-letter topic (at most 31 days), so dead letters can be replayed with seek even after they were pulled."
  type        = string
  default     = "2678400s"

  validation {
    condition     = try(tonumber(trimsuffix(var.dead_letter_topic_retention, "s")) >= 600 && tonumber(trimsuffix(var.dead_letter_topic_retention, "s")) <= 2678400, false) && can(regex("^[0-9]+s$", var.dead_letter_topic_retention))
    error_message = "dead_letter_topic_retention must be between \"600s\" and \"2678400s\" (31 days)."
  }
}

variable "events_topic_retention" {
  description = "Optional message retention on the events topic (e.g. \"604800s\") so a new or reset subscription can seek back in time. Null keeps Pub/Sub's default (no topic retention)."
  type        = string
  default     = null

  validation {
    condition     = var.events_topic_retention == null || can(regex("^[0-9]+s$", coalesce(var.events_topic_retention, "x")))
    error_message = "events_topic_retention must be null or a duration in seconds such as \"604800s\"."
  }
}

variable "enable_message_ordering" {
  description = "Enable Pub/Sub message ordering on the subscriptions of consumers that receive events with an ordering key (order events, keyed by order id). Changing it recreates those subscriptions."
  type        = bool
  default     = true
}

variable "pubsub_allowed_persistence_regions" {
  description = "Optional Pub/Sub message storage policy (data residency) for every topic. Empty = Google's default."
  type        = list(string)
  default     = []
}

variable "kms_key_name" {
  description = "Optional Cloud KMS key (projects/.../cryptoKeys/...) for CMEK on the Pub/Sub topics and the buckets. The key must be in the bucket location; the Pub/Sub and Cloud Storage service agents are granted encrypter/decrypter on it. Null = Google-managed keys."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_name == null || can(regex("^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$", coalesce(var.kms_key_name, "x")))
    error_message = "kms_key_name must be null or projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<k>."
  }
}

# ---------------------------------------------------------------------------------------------
# Buckets
# ---------------------------------------------------------------------------------------------

variable "bucket_location" {
  description = "Location of the buckets. Null = var.region (a regional bucket next to the functions)."
  type        = string
  default     = null
}

variable "force_destroy_buckets" {
  description = "Allow `terraform destroy` to delete non-empty buckets. Keep false outside throw-away environments."
  type        = bool
  default     = false
}

variable "claims_retention_days" {
  description = "Claim-checked payloads are deleted after this many days (longer than the longest redelivery and dead-letter replay window)."
  type        = number
  default     = 14

  validation {
    condition     = var.claims_retention_days >= 1 && var.claims_retention_days <= 365
    error_message = "claims_retention_days must be between 1 and 365."
  }
}

variable "noncurrent_version_retention_days" {
  description = "Days a noncurrent (overwritten or deleted) object version is kept in the versioned buckets (uploads, source)."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_retention_days >= 1
    error_message = "noncurrent_version_retention_days must be at least 1."
  }
}

# ---------------------------------------------------------------------------------------------
# Firestore
# ---------------------------------------------------------------------------------------------

variable "firestore_database_id" {
  description = "Firestore (native mode) database id. Null = \"<prefix>-db\"."
  type        = string
  default     = null

  validation {
    condition     = var.firestore_database_id == null || can(regex("^([a-z][a-z0-9-]{2,61}[a-z0-9]|\\(default\\))$", coalesce(var.firestore_database_id, "x")))
    error_message = "firestore_database_id must be 4-63 characters (lowercase letters, digits, '-', starting with a letter) or \"(default)\"."
  }
}

variable "firestore_location" {
  description = "Firestore location (a region such as europe-west1 or a multi-region such as eur3/nam5). Null = var.region."
  type        = string
  default     = null
}

variable "firestore_delete_protection" {
  description = "Enable Firestore delete protection (the database cannot be deleted until this is turned off)."
  type        = bool
  default     = true
}

variable "firestore_point_in_time_recovery" {
  description = "Enable Firestore point-in-time recovery (7 days of versions)."
  type        = bool
  default     = true
}

# ---------------------------------------------------------------------------------------------
# Mail, secrets, HTTP exposure
# ---------------------------------------------------------------------------------------------

variable "mail_from" {
  description = "Sender address of customer emails (EVENTSUITE_MAIL_FROM)."
  type        = string

  validation {
    condition     = can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.mail_from))
    error_message = "mail_from must be an email address."
  }
}

variable "smtp" {
  description = "SMTP relay settings passed as EVENTSUITE_SMTP_* to every function. The password is not here: see smtp_password_secret_id."
  type = object({
    host     = optional(string, "")
    port     = optional(number, 587)
    username = optional(string, "")
    starttls = optional(bool, true)
  })
  default  = {}
  nullable = false # null means the default: no relay (EVENTSUITE_SMTP_HOST empty)

  validation {
    condition     = var.smtp.port >= 1 && var.smtp.port <= 65535
    error_message = "smtp.port must be a TCP port."
  }
}

variable "smtp_password_secret_id" {
  description = "Optional id of an existing Secret Manager secret (in this project) with the SMTP password, exposed as EVENTSUITE_SMTP_PASSWORD only to the functions declaring the mailer port in function_needs (their service accounts get secretAccessor on it)."
  type        = string
  default     = null
}

variable "thumbnail_writers" {
  description = "Functions whose `objects` port writes renditions into the thumbnails bucket (objectUser there). The other bucket grants follow from the catalog: consumers of storage_event read uploads, publishers write claims, every function reads claims."
  type        = list(string)
  default     = ["thumbnailer"]
  nullable    = false
}

variable "payment_provider" {
  description = "EVENTSUITE_PAYMENT_PROVIDER of every function. `stripe`: the payments function charges through Stripe, with the API key from the Secret Manager secret this module creates empty (output stripe_api_key_secret_id), exposed as EVENTSUITE_STRIPE_API_KEY only to the functions declaring the payments port. `simulated`: no money moves; for demos and tests only."
  type        = string
  nullable    = false

  validation {
    condition     = contains(["stripe", "simulated"], var.payment_provider)
    error_message = "payment_provider must be \"stripe\" or \"simulated\"."
  }
}

variable "stripe_api_key_secret_version" {
  description = "Secret version exposed as EVENTSUITE_STRIPE_API_KEY (\"latest\" or a version number) when payment_provider = stripe. The secret is created empty: add a version (`gcloud secrets versions add`) before the payments function is first deployed."
  type        = string
  default     = "latest"
  nullable    = false

  validation {
    condition     = var.stripe_api_key_secret_version == "latest" || can(regex("^[0-9]+$", var.stripe_api_key_secret_version))
    error_message = "stripe_api_key_secret_version must be \"latest\" or a version number."
  }
}

variable "webhook_secret_version" {
  description = "Secret version exposed as EVENTSUITE_WEBHOOK_SECRET (\"latest\" or a version number). The secret is created empty: add a version before the webhook function is first deployed (see README)."
  type        = string
  default     = "latest"

  validation {
    condition     = var.webhook_secret_version == "latest" || can(regex("^[0-9]+$", var.webhook_secret_version))
    error_message = "webhook_secret_version must be \"latest\" or a version number."
  }
}

variable "public_http_endpoints" {
  description = "HTTP endpoints anyone may invoke (allUsers run.invoker on that endpoint only): for callers that cannot present a Google identity token, such as a payment provider's webhook. Each must authenticate its callers itself, so it must declare the webhook_secrets port (HMAC signature) in function_needs. Every other endpoint is invoked only by http_invoker_members."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for e in var.public_http_endpoints : can(regex("^[a-z][a-z0-9_-]{0,31}$", e))])
    error_message = "public_http_endpoints entries must be HTTP endpoint names."
  }
}

variable "http_invoker_members" {
  description = "IAM members (e.g. \"serviceAccount:gateway@...\") allowed to invoke every HTTP endpoint (the front door: an API gateway or a load balancer with IAP)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for m in var.http_invoker_members : can(regex("^(serviceAccount|user|group|domain|principal|principalSet):", m))])
    error_message = "http_invoker_members entries must be IAM member strings such as serviceAccount:name@project.iam.gserviceaccount.com (allUsers is controlled per endpoint by public_http_endpoints)."
  }
}

variable "http_ingress_settings" {
  description = "Ingress of the HTTP endpoints. ALLOW_ALL (authentication still enforced by IAM except on public_http_endpoints), or ALLOW_INTERNAL_AND_GCLB behind an external load balancer."
  type        = string
  default     = "ALLOW_ALL"

  validation {
    condition     = contains(["ALLOW_ALL", "ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB"], var.http_ingress_settings)
    error_message = "http_ingress_settings must be ALLOW_ALL, ALLOW_INTERNAL_ONLY or ALLOW_INTERNAL_AND_GCLB."
  }
}

variable "consumer_ingress_settings" {
  description = "Ingress of the event consumers. ALLOW_INTERNAL_ONLY works because Pub/Sub push from the same project to the run.app URL counts as internal traffic."
  type        = string
  default     = "ALLOW_INTERNAL_ONLY"

  validation {
    condition     = contains(["ALLOW_ALL", "ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB"], var.consumer_ingress_settings)
    error_message = "consumer_ingress_settings must be ALLOW_ALL, ALLOW_INTERNAL_ONLY or ALLOW_INTERNAL_AND_GCLB."
  }
}

# ---------------------------------------------------------------------------------------------
# Alerting
# ---------------------------------------------------------------------------------------------

variable "alerts_enabled" {
  description = "Create the per-consumer alert policies enabled (true) or disabled (false)."
  type        = bool
  default     = true
}

variable "alert_oldest_unacked_age_seconds" {
  description = "Alert when the oldest unacknowledged message of a consumer subscription is older than this many seconds."
  type        = number
  default     = 600

  validation {
    condition     = var.alert_oldest_unacked_age_seconds > 0
    error_message = "alert_oldest_unacked_age_seconds must be positive."
  }
}

variable "alert_duration" {
  description = "How long the backlog-age condition must hold before the alert fires (e.g. \"300s\")."
  type        = string
  default     = "300s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.alert_duration))
    error_message = "alert_duration must be a duration in seconds such as \"300s\"."
  }
}

variable "alert_email" {
  description = "Optional email address for a notification channel attached to every alert policy."
  type        = string
  default     = null

  validation {
    condition     = var.alert_email == null || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", coalesce(var.alert_email, "x")))
    error_message = "alert_email must be null or an email address."
  }
}

variable "alert_notification_channels" {
  description = "Existing notification channel ids (projects/<p>/notificationChannels/<id>) attached to every alert policy."
  type        = list(string)
  default     = []
}

# ---------------------------------------------------------------------------------------------
# Audit
# ---------------------------------------------------------------------------------------------

variable "enable_storage_data_access_logs" {
  description = "Enable Cloud Audit Logs Data Access logs (DATA_READ, DATA_WRITE) for Cloud Storage in the project, so object reads and writes are audited. The resource is authoritative for that service's project-level audit config; set false when an organization or another stack manages it (then make sure it is on)."
  type        = bool
  default     = true
  nullable    = false
}

variable "audit_log_retention_days" {
  description = "Days the suite's audit log bucket keeps its Cloud Audit Logs (admin activity and data access of its buckets, database and service accounts): 90-3650."
  type        = number
  default     = 365
  nullable    = false

  validation {
    condition     = var.audit_log_retention_days >= 90 && var.audit_log_retention_days <= 3650 && floor(var.audit_log_retention_days) == var.audit_log_retention_days
    error_message = "audit_log_retention_days must be an integer between 90 and 3650."
  }
}

# ---------------------------------------------------------------------------
# Naming and placement
# ---------------------------------------------------------------------------

variable "name_prefix" {
  description = "Short prefix for every resource name. Lowercase letters and digits only, starting with a letter, 2-12 characters, so that it also fits storage account and Key Vault naming rules."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,11}$", var.name_prefix))
    error_message = "name_prefix must be 2-12 characters of lowercase letters and digits, starting with a letter (storage account names allow no hyphens or upper case)."
  }
}

variable "name_suffix" {
  description = "Optional 1-6 lowercase alphanumeric suffix for globally unique names (storage account, Key Vault, Event Grid topic, function app). When null, a stable suffix is derived from the subscription id, name_prefix and location."
  type        = string
  default     = null

  validation {
    condition     = var.name_suffix == null || can(regex("^[a-z0-9]{1,6}$", var.name_suffix))
    error_message = "name_suffix must be 1-6 lowercase letters or digits."
  }
}

variable "location" {
  description = "Azure region in its normalized form, e.g. \"westeurope\" or \"swedencentral\" (must offer the Flex Consumption plan)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9]+$", var.location))
    error_message = "location must be the normalized region name (lowercase, no spaces), e.g. \"westeurope\"."
  }
}

variable "create_resource_group" {
  description = "Create the resource group. Set to false to deploy into an existing group named by resource_group_name."
  type        = bool
  default     = true
}

variable "resource_group_name" {
  description = "Resource group name (created, or existing when create_resource_group is false). Defaults to \"<name_prefix>-rg\"."
  type        = string
  default     = null

  validation {
    condition     = var.resource_group_name == null || can(regex("^[-\\w\\._\\(\\)]{1,90}$", var.resource_group_name))
    error_message = "resource_group_name must be 1-90 characters of letters, digits, '-', '_', '.', '(' or ')'."
  }
}

variable "tags" {
  description = "Tags added to every taggable resource."
  type        = map(string)
  default     = {}
}

# ---------------------------------------------------------------------------
# Catalog (shared/catalog/catalog.json, passed in by the root module)
# ---------------------------------------------------------------------------

variable "events" {
  description = "Catalog events: name => { type = CloudEvents `type` }. Used to turn a consumer's subscribed event names into Event Grid included_event_types."
  type = map(object({
    type        = string
    description = optional(string, "")
  }))

  validation {
    condition     = length(var.events) > 0 && alltrue([for e in values(var.events) : length(trimspace(e.type)) > 0])
    error_message = "events must not be empty and every event needs a non-empty CloudEvents type."
  }
}

variable "consumers" {
  description = "Catalog consumers: name => settings. Each consumer gets a Storage queue `<name>-events` (+ `-poison`), an Event Grid subscription per source topic, role assignments and alerts."
  type = map(object({
    subscribes            = list(string)
    max_delivery_attempts = number
    timeout_seconds       = optional(number, 30)
    memory_mb             = optional(number, 256)
    batch_size            = optional(number, 10)
    description           = optional(string, "")
  }))

  validation {
    condition     = length(var.consumers) > 0
    error_message = "At least one consumer is required."
  }

  validation {
    # Queue names are `<consumer>-events-poison` (<= 63 chars, lowercase, no "--").
    condition = alltrue([
      for name in keys(var.consumers) :
      can(regex("^[a-z0-9]+(-[a-z0-9]+)*$", name)) && length(name) <= 40 && !strcontains(name, "--")
    ])
    error_message = "Consumer names must be lowercase letters, digits and single hyphens, at most 40 characters (they become Storage queue and Event Grid subscription names)."
  }

  validation {
    # Event Grid retry_policy.max_delivery_attempts accepts 1..30.
    condition = alltrue([
      for c in values(var.consumers) :
      c.max_delivery_attempts >= 1 && c.max_delivery_attempts <= 30 && floor(c.max_delivery_attempts) == c.max_delivery_attempts
    ])
    error_message = "max_delivery_attempts must be a whole number between 1 and 30 (the Event Grid limit)."
  }

  validation {
    condition     = alltrue([for c in values(var.consumers) : length(c.subscribes) > 0])
    error_message = "Every consumer must subscribe to at least one event."
  }
}

variable "http_endpoints" {
  description = "Catalog HTTP endpoints: name => { method, path }. The function code registers them; Terraform only reports their URLs."
  type = map(object({
    method      = string
    path        = string
    description = optional(string, "")
  }))
  default = {}

  validation {
    condition     = alltrue([for e in values(var.http_endpoints) : startswith(e.path, "/")])
    error_message = "Every http endpoint path must start with '/'."
  }
}

variable "schedules" {
  description = "Catalog schedules: name => settings. The code registers a timer-triggered function named after each (NCRONTAB every every_minutes), enabled only in its own app; Terraform adds an alert on its failed runs."
  type = map(object({
    every_minutes   = number
    group           = string
    emits           = optional(list(string), [])
    timeout_seconds = optional(number, 60)
    memory_mb       = optional(number, 256)
    description     = optional(string, "")
  }))
  default = {}

  validation {
    # The function name (and the request name the alert query matches).
    condition     = alltrue([for name in keys(var.schedules) : can(regex("^[A-Za-z][A-Za-z0-9_]{0,62}$", name))])
    error_message = "Schedule names must start with a letter and hold only letters, digits and underscores, at most 63 characters (they are Azure Functions function names)."
  }

  validation {
    # functions/azure/names.py timer_schedule: NCRONTAB */N restarts every hour (or day), so
    # only these intervals are even.
    condition = alltrue([
      for s in values(var.schedules) :
      contains([1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60, 120, 180, 240, 360, 480, 720, 1440], s.every_minutes)
    ])
    error_message = "every_minutes must divide 60 (1-30) or be whole hours dividing 24 (60, 120, 180, 240, 360, 480, 720, 1440): other intervals are not even NCRONTAB schedules."
  }
}

variable "function_needs" {
  description = "shared/catalog/needs.json: per consumer, HTTP endpoint and schedule, the ports its handlers declare and the events it emits. Each app identity's role assignments are derived from it (grants.tf): a port nobody declares is granted to nobody."
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

variable "function_apps" {
  description = "Optional grouping of the catalog functions into Flex Consumption apps: app key => function names (every function in exactly one app). Empty (default): one app per function, so every identity holds exactly its function's grants. An app's identity holds the union of its functions' grants."
  type        = map(list(string))
  default     = {}
  nullable    = false

  validation {
    condition     = alltrue([for k in keys(var.function_apps) : can(regex("^[a-z][a-z0-9_]{0,23}$", k))])
    error_message = "function_apps keys must be 1-24 characters of [a-z0-9_] starting with a letter (they name the app, its plan and its package container)."
  }
}

variable "thumbnail_writers" {
  description = "Functions whose `objects` port writes renditions into the thumbnails container (Storage Blob Data Contributor there). The other blob grants follow from the catalog: consumers of upload_event_name read uploads, publishers write claims, every function reads claims."
  type        = list(string)
  default     = ["thumbnailer"]
  nullable    = false
}

variable "orders_api_auth" {
  description = "Authentication of every HTTP endpoint that is not a signed webhook (the orders API). `entra` (default): App Service authentication validates an Entra ID bearer token issued for the API's app registration (client_id; audiences default to api://<client_id>; optionally only the listed client applications), answering 401 otherwise, in front of the function key the code requires. `function_key`: the function key alone, an explicit opt-in. Signed webhooks (the webhook_secrets port) are always excluded: their HMAC signature authenticates them."
  type = object({
    mode                        = string
    client_id                   = optional(string)
    tenant_id                   = optional(string)
    allowed_audiences           = optional(list(string))
    allowed_client_applications = optional(list(string))
  })
  default  = { mode = "entra" }
  nullable = false

  validation {
    condition     = contains(["entra", "function_key"], var.orders_api_auth.mode)
    error_message = "orders_api_auth.mode must be \"entra\" or \"function_key\"."
  }

  validation {
    condition     = var.orders_api_auth.mode != "entra" || can(regex("^[0-9a-fA-F-]{36}$", var.orders_api_auth.client_id))
    error_message = "orders_api_auth.mode = \"entra\" (the default) needs client_id, the application (client) id of the API's Entra ID app registration; or opt into mode = \"function_key\"."
  }
}

variable "upload_event_name" {
  description = "Catalog event produced by the storage account itself (Blob Created on the uploads container) rather than published to the custom topic."
  type        = string
  default     = "ImageUploaded"
}

variable "uploads_prefix" {
  description = "Blob name prefix inside the uploads container that counts as an upload (catalog storage.uploads_prefix). Empty string means the whole container."
  type        = string
  default     = ""
  nullable    = false

  validation {
    condition     = !startswith(var.uploads_prefix, "/")
    error_message = "uploads_prefix is a blob name prefix and must not start with '/'."
  }
}

variable "http_route_prefix" {
  description = "host.json extensions.http.routePrefix used to build the http endpoint URLs in outputs (functions/azure/host.json sets \"\"; the root reads it from there)."
  type        = string
  default     = ""
}

# ---------------------------------------------------------------------------
# Storage
# ---------------------------------------------------------------------------

variable "storage_replication_type" {
  description = "Replication of the data storage account."
  type        = string
  default     = "ZRS"

  validation {
    condition     = contains(["LRS", "ZRS", "GRS", "RAGRS", "GZRS", "RAGZRS"], var.storage_replication_type)
    error_message = "storage_replication_type must be one of LRS, ZRS, GRS, RAGRS, GZRS, RAGZRS."
  }
}

variable "shared_access_key_enabled" {
  description = "Allow Shared Key (account key / SAS) authorization on the storage account. false (recommended) makes every client use Entra ID: the Functions host uses AzureWebJobsStorage__accountName + managed identity, Event Grid uses its topic identities. See README for the provider issue this implies."
  type        = bool
  default     = false
}

variable "blob_soft_delete_days" {
  description = "Soft-delete retention for blobs and containers, in days."
  type        = number
  default     = 7

  validation {
    condition     = var.blob_soft_delete_days >= 1 && var.blob_soft_delete_days <= 365
    error_message = "blob_soft_delete_days must be between 1 and 365."
  }
}

variable "noncurrent_version_retention_days" {
  description = "Delete previous blob versions (kept by versioning) after this many days."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_retention_days >= 1
    error_message = "noncurrent_version_retention_days must be at least 1."
  }
}

variable "claims_retention_days" {
  description = "Lifecycle rule: delete claim-check payloads in the claims container after this many days."
  type        = number
  default     = 14

  validation {
    condition     = var.claims_retention_days >= 1
    error_message = "claims_retention_days must be at least 1."
  }
}

variable "deadletter_retention_days" {
  description = "Lifecycle rule: delete Event Grid dead-letter blobs after this many days (null keeps them)."
  type        = number
  default     = 90

  validation {
    condition     = var.deadletter_retention_days == null || try(var.deadletter_retention_days >= 1, false)
    error_message = "deadletter_retention_days must be null or at least 1."
  }
}

variable "queue_message_ttl_seconds" {
  description = "Time-to-live of the messages Event Grid writes into consumer queues (-1 = never expire)."
  type        = number
  default     = 604800

  validation {
    condition     = var.queue_message_ttl_seconds == -1 || var.queue_message_ttl_seconds >= 60
    error_message = "queue_message_ttl_seconds must be -1 or at least 60."
  }
}

variable "host_storage_account_scope_roles" {
  description = "Fallback: grant each app identity Storage Blob Data Owner on the whole account for the Functions host instead of only on the host containers (azure-webjobs-hosts, azure-webjobs-secrets). Leave false unless the host reports storage authorization errors."
  type        = bool
  default     = false
}

# ---------------------------------------------------------------------------
# Event Grid
# ---------------------------------------------------------------------------

variable "event_time_to_live_minutes" {
  description = "Event Grid retry_policy.event_time_to_live: how long Event Grid keeps retrying delivery into a queue before dead-lettering (1-1440 minutes)."
  type        = number
  default     = 1440

  validation {
    condition     = var.event_time_to_live_minutes >= 1 && var.event_time_to_live_minutes <= 1440
    error_message = "event_time_to_live_minutes must be between 1 and 1440."
  }
}

# ---------------------------------------------------------------------------
# Function app
# ---------------------------------------------------------------------------

variable "python_version" {
  description = "Python version of the Flex Consumption app."
  type        = string
  default     = "3.12"

  validation {
    condition     = contains(["3.10", "3.11", "3.12", "3.13"], var.python_version)
    error_message = "python_version must be one of 3.10, 3.11, 3.12, 3.13."
  }
}

variable "maximum_instance_count" {
  description = "Flex Consumption maximum instance count (scale-out limit shared by all functions of the app)."
  type        = number
  default     = 40

  validation {
    condition     = var.maximum_instance_count >= 1 && var.maximum_instance_count <= 1000
    error_message = "maximum_instance_count must be between 1 and 1000."
  }
}

variable "instance_memory_mb" {
  description = "Flex Consumption instance memory. Must cover the largest catalog consumer memory_mb (the thumbnailer)."
  type        = number
  default     = 2048

  validation {
    condition     = contains([512, 2048, 4096], var.instance_memory_mb)
    error_message = "instance_memory_mb must be 512, 2048 or 4096."
  }
}

variable "package_path" {
  description = "Path of the function app zip built by `make package-azure`, relative to the root module. Uploaded as released-package.zip into every app's package container, then the app is restarted (see the deployment_commands output); not read by Terraform."
  type        = string
  default     = "../../build/azure/functionapp.zip"
}

variable "mail_from" {
  description = "EVENTSUITE_MAIL_FROM: sender address of customer emails."
  type        = string

  validation {
    condition     = can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.mail_from))
    error_message = "mail_from must be an email address."
  }
}

variable "smtp" {
  description = "SMTP relay for EVENTSUITE_MAILER=smtp. The password is not here: see smtp_password."
  type = object({
    host     = string
    port     = optional(number, 587)
    username = optional(string, "")
    starttls = optional(bool, true)
  })
  default = {
    host = ""
  }
  nullable = false # null means the default: no relay (EVENTSUITE_SMTP_HOST empty)
}

variable "smtp_password" {
  description = "SMTP password, written by Terraform into Key Vault secret `smtp-password` (EVENTSUITE_SMTP_PASSWORD of the mail functions' apps) only when smtp_password_version is set. Ephemeral and write-only: it never enters the plan or the state. Preferred: leave both null and set the secret out of band (`az keyvault secret set`)."
  type        = string
  default     = null
  sensitive   = true
  ephemeral   = true
}

variable "smtp_password_version" {
  description = "Set (1, 2, ...) to have Terraform write smtp_password into Key Vault; increase it to write a new value. null: the secret is managed out of band."
  type        = number
  default     = null
}

variable "payment_provider" {
  description = "EVENTSUITE_PAYMENT_PROVIDER of every app. `stripe`: the payments function charges through Stripe, with the API key from the Key Vault secret `stripe-api-key` (set it out of band: `az keyvault secret set`), referenced as EVENTSUITE_STRIPE_API_KEY only by the apps whose functions declare the payments port (Key Vault Secrets User on that secret only). `simulated`: no money moves; for demos and tests only."
  type        = string
  nullable    = false

  validation {
    condition     = contains(["stripe", "simulated"], var.payment_provider)
    error_message = "payment_provider must be \"stripe\" or \"simulated\"."
  }
}

variable "webhook_secret" {
  description = "Payment webhook HMAC secret(s), comma separated, written by Terraform into Key Vault secret `webhook-secret` (EVENTSUITE_WEBHOOK_SECRET of the webhook's app) only when webhook_secret_version is set. Ephemeral and write-only: it never enters the plan or the state. Preferred: leave both null and set it out of band (`az keyvault secret set`)."
  type        = string
  default     = null
  sensitive   = true
  ephemeral   = true
}

variable "webhook_secret_version" {
  description = "Set (1, 2, ...) to have Terraform write webhook_secret into Key Vault; increase it to write a new value (rotation). null: the secret is managed out of band."
  type        = number
  default     = null
}

variable "extra_app_settings" {
  description = "Additional app settings merged over the generated ones."
  type        = map(string)
  default     = {}
}

# ---------------------------------------------------------------------------
# Key Vault
# ---------------------------------------------------------------------------

variable "key_vault_soft_delete_retention_days" {
  description = "Key Vault soft-delete retention (7-90 days). Purge protection is always on."
  type        = number
  default     = 90

  validation {
    condition     = var.key_vault_soft_delete_retention_days >= 7 && var.key_vault_soft_delete_retention_days <= 90
    error_message = "key_vault_soft_delete_retention_days must be between 7 and 90."
  }
}

variable "key_vault_network_default_action" {
  description = "Key Vault firewall default action. \"Deny\" breaks Key Vault references from a function app without VNet integration, so the default is \"Allow\" (access still requires RBAC)."
  type        = string
  default     = "Allow"

  validation {
    condition     = contains(["Allow", "Deny"], var.key_vault_network_default_action)
    error_message = "key_vault_network_default_action must be Allow or Deny."
  }
}

variable "grant_deployer_secrets_officer" {
  description = "Grant the identity running Terraform \"Key Vault Secrets Officer\" on the vault. null (default): only when it writes a secret (webhook_secret_version or smtp_password_version set); setting secrets out of band needs no standing grant."
  type        = bool
  default     = null
}

variable "grant_deployer_package_writer" {
  description = "Grant the identity running Terraform \"Storage Blob Data Contributor\" on each app's package container, so that `make deploy-azure` (deployment_commands, run with the same az login) can upload the packages. The apps themselves only read them. Set false when another identity deploys the code (grant it that role instead)."
  type        = bool
  default     = true
}

# ---------------------------------------------------------------------------
# Monitoring
# ---------------------------------------------------------------------------

variable "log_retention_days" {
  description = "Log Analytics workspace retention, in days, of the storage access logs (queue and blob audit records) and Application Insights, which is workspace-based and inherits it: 90-730."
  type        = number
  default     = 90

  validation {
    condition     = var.log_retention_days >= 90 && var.log_retention_days <= 730
    error_message = "log_retention_days must be between 90 and 730 (audit records are kept at least 90 days)."
  }
}

variable "alert_email_addresses" {
  description = "Email receivers of the alert action group. Empty: no action group is created and alerts only show in Azure Monitor."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.alert_email_addresses : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", a))])
    error_message = "Every alert email address must look like an email address."
  }
}

variable "blob_access_logs_enabled" {
  description = "Send blob StorageRead/StorageWrite/StorageDelete logs to Log Analytics (audit of who read or changed uploads, renditions, claims and dead letters). Queue write/delete logs are always on: the per-consumer alerts need them."
  type        = bool
  default     = true
}

variable "queue_backlog_threshold" {
  description = "Per-consumer backlog alert: fire when a queue received this many more messages than it deleted within queue_backlog_window (a growth proxy: Azure Monitor has no per-queue depth metric)."
  type        = number
  default     = 100
}

variable "queue_backlog_window" {
  description = "ISO-8601 window of the per-consumer backlog alert."
  type        = string
  default     = "PT30M"

  validation {
    condition     = contains(["PT15M", "PT30M", "PT45M", "PT1H", "PT2H", "PT3H", "PT6H"], var.queue_backlog_window)
    error_message = "queue_backlog_window must be one of PT15M, PT30M, PT45M, PT1H, PT2H, PT3H, PT6H."
  }
}

variable "total_queue_messages_threshold" {
  description = "Account-level alert on the QueueMessageCount capacity metric (all queues, hourly granularity)."
  type        = number
  default     = 1000
}

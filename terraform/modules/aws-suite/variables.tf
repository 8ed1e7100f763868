# ---------------------------------------------------------------------------
# Naming
# ---------------------------------------------------------------------------

variable "name_prefix" {
  description = "Prefix of every resource name (queues `<prefix>-<consumer>`, DLQs `<prefix>-<consumer>-dlq`, functions `<prefix>-<name>`). 3-20 lowercase letters, digits or hyphens, starting with a letter; short enough that bucket names (`<prefix>-<role>-<account>-<region>`) stay within 63 characters."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,18}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-20 characters of [a-z0-9-], start with a letter and not end with a hyphen."
  }
}

variable "tags" {
  description = "Tags added to every taggable resource (on top of the provider's default_tags)."
  type        = map(string)
  default     = {}
}

# ---------------------------------------------------------------------------
# Catalog (shared/catalog/catalog.json, decoded by the root configuration)
# ---------------------------------------------------------------------------

variable "events" {
  description = "Catalog `events`: event name => { type = CloudEvents `type` (used as the EventBridge detail-type), description }. Extra catalog attributes (versions, schemas) are ignored."
  type = map(object({
    type        = string
    description = optional(string, "")
  }))

  validation {
    condition     = length(var.events) > 0
    error_message = "The catalog must declare at least one event."
  }

  validation {
    condition     = alltrue([for e in values(var.events) : can(regex("^[A-Za-z0-9._-]{1,128}$", e.type))])
    error_message = "Every event type must be 1-128 characters of [A-Za-z0-9._-] (it becomes an EventBridge detail-type)."
  }
}

variable "consumers" {
  description = "Catalog `consumers`: consumer name => settings. Each consumer gets its own SQS queue, DLQ, EventBridge rule(s), Lambda function, event source mapping, IAM role, log group and alarms."
  type = map(object({
    description           = optional(string, "")
    handler               = optional(string, "")
    group                 = string
    subscribes            = list(string)
    max_delivery_attempts = number
    timeout_seconds       = number
    memory_mb             = number
    batch_size            = number
  }))

  validation {
    condition     = alltrue([for k in keys(var.consumers) : can(regex("^[a-z][a-z0-9_-]{0,31}$", k))])
    error_message = "Consumer names must be 1-32 characters of [a-z0-9_-] starting with a letter."
  }

  validation {
    condition     = alltrue([for c in values(var.consumers) : contains(["images", "orders"], c.group)])
    error_message = "Consumer group must be \"images\" or \"orders\" (the groups this module knows how to grant permissions for)."
  }

  validation {
    condition     = alltrue([for c in values(var.consumers) : length(c.subscribes) > 0])
    error_message = "Every consumer must subscribe to at least one event."
  }

  validation {
    condition     = alltrue([for c in values(var.consumers) : c.max_delivery_attempts >= 1 && c.max_delivery_attempts <= 1000 && floor(c.max_delivery_attempts) == c.max_delivery_attempts])
    error_message = "max_delivery_attempts must be an integer between 1 and 1000 (SQS maxReceiveCount)."
  }

  validation {
    condition     = alltrue([for c in values(var.consumers) : c.memory_mb >= 128 && c.memory_mb <= 10240])
    error_message = "memory_mb must be between 128 and 10240."
  }

  validation {
    condition     = alltrue([for c in values(var.consumers) : c.timeout_seconds >= 1 && c.timeout_seconds <= 900])
    error_message = "timeout_seconds must be between 1 and 900."
  }

  validation {
    condition     = alltrue([for c in values(var.consumers) : c.batch_size >= 1 && c.batch_size <= 10000])
    error_message = "batch_size must be between 1 and 10000 (SQS event source mapping limit)."
  }
}

variable "http_endpoints" {
  description = "Catalog `http_endpoints`: endpoint name => settings. Each gets a Lambda function (handler functions.aws.entrypoint.handle_http) and a route `<method> <path>` on one API Gateway HTTP API."
  type = map(object({
    description     = optional(string, "")
    handler         = optional(string, "")
    group           = string
    method          = string
    path            = string
    emits           = optional(list(string), [])
    timeout_seconds = number
    memory_mb       = number
  }))
  default = {}

  validation {
    condition     = alltrue([for k in keys(var.http_endpoints) : can(regex("^[a-z][a-z0-9_-]{0,31}$", k))])
    error_message = "HTTP endpoint names must be 1-32 characters of [a-z0-9_-] starting with a letter."
  }

  validation {
    condition     = alltrue([for e in values(var.http_endpoints) : contains(["images", "orders"], e.group)])
    error_message = "HTTP endpoint group must be \"images\" or \"orders\"."
  }

  validation {
    condition     = alltrue([for e in values(var.http_endpoints) : contains(["GET", "POST", "PUT", "PATCH", "DELETE"], e.method)])
    error_message = "HTTP endpoint method must be one of GET, POST, PUT, PATCH, DELETE."
  }

  validation {
    condition     = alltrue([for e in values(var.http_endpoints) : can(regex("^/[A-Za-z0-9/_{}.+-]*$", e.path))])
    error_message = "HTTP endpoint path must start with \"/\"."
  }

  validation {
    condition     = alltrue([for e in values(var.http_endpoints) : e.timeout_seconds >= 1 && e.timeout_seconds <= 29])
    error_message = "HTTP endpoint timeout_seconds must be between 1 and 29 (API Gateway HTTP API integrations time out at 30 s)."
  }

  validation {
    condition     = alltrue([for e in values(var.http_endpoints) : e.memory_mb >= 128 && e.memory_mb <= 10240])
    error_message = "HTTP endpoint memory_mb must be between 128 and 10240."
  }
}

variable "schedules" {
  description = "Catalog `schedules`: schedule name => settings. Each gets a Lambda function (handler functions.aws.entrypoint.handle_schedule, EVENTSUITE_SCHEDULE = the name, its group's package) invoked every `every_minutes` by an EventBridge Scheduler schedule (flexible time window off, retry policy, SQS dead-letter queue), its own execution role and scheduler role, a log group and alarms on the function's Errors and on the dead-letter queue. Names share the function namespace with consumers and HTTP endpoints and must not collide with them."
  type = map(object({
    description     = optional(string, "")
    handler         = optional(string, "")
    group           = string
    every_minutes   = number
    emits           = optional(list(string), [])
    timeout_seconds = number
    memory_mb       = number
  }))
  default  = {}
  nullable = false

  validation {
    condition     = alltrue([for k in keys(var.schedules) : can(regex("^[a-z][a-z0-9_-]{0,31}$", k))])
    error_message = "Schedule names must be 1-32 characters of [a-z0-9_-] starting with a letter."
  }

  validation {
    condition     = alltrue([for s in values(var.schedules) : s.group == "orders"])
    error_message = "Schedule group must be \"orders\": the module grants a schedule function what the orders jobs need (read the orders still PLACED, publish) and nothing else."
  }

  validation {
    condition     = alltrue([for s in values(var.schedules) : s.every_minutes >= 1 && s.every_minutes <= 1440 && floor(s.every_minutes) == s.every_minutes])
    error_message = "every_minutes must be an integer between 1 and 1440 (an EventBridge Scheduler rate() expression)."
  }

  validation {
    condition     = alltrue([for s in values(var.schedules) : s.timeout_seconds >= 1 && s.timeout_seconds <= 900])
    error_message = "Schedule timeout_seconds must be between 1 and 900."
  }

  validation {
    condition     = alltrue([for s in values(var.schedules) : s.memory_mb >= 128 && s.memory_mb <= 10240])
    error_message = "Schedule memory_mb must be between 128 and 10240."
  }
}

variable "storage" {
  description = "Catalog `storage`: object key prefixes. Only objects created under uploads_prefix in the uploads bucket become ImageUploaded deliveries."
  type = object({
    uploads_prefix    = string
    thumbnails_prefix = optional(string, "thumbnails/")
    claims_prefix     = optional(string, "claims/")
  })

  validation {
    condition     = length(var.storage.uploads_prefix) > 0 && endswith(var.storage.uploads_prefix, "/")
    error_message = "storage.uploads_prefix must be non-empty and end with \"/\"."
  }
}

variable "function_needs" {
  description = "shared/catalog/needs.json: per consumer, HTTP endpoint and schedule, the ports its handlers declare and the events it emits. Each function's IAM policy is derived from it (grants.tf): a port nobody declares is granted to nobody."
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

variable "upload_event_name" {
  description = "Catalog event name that S3 `Object Created` notifications of the uploads bucket stand for; every consumer subscribing to it is wired to the uploads rule on the default bus."
  type        = string
  default     = "ImageUploaded"
}

# ---------------------------------------------------------------------------
# Packaging
# ---------------------------------------------------------------------------

variable "package_paths" {
  description = "Deployment zip per catalog group (`images`, `orders`) => path, relative to the Terraform working directory. Every function of a group is deployed from its group's zip; the zip must exist at plan time (source_code_hash = filebase64sha256)."
  type        = map(string)

  validation {
    condition     = alltrue([for p in values(var.package_paths) : endswith(p, ".zip")])
    error_message = "Every package path must point at a .zip file."
  }
}

# ---------------------------------------------------------------------------
# Functions
# ---------------------------------------------------------------------------

variable "log_retention_days" {
  description = "Retention of the Lambda and API access log groups, in days (a value CloudWatch Logs accepts)."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)."
  }
}

variable "reserved_concurrency" {
  description = "Optional reserved concurrency per function (consumer, HTTP endpoint or schedule name => executions). Functions not listed are unreserved (-1). Reserving carves capacity out of the account's unreserved pool, so it is opt-in."
  type        = map(number)
  default     = {}

  validation {
    condition     = alltrue([for v in values(var.reserved_concurrency) : v >= 0 && floor(v) == v])
    error_message = "reserved_concurrency values must be non-negative integers."
  }
}

variable "consumer_max_concurrency" {
  description = "Optional event source mapping scaling_config.maximum_concurrency per consumer (2-1000): caps how many concurrent invocations one queue drives. Consumers not listed are uncapped."
  type        = map(number)
  default     = {}

  validation {
    condition     = alltrue([for v in values(var.consumer_max_concurrency) : v >= 2 && v <= 1000 && floor(v) == v])
    error_message = "consumer_max_concurrency values must be integers between 2 and 1000."
  }
}

variable "batching_window_seconds" {
  description = "maximum_batching_window_in_seconds of every SQS event source mapping (kept small: it adds latency)."
  type        = number
  default     = 1

  validation {
    condition     = var.batching_window_seconds >= 0 && var.batching_window_seconds <= 20 && floor(var.batching_window_seconds) == var.batching_window_seconds
    error_message = "batching_window_seconds must be an integer between 0 and 20."
  }
}

variable "payment_provider" {
  description = "EVENTSUITE_PAYMENT_PROVIDER of every function. `stripe`: the payments function charges through Stripe, with the API key from the Secrets Manager secret this module creates (output stripe_api_key_secret_arn; only the functions declaring the payments port may read it). `simulated`: no money moves (every order under 5 000.00 EUR/USD/GBP is approved); for demos and tests only."
  type        = string
  nullable    = false

  validation {
    condition     = contains(["stripe", "simulated"], var.payment_provider)
    error_message = "payment_provider must be \"stripe\" or \"simulated\"."
  }
}

variable "mailer" {
  description = "EVENTSUITE_MAILER: `ses` (Amazon SES: the functions declaring the mailer port get ses:SendEmail/SendRawEmail with ses:FromAddress = mail_from) or `smtp` (relay configured by var.smtp)."
  type        = string
  default     = "ses"

  validation {
    condition     = contains(["ses", "smtp"], var.mailer)
    error_message = "mailer must be \"ses\" or \"smtp\"."
  }
}

variable "mail_from" {
  description = "EVENTSUITE_MAIL_FROM: sender address. With mailer = ses it must be a verified SES identity (address or its domain)."
  type        = string

  validation {
    condition     = can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.mail_from))
    error_message = "mail_from must be an e-mail address."
  }
}

variable "smtp" {
  description = "SMTP relay settings (used only when mailer = smtp): EVENTSUITE_SMTP_HOST, _PORT, _USERNAME, _STARTTLS."
  type = object({
    host     = string
    port     = optional(number, 587)
    username = optional(string, "")
    starttls = optional(bool, true)
  })
  default = null
}

variable "smtp_password" {
  description = "SMTP password (only with mailer = smtp), written write-only into the `<prefix>/smtp-password` Secrets Manager secret when smtp_password_version is set. Ephemeral: never in the plan, the state or a Lambda environment. Preferred: leave it null and put the value out of band (`aws secretsmanager put-secret-value`)."
  type        = string
  default     = null
  sensitive   = true
  ephemeral   = true
}

variable "smtp_password_version" {
  description = "Set (1, 2, ...) to have Terraform write smtp_password into its secret; increase it to write a new value. null: the secret's value is managed out of band."
  type        = number
  default     = null
}

variable "thumbnail_writers" {
  description = "Functions whose `objects` port writes renditions under storage.thumbnails_prefix in the thumbnails bucket (the other object-store grants follow from the catalog: consumers of upload_event_name read uploads, publishers write claims, every function reads claims)."
  type        = list(string)
  default     = ["thumbnailer"]
  nullable    = false
}

# ---------------------------------------------------------------------------
# Delivery
# ---------------------------------------------------------------------------

variable "queue_message_retention_seconds" {
  description = "Retention of the consumer queues (the DLQs always keep messages 14 days)."
  type        = number
  default     = 345600

  validation {
    condition     = var.queue_message_retention_seconds >= 60 && var.queue_message_retention_seconds <= 1209600
    error_message = "queue_message_retention_seconds must be between 60 and 1209600."
  }
}

variable "eventbridge_max_event_age_seconds" {
  description = "Target retry_policy.maximum_event_age_in_seconds: how long EventBridge keeps retrying delivery to a queue before sending the event to the consumer's DLQ."
  type        = number
  default     = 86400

  validation {
    condition     = var.eventbridge_max_event_age_seconds >= 60 && var.eventbridge_max_event_age_seconds <= 86400
    error_message = "eventbridge_max_event_age_seconds must be between 60 and 86400."
  }
}

variable "eventbridge_max_retry_attempts" {
  description = "Target retry_policy.maximum_retry_attempts for delivery to a queue."
  type        = number
  default     = 185

  validation {
    condition     = var.eventbridge_max_retry_attempts >= 0 && var.eventbridge_max_retry_attempts <= 185
    error_message = "eventbridge_max_retry_attempts must be between 0 and 185."
  }
}

# ---------------------------------------------------------------------------
# Storage and data
# ---------------------------------------------------------------------------

variable "claims_expiration_days" {
  description = "Days after which claim-checked payloads are deleted from the claims bucket."
  type        = number
  default     = 14

  validation {
    condition     = var.claims_expiration_days >= 1
    error_message = "claims_expiration_days must be at least 1."
  }
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which noncurrent object versions are deleted (all buckets are versioned)."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1
    error_message = "noncurrent_version_expiration_days must be at least 1."
  }
}

variable "access_log_expiration_days" {
  description = "Days after which S3 server access logs are deleted from the access-logs bucket."
  type        = number
  default     = 365

  validation {
    condition     = var.access_log_expiration_days >= 1
    error_message = "access_log_expiration_days must be at least 1."
  }
}

variable "force_destroy_buckets" {
  description = "Allow `terraform destroy` to delete non-empty buckets (for throwaway environments only)."
  type        = bool
  default     = false
}

variable "deletion_protection" {
  description = "DynamoDB deletion protection on the index, idempotency and orders tables."
  type        = bool
  default     = true
}

variable "kms_deletion_window_days" {
  description = "Waiting period before the suite KMS key is deleted after destroy."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30
    error_message = "kms_deletion_window_days must be between 7 and 30."
  }
}

variable "secret_recovery_window_days" {
  description = "Recovery window of the webhook secret after destroy (0 deletes immediately)."
  type        = number
  default     = 7

  validation {
    condition     = var.secret_recovery_window_days == 0 || (var.secret_recovery_window_days >= 7 && var.secret_recovery_window_days <= 30)
    error_message = "secret_recovery_window_days must be 0 or between 7 and 30."
  }
}

# ---------------------------------------------------------------------------
# HTTP API
# ---------------------------------------------------------------------------

variable "orders_api_auth" {
  description = "Authorization of the orders API route (`POST /orders`) and of every other HTTP endpoint that is not in signed_webhook_endpoints. `AWS_IAM` (default): callers sign requests with SigV4 and need `execute-api:Invoke` on the route (output http_route_invoke_arns). `JWT`: an API Gateway JWT authorizer checks the `Authorization: Bearer <token>` header against jwt_issuer (https URL of the OIDC issuer) and jwt_audience (at least one `aud` value). `NONE`: public and unauthenticated, an explicit opt-in (anyone can place orders for any e-mail address)."
  type = object({
    mode         = string
    jwt_issuer   = optional(string)
    jwt_audience = optional(list(string))
  })
  default  = { mode = "AWS_IAM" }
  nullable = false

  validation {
    condition     = contains(["AWS_IAM", "JWT", "NONE"], var.orders_api_auth.mode)
    error_message = "orders_api_auth.mode must be \"AWS_IAM\", \"JWT\" or \"NONE\"."
  }

  validation {
    condition = var.orders_api_auth.mode != "JWT" || (
      can(regex("^https://[^\\s]+$", var.orders_api_auth.jwt_issuer)) &&
      try(length(var.orders_api_auth.jwt_audience) > 0 && alltrue([for a in var.orders_api_auth.jwt_audience : length(trimspace(a)) > 0]), false)
    )
    error_message = "orders_api_auth.mode = \"JWT\" needs jwt_issuer (an https:// URL) and a non-empty jwt_audience list of non-empty strings."
  }

  validation {
    condition     = var.orders_api_auth.mode == "JWT" || (var.orders_api_auth.jwt_issuer == null && var.orders_api_auth.jwt_audience == null)
    error_message = "jwt_issuer and jwt_audience are only used with orders_api_auth.mode = \"JWT\"; remove them or set the type."
  }
}

variable "signed_webhook_endpoints" {
  description = "HTTP endpoints that authenticate their caller by an HMAC signature checked inside the function (the payment provider cannot sign with AWS credentials or send a JWT). Their routes have authorization NONE; each must also be in webhook_secret_readers. Every other endpoint uses orders_api_auth."
  type        = list(string)
  default     = ["payment_webhook"]
  nullable    = false

  validation {
    condition     = alltrue([for e in var.signed_webhook_endpoints : can(regex("^[a-z][a-z0-9_-]{0,31}$", e))])
    error_message = "signed_webhook_endpoints entries must be HTTP endpoint names (1-32 characters of [a-z0-9_-] starting with a letter)."
  }
}

variable "api_throttling_rate_limit" {
  description = "Steady-state requests per second allowed on the HTTP API stage (default route settings)."
  type        = number
  default     = 50

  validation {
    condition     = var.api_throttling_rate_limit > 0
    error_message = "api_throttling_rate_limit must be positive."
  }
}

variable "api_throttling_burst_limit" {
  description = "Burst requests allowed on the HTTP API stage (default route settings)."
  type        = number
  default     = 100

  validation {
    condition     = var.api_throttling_burst_limit > 0 && floor(var.api_throttling_burst_limit) == var.api_throttling_burst_limit
    error_message = "api_throttling_burst_limit must be a positive integer."
  }
}

# ---------------------------------------------------------------------------
# Alarms
# ---------------------------------------------------------------------------

variable "queue_age_alarm_threshold_seconds" {
  description = "Alarm when a consumer queue's ApproximateAgeOfOldestMessage exceeds this many seconds."
  type        = number
  default     = 300

  validation {
    condition     = var.queue_age_alarm_threshold_seconds >= 60
    error_message = "queue_age_alarm_threshold_seconds must be at least 60."
  }
}

variable "create_alarm_topic" {
  description = "Create an encrypted SNS topic that receives every alarm and OK transition."
  type        = bool
  default     = true
}

variable "alarm_email" {
  description = "Optional e-mail address subscribed to the alarm topic (the recipient must confirm the subscription)."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_email == null || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alarm_email))
    error_message = "alarm_email must be null or an e-mail address."
  }
}

variable "alarm_action_arns" {
  description = "Extra alarm/OK action ARNs (e.g. an existing SNS topic) added to every alarm."
  type        = list(string)
  default     = []
}

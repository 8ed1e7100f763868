variable "region" {
  description = "AWS region to deploy to."
  type        = string
  default     = "eu-west-1"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must look like an AWS region code, e.g. eu-west-1."
  }
}

variable "name_prefix" {
  description = "Prefix of every resource name (3-20 characters of [a-z0-9-], starting with a letter)."
  type        = string
  default     = "eventsuite"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,18}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-20 characters of [a-z0-9-], start with a letter and not end with a hyphen."
  }
}

variable "environment" {
  description = "Environment name, added as the Environment default tag."
  type        = string
  default     = "dev"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,31}$", var.environment))
    error_message = "environment must be 1-32 characters of [a-z0-9-] starting with a letter."
  }
}

variable "tags" {
  description = "Extra default tags for every resource."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "package_dir" {
  description = "Directory of the Lambda zips (`<group>.zip`, one per catalog group), relative to this root module. The zips must exist at plan time (make package-aws)."
  type        = string
  default     = "../../build/aws"
  nullable    = false
}

variable "payment_provider" {
  description = "Who charges the orders: `stripe` (the real provider: put the API key into the secret of output stripe_api_key_secret_arn, and point Stripe's webhooks at the payment webhook route) or `simulated` (no money moves; the plan warns). No default: a stack must choose."
  type        = string
  nullable    = false

  validation {
    condition     = contains(["stripe", "simulated"], var.payment_provider)
    error_message = "payment_provider must be \"stripe\" or \"simulated\"."
  }
}

variable "mailer" {
  description = "EVENTSUITE_MAILER: ses or smtp."
  type        = string
  default     = "ses"
  nullable    = false

  validation {
    condition     = contains(["ses", "smtp"], var.mailer)
    error_message = "mailer must be \"ses\" or \"smtp\"."
  }
}

variable "mail_from" {
  description = "EVENTSUITE_MAIL_FROM: sender address (a verified SES identity when mailer = ses)."
  type        = string
  default     = "orders@example.com"
  nullable    = false
}

variable "smtp" {
  description = "SMTP relay (only with mailer = smtp)."
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

variable "alarm_email" {
  description = "Optional e-mail address subscribed to the alarm topic."
  type        = string
  default     = null
}

variable "queue_age_alarm_threshold_seconds" {
  description = "Alarm when a consumer queue's oldest message is older than this."
  type        = number
  default     = 300
  nullable    = false
}

variable "log_retention_days" {
  description = "Retention of the Lambda and API access log groups, in days."
  type        = number
  default     = 365
  nullable    = false
}

variable "reserved_concurrency" {
  description = "Optional reserved concurrency per function (consumer or endpoint name => executions)."
  type        = map(number)
  default     = {}
  nullable    = false
}

variable "consumer_max_concurrency" {
  description = "Optional maximum concurrency per consumer's SQS event source mapping (2-1000)."
  type        = map(number)
  default     = {}
  nullable    = false
}

variable "orders_api_auth" {
  description = "Authorization of the orders API route (POST /orders): AWS_IAM (default; callers sign with SigV4 and need execute-api:Invoke on the route, see output http_route_invoke_arns), JWT (set jwt_issuer, an https URL, and jwt_audience; callers send `Authorization: Bearer <token>`) or NONE (public, explicit opt-in). The payment webhook route is always NONE: its HMAC signature authenticates it."
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

variable "api_throttling_rate_limit" {
  description = "HTTP API steady-state requests per second."
  type        = number
  default     = 50
  nullable    = false
}

variable "api_throttling_burst_limit" {
  description = "HTTP API burst requests."
  type        = number
  default     = 100
  nullable    = false
}

variable "force_destroy_buckets" {
  description = "Allow destroy to delete non-empty buckets (throwaway environments only)."
  type        = bool
  default     = false
  nullable    = false
}

variable "deletion_protection" {
  description = "DynamoDB deletion protection."
  type        = bool
  default     = true
  nullable    = false
}

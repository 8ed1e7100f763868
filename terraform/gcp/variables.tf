variable "project_id" {
  description = "Google Cloud project id that hosts the suite."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project id: 6-30 characters, lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "region" {
  description = "Region of the functions, buckets and (by default) the Firestore database."
  type        = string
  default     = "europe-west1"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must be a Google Cloud region such as europe-west1."
  }
}

variable "name_prefix" {
  description = "Prefix of every resource name (`<prefix>-<consumer>`, `<prefix>-<consumer>-dlq`). 2-20 characters."
  type        = string
  default     = "eventsuite"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,18}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 2-20 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "labels" {
  description = "Extra labels for every resource that supports them."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "package_paths" {
  description = "Override of the zip per catalog group (default: build/gcp/<group>.zip at the repository root, relative to this directory)."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "max_instance_count" {
  description = "Maximum instances per function."
  type        = number
  default     = 10
  nullable    = false
}

variable "min_instance_count" {
  description = "Warm instances per function (0 = scale to zero)."
  type        = number
  default     = 0
  nullable    = false
}

variable "retry_minimum_backoff" {
  description = "Pub/Sub push retry policy minimum backoff."
  type        = string
  default     = "10s"
  nullable    = false
}

variable "retry_maximum_backoff" {
  description = "Pub/Sub push retry policy maximum backoff."
  type        = string
  default     = "600s"
  nullable    = false
}

variable "kms_key_name" {
  description = "Optional Cloud KMS key for CMEK on topics and buckets (null = Google-managed)."
  type        = string
  default     = null
}

variable "firestore_location" {
  description = "Firestore location (region or multi-region such as eur3). Null = region."
  type        = string
  default     = null
}

variable "firestore_delete_protection" {
  description = "Enable Firestore delete protection."
  type        = bool
  default     = true
  nullable    = false
}

variable "mail_from" {
  description = "Sender address of customer emails."
  type        = string
  nullable    = false
}

variable "payment_provider" {
  description = "Who charges the orders: `stripe` (the real provider: add the API key as a version of the secret of output stripe_api_key_secret_id, and point Stripe's webhooks at the payment webhook endpoint) or `simulated` (no money moves; the plan warns). No default: a stack must choose."
  type        = string
  nullable    = false

  validation {
    condition     = contains(["stripe", "simulated"], var.payment_provider)
    error_message = "payment_provider must be \"stripe\" or \"simulated\"."
  }
}

variable "smtp" {
  description = "SMTP relay (host, port, username, starttls). The password comes from smtp_password_secret_id."
  type = object({
    host     = optional(string, "")
    port     = optional(number, 587)
    username = optional(string, "")
    starttls = optional(bool, true)
  })
  default  = {}
  nullable = false
}

variable "smtp_password_secret_id" {
  description = "Optional existing Secret Manager secret id holding the SMTP password (given to the mail-sending consumers only)."
  type        = string
  default     = null
}

variable "public_http_endpoints" {
  description = "HTTP endpoints anyone may invoke (allUsers run.invoker on that endpoint only). Only endpoints that verify a signature on every call (the webhook_secrets port, e.g. [\"payment_webhook\"]) are accepted; everything else goes through the front door in http_invoker_members."
  type        = list(string)
  default     = []
  nullable    = false
}

variable "http_invoker_members" {
  description = "IAM members allowed to invoke every HTTP endpoint (e.g. the API gateway's service account)."
  type        = list(string)
  default     = []
  nullable    = false
}

variable "alert_oldest_unacked_age_seconds" {
  description = "Backlog-age alert threshold per consumer subscription, in seconds."
  type        = number
  default     = 600
  nullable    = false
}

variable "alert_email" {
  description = "Optional email address notified by every alert policy."
  type        = string
  default     = null
}

variable "force_destroy_buckets" {
  description = "Allow destroying non-empty buckets (throw-away environments only)."
  type        = bool
  default     = false
  nullable    = false
}

variable "enable_project_services" {
  description = "Enable the required Google APIs from Terraform."
  type        = bool
  default     = true
  nullable    = false
}

variable "audit_log_retention_days" {
  description = "Days the suite's audit log bucket keeps its Cloud Audit Logs (90-3650)."
  type        = number
  default     = 365
  nullable    = false
}

variable "enable_storage_data_access_logs" {
  description = "Enable Data Access audit logs for Cloud Storage in the project (authoritative for that service's project-level audit config)."
  type        = bool
  default     = true
  nullable    = false
}

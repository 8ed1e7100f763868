variable "subscription_id" {
  description = "Azure subscription id. null: taken from ARM_SUBSCRIPTION_ID."
  type        = string
  default     = null

  validation {
    condition     = var.subscription_id == null || can(regex("^[0-9a-fA-F-]{36}$", var.subscription_id))
    error_message = "subscription_id must be a GUID."
  }
}

variable "name_prefix" {
  description = "Prefix of every resource name: 2-12 lowercase letters/digits, starting with a letter (storage account rules)."
  type        = string
  default     = "evsuite"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,11}$", var.name_prefix))
    error_message = "name_prefix must be 2-12 characters of lowercase letters and digits, starting with a letter."
  }
}

variable "name_suffix" {
  description = "Optional 1-6 character suffix for globally unique names; derived from subscription, prefix and location when null."
  type        = string
  default     = null
}

variable "location" {
  description = "Normalized Azure region with Flex Consumption support, e.g. \"westeurope\"."
  type        = string
  default     = "westeurope"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9]+$", var.location))
    error_message = "location must be a normalized region name such as \"westeurope\"."
  }
}

variable "create_resource_group" {
  description = "Create the resource group (false: use the existing resource_group_name)."
  type        = bool
  default     = true
  nullable    = false
}

variable "resource_group_name" {
  description = "Resource group name; defaults to \"<name_prefix>-rg\"."
  type        = string
  default     = null
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "shared_access_key_enabled" {
  description = "Allow Shared Key auth on the storage account. Keep false (Entra ID everywhere); see the module README for the post-apply step this needs."
  type        = bool
  default     = false
  nullable    = false
}

variable "storage_replication_type" {
  description = "Storage account replication (LRS, ZRS, GRS, RAGRS, GZRS, RAGZRS)."
  type        = string
  default     = "ZRS"
  nullable    = false
}

variable "python_version" {
  description = "Python version of the function app."
  type        = string
  default     = "3.12"
  nullable    = false
}

variable "maximum_instance_count" {
  description = "Flex Consumption maximum instance count."
  type        = number
  default     = 40
  nullable    = false
}

variable "instance_memory_mb" {
  description = "Flex Consumption instance memory (512, 2048 or 4096)."
  type        = number
  default     = 2048
  nullable    = false
}

variable "package_path" {
  description = "Zip built by `make package-azure`, deployed with `az functionapp deployment source config-zip`."
  type        = string
  default     = "../../build/azure/functionapp.zip"
  nullable    = false
}

variable "payment_provider" {
  description = "Who charges the orders: `stripe` (the real provider: set the API key out of band, `az keyvault secret set --vault-name <key_vault_name> --name stripe-api-key`, and point Stripe's webhooks at the payment webhook function) or `simulated` (no money moves; the plan warns). No default: a stack must choose."
  type        = string
  nullable    = false

  validation {
    condition     = contains(["stripe", "simulated"], var.payment_provider)
    error_message = "payment_provider must be \"stripe\" or \"simulated\"."
  }
}

variable "mail_from" {
  description = "Sender address of customer emails (EVENTSUITE_MAIL_FROM)."
  type        = string
  nullable    = false
}

variable "smtp" {
  description = "SMTP relay (host, port, username, starttls); the password goes to smtp_password."
  type = object({
    host     = string
    port     = optional(number, 587)
    username = optional(string, "")
    starttls = optional(bool, true)
  })
  default = {
    host = ""
  }
  nullable = false
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

variable "log_retention_days" {
  description = "Log Analytics retention in days of the storage access (audit) logs and Application Insights (90-730)."
  type        = number
  default     = 90
  nullable    = false
}

variable "orders_api_auth" {
  description = "Authentication of the orders API (every HTTP endpoint but the signed webhook): mode \"entra\" (default; App Service authentication with an Entra ID token for the API's app registration client_id, optionally only allowed_client_applications) or \"function_key\" (the key alone, explicit opt-in)."
  type = object({
    mode                        = string
    client_id                   = optional(string)
    tenant_id                   = optional(string)
    allowed_audiences           = optional(list(string))
    allowed_client_applications = optional(list(string))
  })
  default  = { mode = "entra" }
  nullable = false
}

variable "function_apps" {
  description = "Optional grouping of catalog functions into apps (app key => function names). Empty: one app, one identity per function."
  type        = map(list(string))
  default     = {}
  nullable    = false
}

variable "alert_email_addresses" {
  description = "Alert email receivers; empty creates no action group."
  type        = list(string)
  default     = []
  nullable    = false
}

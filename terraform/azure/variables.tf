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
  nullable = false # null means the default: no relay (EVENTSUITE_SMTP_HOST empty)
}

variable "smtp_password" {
  description = "SMTP password stored in Key Vault (null: set the `smtp-password` secret out of band)."
  type        = string
  default     = null
  sensitive   = true
}

variable "webhook_secret" {
  description = "Payment webhook HMAC secret(s), comma separated, stored in Key Vault (null: set the `webhook-secret` secret out of band and keep it out of state)."
  type        = string
  default     = null
  sensitive   = true
}

variable "log_retention_days" {
  description = "Log Analytics retention in days (30-730)."
  type        = number
  default     = 30
  nullable    = false
}

variable "alert_email_addresses" {
  description = "Alert email receivers; empty creates no action group."
  type        = list(string)
  default     = []
  nullable    = false
}

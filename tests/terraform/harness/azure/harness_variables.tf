variable "harness_host_storage_account_scope_roles" {
  description = "azure-suite host_storage_account_scope_roles."
  type        = bool
  default     = false
}

variable "harness_extra_app_settings" {
  description = "azure-suite extra_app_settings."
  type        = map(string)
  default     = {}
}

variable "harness_key_vault_network_default_action" {
  description = "azure-suite key_vault_network_default_action."
  type        = string
  default     = "Allow"
}

variable "harness_grant_deployer_secrets_officer" {
  description = "azure-suite grant_deployer_secrets_officer."
  type        = bool
  default     = true
}

variable "harness_blob_access_logs_enabled" {
  description = "azure-suite blob_access_logs_enabled."
  type        = bool
  default     = true
}

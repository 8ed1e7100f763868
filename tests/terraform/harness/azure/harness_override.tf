module "suite" {
  host_storage_account_scope_roles = var.harness_host_storage_account_scope_roles
  extra_app_settings               = var.harness_extra_app_settings
  key_vault_network_default_action = var.harness_key_vault_network_default_action
  grant_deployer_secrets_officer   = var.harness_grant_deployer_secrets_officer
  blob_access_logs_enabled         = var.harness_blob_access_logs_enabled
}

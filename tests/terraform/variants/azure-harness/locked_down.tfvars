# Key Vault closed to public networks, no deployer grant, no blob access logs, account-scope host roles.
mail_from                                = "orders@example.com"
orders_api_auth                          = { mode = "function_key" }
harness_key_vault_network_default_action = "Deny"
harness_grant_deployer_secrets_officer   = false
harness_blob_access_logs_enabled         = false
harness_host_storage_account_scope_roles = true
harness_extra_app_settings               = { FEATURE_FLAG = "on" }
payment_provider                         = "stripe"

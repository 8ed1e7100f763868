terraform {
  # 1.6: `strcontains`, optional object attributes with defaults, `check` blocks.
  required_version = ">= 1.11" # ephemeral variables, write-only secret values

  required_providers {
    azurerm = {
      source = "hashicorp/azurerm"
      # A 4.x major pin. The floor is 4.55 because the arguments used here
      # (azurerm_function_app_flex_consumption, storage_queue.storage_account_id,
      # eventgrid_system_topic.source_resource_id, key_vault.rbac_authorization_enabled)
      # were checked against the 4.55.0 schema and do not all exist in early 4.x.
      version = "~> 4.55"
    }
  }
}

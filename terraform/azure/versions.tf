terraform {
  required_version = ">= 1.11" # ephemeral variables, write-only secret values

  required_providers {
    azurerm = {
      source = "hashicorp/azurerm"
      # 4.x major pin; 4.55 is the schema this configuration was checked against
      # (azurerm_function_app_flex_consumption and friends are not in early 4.x).
      version = "~> 4.55"
    }
  }
}

provider "azurerm" {
  # null falls back to ARM_SUBSCRIPTION_ID (required by azurerm 4.x one way or the other).
  subscription_id = var.subscription_id

  # Entra ID for any storage data-plane call (the account disables Shared Key by default).
  storage_use_azuread = true

  features {
    storage {
      # Containers and queues are managed through ARM (storage_account_id) and tables through an
      # ARM template, so Terraform never needs the storage data plane (no data-plane RBAC for
      # the deployer, works behind a storage firewall).
      data_plane_available = false
    }

    template_deployment {
      # The tables template's tables are deleted with it.
      delete_nested_items_during_deletion = true
    }

    key_vault {
      # Purge protection is on: never try to purge on destroy.
      purge_soft_delete_on_destroy = false
    }
  }
}

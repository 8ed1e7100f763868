# Data storage account: uploads, thumbnails, claims, Event Grid dead letters, the consumer
# queues, the Table Storage tables, and (sharing the account) the Functions host storage and
# the Flex Consumption deployment container.
resource "azurerm_storage_account" "this" {
  #checkov:skip=CKV_AZURE_59:The Flex app runs without VNet integration and Event Grid/clients reach the account publicly; access needs Entra ID RBAC (shared keys are off by default).
  #checkov:skip=CKV_AZURE_35:Default-deny needs VNet integration of the Flex app plus private endpoints; not part of this deployment. Every request still needs Entra ID RBAC.
  #checkov:skip=CKV2_AZURE_33:No private endpoints in this deployment (see CKV_AZURE_35).
  #checkov:skip=CKV2_AZURE_1:Microsoft-managed keys plus infrastructure (double) encryption; customer-managed keys are not required for this data.
  #checkov:skip=CKV_AZURE_206:Zone-redundant (ZRS) by default; the data is transient pipeline data (uploads, renditions, 14-day claims, queues). storage_replication_type accepts GRS/GZRS/RA-* where geo-redundancy is wanted.
  #checkov:skip=CKV_AZURE_33:Classic Storage Analytics queue logging is superseded by the azurerm_monitor_diagnostic_setting on queueServices/default (StorageWrite/StorageDelete to Log Analytics), which also feeds the per-queue alerts.
  name                = local.names.storage_account
  resource_group_name = local.resource_group_name
  location            = var.location

  account_kind             = "StorageV2"
  account_tier             = "Standard"
  account_replication_type = var.storage_replication_type
  access_tier              = "Hot"

  https_traffic_only_enabled        = true
  min_tls_version                   = "TLS1_2"
  allow_nested_items_to_be_public   = false
  shared_access_key_enabled         = var.shared_access_key_enabled
  default_to_oauth_authentication   = true
  infrastructure_encryption_enabled = true
  cross_tenant_replication_enabled  = false
  local_user_enabled                = false
  public_network_access_enabled     = true
  queue_encryption_key_type         = "Account"
  table_encryption_key_type         = "Account"

  blob_properties {
    versioning_enabled = true

    delete_retention_policy {
      days = var.blob_soft_delete_days
    }

    container_delete_retention_policy {
      days = var.blob_soft_delete_days
    }
  }

  sas_policy {
    expiration_period = "00.01:00:00"
    expiration_action = "Log"
  }

  network_rules {
    default_action = "Allow"
    bypass         = ["AzureServices", "Logging", "Metrics"]
  }

  tags = local.tags

  lifecycle {
    precondition {
      condition     = length(local.unknown_subscriptions) == 0
      error_message = "Consumers subscribe to events missing from the catalog: ${join(", ", local.unknown_subscriptions)}."
    }
  }

  depends_on = [azurerm_resource_group.this]
}

resource "azurerm_storage_container" "this" {
  #checkov:skip=CKV2_AZURE_21:The check wants azurerm_log_analytics_storage_insights, which reads logs with the account key (Shared Key is disabled); blob read/write/delete logs go to Log Analytics through azurerm_monitor_diagnostic_setting.blobs instead.
  for_each = local.containers

  name                  = each.value
  storage_account_id    = azurerm_storage_account.this.id
  container_access_type = "private"
}

# One queue per consumer plus the poison queue the Functions runtime moves a message to after
# host.json maxDequeueCount failed attempts (pre-created so alerts and roles can target it).
resource "azurerm_storage_queue" "this" {
  for_each = local.all_queues

  name               = each.key
  storage_account_id = azurerm_storage_account.this.id
  metadata = {
    consumer = each.value
  }
}

# Tables through ARM: azurerm_storage_table in provider 4.x always uses Shared Key on the data
# plane, which fails when shared_access_key_enabled = false. The template creates
# Microsoft.Storage/storageAccounts/tableServices/tables, and deleting the deployment deletes
# them (azurerm features.template_deployment.delete_nested_items_during_deletion, default true).
resource "azurerm_resource_group_template_deployment" "tables" {
  name                = local.names.tables_template
  resource_group_name = local.resource_group_name
  deployment_mode     = "Incremental"

  parameters_content = jsonencode({
    storageAccountName = { value = azurerm_storage_account.this.name }
    tableNames         = { value = sort(values(local.tables)) }
  })

  template_content = jsonencode({
    "$schema"      = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
    contentVersion = "1.0.0.0"
    parameters = {
      storageAccountName = { type = "string" }
      tableNames         = { type = "array" }
    }
    resources = [
      {
        type       = "Microsoft.Storage/storageAccounts/tableServices/tables"
        apiVersion = "2023-05-01"
        name       = "[format('{0}/default/{1}', parameters('storageAccountName'), parameters('tableNames')[copyIndex()])]"
        copy = {
          name  = "tables"
          count = "[length(parameters('tableNames'))]"
        }
      }
    ]
    outputs = {
      tableNames = {
        type  = "array"
        value = "[parameters('tableNames')]"
      }
    }
  })

  tags = local.tags
}

resource "azurerm_storage_management_policy" "this" {
  storage_account_id = azurerm_storage_account.this.id

  rule {
    name    = "claims-expiry"
    enabled = true

    filters {
      blob_types   = ["blockBlob"]
      prefix_match = ["${local.containers.claims}/"]
    }

    actions {
      base_blob {
        delete_after_days_since_creation_greater_than = var.claims_retention_days
      }
      version {
        delete_after_days_since_creation = var.claims_retention_days
      }
      snapshot {
        delete_after_days_since_creation_greater_than = var.claims_retention_days
      }
    }
  }

  dynamic "rule" {
    for_each = var.deadletter_retention_days == null ? [] : [var.deadletter_retention_days]

    content {
      name    = "deadletters-expiry"
      enabled = true

      filters {
        blob_types   = ["blockBlob"]
        prefix_match = ["${local.containers.deadletter}/"]
      }

      actions {
        base_blob {
          delete_after_days_since_creation_greater_than = rule.value
        }
        version {
          delete_after_days_since_creation = rule.value
        }
      }
    }
  }

  rule {
    name    = "noncurrent-versions-expiry"
    enabled = true

    filters {
      blob_types = ["blockBlob"]
    }

    actions {
      version {
        delete_after_days_since_creation = var.noncurrent_version_retention_days
      }
    }
  }
}

# Queue write/delete logs feed the per-consumer poison and backlog alerts (Azure Monitor has no
# per-queue metrics). Reads are not logged: the host polls the queues continuously.
resource "azurerm_monitor_diagnostic_setting" "queues" {
  name                       = local.names.queue_diagnostic
  target_resource_id         = "${azurerm_storage_account.this.id}/queueServices/default"
  log_analytics_workspace_id = azurerm_log_analytics_workspace.this.id

  enabled_log {
    category = "StorageWrite"
  }

  enabled_log {
    category = "StorageDelete"
  }

  enabled_metric {
    category = "Transaction"
  }
}

# Blob access audit (reads included): who read or changed uploads, renditions, claims and dead
# letters. Disable with blob_access_logs_enabled = false to save ingestion cost.
resource "azurerm_monitor_diagnostic_setting" "blobs" {
  count = var.blob_access_logs_enabled ? 1 : 0

  name                       = local.names.blob_diagnostic
  target_resource_id         = "${azurerm_storage_account.this.id}/blobServices/default"
  log_analytics_workspace_id = azurerm_log_analytics_workspace.this.id

  enabled_log {
    category = "StorageRead"
  }

  enabled_log {
    category = "StorageWrite"
  }

  enabled_log {
    category = "StorageDelete"
  }

  enabled_metric {
    category = "Transaction"
  }
}

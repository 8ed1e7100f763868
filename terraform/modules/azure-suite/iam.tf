# Role assignments. Scopes are built from ARM ids (account id + sub-resource path) and name the
# container/queue resource so each assignment waits for its target to exist.

locals {
  container_scope = {
    for key, name in local.containers :
    key => "${azurerm_storage_account.this.id}/blobServices/default/containers/${azurerm_storage_container.this[key].name}"
  }

  queue_scope = {
    for queue, consumer in local.all_queues :
    queue => "${azurerm_storage_account.this.id}/queueServices/default/queues/${azurerm_storage_queue.this[queue].name}"
  }

  # Event Grid topic identities: write their consumers' queues and the dead-letter container.
  eventgrid_role_assignments = merge(
    {
      for consumer in keys(local.app_event_consumers) : "events-queue-${consumer}" => {
        source = "events"
        scope  = local.queue_scope[local.consumer_queues[consumer].queue]
        role   = "Storage Queue Data Message Sender"
      }
    },
    {
      for consumer in keys(local.upload_consumers) : "uploads-queue-${consumer}" => {
        source = "uploads"
        scope  = local.queue_scope[local.consumer_queues[consumer].queue]
        role   = "Storage Queue Data Message Sender"
      }
    },
    {
      for source, consumers in { events = local.app_event_consumers, uploads = local.upload_consumers } :
      "${source}-deadletter" => {
        source = source
        scope  = local.container_scope.deadletter
        role   = "Storage Blob Data Contributor"
      } if length(consumers) > 0
    },
  )

  eventgrid_principals = {
    events  = azurerm_eventgrid_topic.events.identity[0].principal_id
    uploads = one(azurerm_eventgrid_system_topic.uploads[*].identity[0].principal_id)
  }

  # The function app's system-assigned identity: only what the code and the host need.
  function_role_assignments = merge(
    # Queue trigger: peek/read (and the scale controller's queue length) + receive/delete.
    { for c, q in local.consumer_queues : "queue-reader-${c}" => { scope = local.queue_scope[q.queue], role = "Storage Queue Data Reader" } },
    { for c, q in local.consumer_queues : "queue-processor-${c}" => { scope = local.queue_scope[q.queue], role = "Storage Queue Data Message Processor" } },
    # The runtime (after maxDequeueCount) and the dispatcher (permanent errors) add to the poison queue.
    { for c, q in local.consumer_queues : "poison-sender-${c}" => { scope = local.queue_scope[q.poison], role = "Storage Queue Data Message Sender" } },
    {
      "uploads-reader"         = { scope = local.container_scope.uploads, role = "Storage Blob Data Reader" }
      "thumbnails-contributor" = { scope = local.container_scope.thumbnails, role = "Storage Blob Data Contributor" }
      "claims-contributor"     = { scope = local.container_scope.claims, role = "Storage Blob Data Contributor" }
      # Flex Consumption reads (and `az functionapp deployment` writes) the package with this identity.
      "deployment-contributor" = { scope = local.container_scope.deployment, role = "Storage Blob Data Contributor" }
      # Account scope: the three app tables plus the host's monthly diagnostic-events tables.
      "tables-contributor"     = { scope = azurerm_storage_account.this.id, role = "Storage Table Data Contributor" }
      "events-sender"          = { scope = azurerm_eventgrid_topic.events.id, role = "EventGrid Data Sender" }
      "key-vault-secrets-user" = { scope = azurerm_key_vault.this.id, role = "Key Vault Secrets User" }
      # Application Insights has local auth disabled: telemetry is sent with Entra ID.
      "app-insights-publisher" = { scope = azurerm_application_insights.this.id, role = "Monitoring Metrics Publisher" }
    },
    # Functions host storage (AzureWebJobsStorage): leases/host id and function keys. Container
    # scoped by default; host_storage_account_scope_roles widens it to the account.
    {
      for key, scope in {
        "host-blob-owner"    = azurerm_storage_account.this.id
        "host-hosts-owner"   = local.container_scope.host_hosts
        "host-secrets-owner" = local.container_scope.host_secrets
      } :
      key => { scope = scope, role = "Storage Blob Data Owner" }
      if var.host_storage_account_scope_roles == (key == "host-blob-owner")
    },
  )
}

resource "azurerm_role_assignment" "eventgrid" {
  for_each = local.eventgrid_role_assignments

  scope                = each.value.scope
  role_definition_name = each.value.role
  principal_id         = local.eventgrid_principals[each.value.source]
  principal_type       = "ServicePrincipal"
  description          = "eventsuite: Event Grid ${each.value.source} topic delivery (${each.key})"
}

resource "azurerm_role_assignment" "function" {
  for_each = local.function_role_assignments

  scope                = each.value.scope
  role_definition_name = each.value.role
  principal_id         = azurerm_function_app_flex_consumption.this.identity[0].principal_id
  principal_type       = "ServicePrincipal"
  description          = "eventsuite: function app ${each.key}"
}

# Lets the identity running Terraform write the Key Vault secrets (RBAC vault).
resource "azurerm_role_assignment" "deployer_secrets_officer" {
  count = var.grant_deployer_secrets_officer ? 1 : 0

  scope                = azurerm_key_vault.this.id
  role_definition_name = "Key Vault Secrets Officer"
  principal_id         = data.azurerm_client_config.current.object_id
  description          = "eventsuite: Terraform deployer manages Key Vault secrets"
}

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
      for k, sub in local.app_event_subscriptions : "events-${sub.producer}-queue-${sub.consumer}" => {
        source = "events:${sub.producer}"
        scope  = local.queue_scope[local.consumer_queues[sub.consumer].queue]
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
      for p in distinct([for sub in values(local.app_event_subscriptions) : sub.producer]) :
      "events-${p}-deadletter" => {
        source = "events:${p}"
        scope  = local.container_scope.deadletter
        role   = "Storage Blob Data Contributor"
      }
    },
    {
      for source, consumers in { uploads = local.upload_consumers } :
      "${source}-deadletter" => {
        source = source
        scope  = local.container_scope.deadletter
        role   = "Storage Blob Data Contributor"
      } if length(consumers) > 0
    },
  )

  eventgrid_principals = merge(
    { for p, t in azurerm_eventgrid_topic.producer : "events:${p}" => t.identity[0].principal_id },
    { uploads = one(azurerm_eventgrid_system_topic.uploads[*].identity[0].principal_id) },
  )

  table_scope = {
    for key, name in local.tables :
    key => "${azurerm_storage_account.this.id}/tableServices/default/tables/${name}"
  }

  secret_scope = {
    for key, name in local.secret_names : key => "${azurerm_key_vault.this.id}/secrets/${name}"
  }

  # Symbolic grant scopes (grants.tf) => ARM ids.
  grant_scopes = merge(
    { for key in ["uploads", "thumbnails", "claims"] : "container:${key}" => local.container_scope[key] },
    { for key, scope in local.table_scope : "table:${key}" => scope },
    { for c, q in local.consumer_queues : "queue:poison:${c}" => local.queue_scope[q.poison] },
    { for p, t in azurerm_eventgrid_topic.producer : "topic:events:${p}" => t.id },
    { for key, scope in local.secret_scope : "secret:${key}" => scope },
  )

  # Each app's identity: what its host and triggers need, plus its functions' port grants.
  app_role_assignments = merge([
    for app, functions in local.apps : merge(
      # Queue trigger of each consumer in the app: peek/read (and the scale controller's queue
      # length) + receive/delete on its queue; the runtime moves a message to the poison queue
      # after maxDequeueCount.
      merge([
        for c in functions : {
          "${app}/queue-reader-${c}"    = { app = app, scope = local.queue_scope[local.consumer_queues[c].queue], role = "Storage Queue Data Reader" }
          "${app}/queue-processor-${c}" = { app = app, scope = local.queue_scope[local.consumer_queues[c].queue], role = "Storage Queue Data Message Processor" }
          "${app}/poison-sender-${c}"   = { app = app, scope = local.queue_scope[local.consumer_queues[c].poison], role = "Storage Queue Data Message Sender" }
        } if contains(keys(local.consumer_queues), c)
      ]...),
      {
        # Flex Consumption reads the package with the app identity; it never writes it.
        "${app}/package-reader" = { app = app, scope = local.container_scope["package-${app}"], role = "Storage Blob Data Reader" }
        # Application Insights has local auth disabled: telemetry is sent with Entra ID.
        "${app}/app-insights-publisher" = { app = app, scope = azurerm_application_insights.this.id, role = "Monitoring Metrics Publisher" }
      },
      # Functions host storage (AzureWebJobsStorage): leases/host id, timer status and function
      # keys. Container scoped by default; host_storage_account_scope_roles widens it.
      {
        for key, scope in {
          "host-blob-owner"    = azurerm_storage_account.this.id
          "host-hosts-owner"   = local.container_scope.host_hosts
          "host-secrets-owner" = local.container_scope.host_secrets
        } :
        "${app}/${key}" => { app = app, scope = scope, role = "Storage Blob Data Owner" }
        if var.host_storage_account_scope_roles == (key == "host-blob-owner")
      },
      # The ports its functions declare (grants.tf). A poison-queue grant of dead_letters
      # repeats the trigger's and is keyed the same, so it is assigned once.
      {
        for g in values(local.app_grants[app]) :
        (startswith(g.scope, "queue:poison:") ? "${app}/poison-sender-${trimprefix(g.scope, "queue:poison:")}" : "${app}/${g.scope}/${g.role}") => {
          app = app, scope = local.grant_scopes[g.scope], role = g.role
        }
      },
    )
  ]...)
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
  for_each = local.app_role_assignments

  scope                = each.value.scope
  role_definition_name = each.value.role
  principal_id         = azurerm_function_app_flex_consumption.this[each.value.app].identity[0].principal_id
  principal_type       = "ServicePrincipal"
  description          = "eventsuite: function app ${each.key}"

  depends_on = [azurerm_resource_group_template_deployment.tables, azurerm_key_vault_secret.this]
}

# Lets the identity running Terraform write the Key Vault secrets (RBAC vault): only when it
# writes them (webhook_secret_version / smtp_password_version set), unless
# grant_deployer_secrets_officer says otherwise.
resource "azurerm_role_assignment" "deployer_secrets_officer" {
  count = coalesce(var.grant_deployer_secrets_officer, length(local.managed_secret_keys) > 0) ? 1 : 0

  scope                = azurerm_key_vault.this.id
  role_definition_name = "Key Vault Secrets Officer"
  principal_id         = data.azurerm_client_config.current.object_id
  description          = "eventsuite: Terraform deployer manages Key Vault secrets"
}

# Lets the identity running `make deploy-azure` write each app's package (the apps only read it).
resource "azurerm_role_assignment" "deployer_package_writer" {
  for_each = var.grant_deployer_package_writer ? local.apps : {}

  scope                = local.container_scope["package-${each.key}"]
  role_definition_name = "Storage Blob Data Contributor"
  principal_id         = data.azurerm_client_config.current.object_id
  description          = "eventsuite: the deployer uploads the ${each.key} app package"
}

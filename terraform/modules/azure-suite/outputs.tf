output "resource_group_name" {
  description = "Resource group holding the suite."
  value       = local.resource_group_name
}

output "resource_group_id" {
  description = "Resource group id."
  value       = local.resource_group_id
}

output "storage_account_name" {
  description = "Data storage account (uploads, thumbnails, claims, dead letters, queues, tables, host storage)."
  value       = azurerm_storage_account.this.name
}

output "storage_account_id" {
  description = "Data storage account id."
  value       = azurerm_storage_account.this.id
}

output "storage_account_url" {
  description = "Blob endpoint (EVENTSUITE_STORAGE_ACCOUNT_URL)."
  value       = azurerm_storage_account.this.primary_blob_endpoint
}

output "container_names" {
  description = "Blob containers: uploads, thumbnails, claims, deadletter, package-<app> (each app's Flex package) and the two Functions host containers."
  value       = { for k, c in azurerm_storage_container.this : k => c.name }
}

output "table_names" {
  description = "Table Storage tables."
  value       = local.tables
}

output "queue_names" {
  description = "Per consumer: the queue its function is triggered by, and the poison queue."
  value       = local.consumer_queues
}

output "host_max_dequeue_count" {
  description = "Value for host.json extensions.queues.maxDequeueCount: the largest catalog max_delivery_attempts (one value per app; the dispatcher enforces smaller per-consumer limits)."
  value       = local.host_max_dequeue_count
}

output "producer_topic_names" {
  description = "Producer function => its own Event Grid custom topic (CloudEvents 1.0); only its app may send to it."
  value       = { for p, t in azurerm_eventgrid_topic.producer : p => t.name }
}

output "producer_topic_endpoints" {
  description = "Producer function => its topic endpoint (EVENTSUITE_EVENTGRID_ENDPOINT of its app)."
  value       = { for p, t in azurerm_eventgrid_topic.producer : p => t.endpoint }
}

output "uploads_system_topic_name" {
  description = "Event Grid system topic on the storage account (null when no consumer subscribes to the upload event)."
  value       = one(azurerm_eventgrid_system_topic.uploads[*].name)
}

output "event_subscriptions" {
  description = "Event Grid subscriptions per consumer and source (`<consumer>-from-<producer>` on the producers' topics, `<consumer>-uploads` on the storage system topic)."
  value = merge(
    { for k, sub in local.app_event_subscriptions : "${sub.consumer}-from-${replace(sub.producer, "_", "-")}" => azurerm_eventgrid_event_subscription.app[k].name },
    { for c, s in azurerm_eventgrid_system_topic_event_subscription.uploads : "${c}-uploads" => s.name },
  )
}

output "function_apps" {
  description = "App key => the catalog functions enabled in that Flex Consumption app."
  value       = local.apps
}

output "function_app_names" {
  description = "App key => Flex Consumption function app name."
  value       = { for app, a in azurerm_function_app_flex_consumption.this : app => a.name }
}

output "function_app_default_hostnames" {
  description = "App key => default hostname."
  value       = { for app, a in azurerm_function_app_flex_consumption.this : app => a.default_hostname }
}

output "function_app_principal_ids" {
  description = "App key => object id of its system-assigned identity (the only principal holding its functions' grants)."
  value       = { for app, a in azurerm_function_app_flex_consumption.this : app => a.identity[0].principal_id }
}

output "http_endpoint_urls" {
  description = "URL per catalog http endpoint, on the app that runs it (assumes host.json routePrefix = var.http_route_prefix)."
  value = {
    for name, e in var.http_endpoints :
    name => "https://${azurerm_function_app_flex_consumption.this[local.function_app[name]].default_hostname}${var.http_route_prefix == "" ? "" : "/${var.http_route_prefix}"}${e.path}"
  }
}

output "key_vault_name" {
  description = "Key Vault holding webhook-secret and smtp-password."
  value       = azurerm_key_vault.this.name
}

output "key_vault_uri" {
  description = "Key Vault URI."
  value       = azurerm_key_vault.this.vault_uri
}

output "key_vault_secret_uris" {
  description = "Versionless secret URIs referenced from app settings."
  value       = local.secret_uris
}

output "application_insights_name" {
  description = "Workspace-based Application Insights."
  value       = azurerm_application_insights.this.name
}

output "log_analytics_workspace_id" {
  description = "Log Analytics workspace id (queue logs, Application Insights data)."
  value       = azurerm_log_analytics_workspace.this.id
}

output "deployment_commands" {
  description = "Commands (argument lists) `make deploy-azure` runs after `terraform apply`, per app: the AzureWebJobsStorage workaround when Shared Key is disabled (see README), the upload of the package as released-package.zip into the app's package container with the deployer's Entra ID login (the app identity only reads it), and a restart so the app loads it."
  value = concat([
    for app, a in azurerm_function_app_flex_consumption.this : concat(
      local.host_storage_uses_identity ? [
        ["az", "functionapp", "config", "appsettings", "delete", "--resource-group", local.resource_group_name, "--name", a.name, "--setting-names", "AzureWebJobsStorage"],
      ] : [],
      [
        ["az", "storage", "blob", "upload", "--auth-mode", "login", "--account-name", azurerm_storage_account.this.name, "--container-name", azurerm_storage_container.this["package-${app}"].name, "--name", "released-package.zip", "--file", var.package_path, "--overwrite", "true"],
        ["az", "functionapp", "restart", "--resource-group", local.resource_group_name, "--name", a.name],
      ],
    )
  ]...)
}

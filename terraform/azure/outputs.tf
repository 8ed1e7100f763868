output "resource_group_name" {
  description = "Resource group holding the suite."
  value       = module.suite.resource_group_name
}

output "storage_account_name" {
  description = "Data storage account."
  value       = module.suite.storage_account_name
}

output "container_names" {
  description = "Blob container names by role."
  value       = module.suite.container_names
}

output "table_names" {
  description = "Table Storage table names by role."
  value       = module.suite.table_names
}

output "queue_names" {
  description = "Per consumer: trigger queue and poison queue."
  value       = module.suite.queue_names
}

output "host_max_dequeue_count" {
  description = "host.json extensions.queues.maxDequeueCount to use (catalog maximum)."
  value       = module.suite.host_max_dequeue_count
}

output "producer_topic_endpoints" {
  description = "Producer function => its own Event Grid topic endpoint."
  value       = module.suite.producer_topic_endpoints
}

output "event_subscriptions" {
  description = "Event Grid subscription names per consumer and source."
  value       = module.suite.event_subscriptions
}

output "function_apps" {
  description = "App key => the catalog functions enabled in that app."
  value       = module.suite.function_apps
}

output "function_app_names" {
  description = "App key => function app name."
  value       = module.suite.function_app_names
}

output "function_app_default_hostnames" {
  description = "App key => function app default hostname."
  value       = module.suite.function_app_default_hostnames
}

output "http_endpoint_urls" {
  description = "URL per catalog http endpoint."
  value       = module.suite.http_endpoint_urls
}

output "key_vault_name" {
  description = "Key Vault name."
  value       = module.suite.key_vault_name
}

output "key_vault_uri" {
  description = "Key Vault URI."
  value       = module.suite.key_vault_uri
}

output "deployment_commands" {
  description = "Post-apply commands run by `make deploy-azure`."
  value       = module.suite.deployment_commands
}

output "orders_api_auth_mode" {
  description = "How callers authenticate to the orders API (orders_api_auth.mode: entra or function_key); `make smoke-azure` reads it."
  value       = var.orders_api_auth.mode
}

# One Flex Consumption app hosts every function: a queue-triggered function per catalog
# consumer (`<consumer>-events`) and the HTTP functions of the catalog http_endpoints. The code
# registers them from the catalog; Terraform only provides the plumbing and settings.

locals {
  # Host storage over Entra ID when Shared Key is disabled; see README "Known provider issue".
  host_storage_uses_identity = !var.shared_access_key_enabled

  app_settings = merge(
    {
      EVENTSUITE_STORAGE_ACCOUNT_URL = azurerm_storage_account.this.primary_blob_endpoint
      EVENTSUITE_STORAGE_QUEUE_URL   = azurerm_storage_account.this.primary_queue_endpoint
      EVENTSUITE_STORAGE_TABLE_URL   = azurerm_storage_account.this.primary_table_endpoint
      EVENTSUITE_EVENTGRID_ENDPOINT  = azurerm_eventgrid_topic.events.endpoint

      EVENTSUITE_UPLOADS_BUCKET    = azurerm_storage_container.this["uploads"].name
      EVENTSUITE_THUMBNAILS_BUCKET = azurerm_storage_container.this["thumbnails"].name
      EVENTSUITE_CLAIMS_BUCKET     = azurerm_storage_container.this["claims"].name

      EVENTSUITE_INDEX_TABLE       = local.tables.index
      EVENTSUITE_IDEMPOTENCY_TABLE = local.tables.idempotency
      EVENTSUITE_ORDERS_TABLE      = local.tables.orders

      EVENTSUITE_MAILER         = "smtp"
      EVENTSUITE_MAIL_FROM      = var.mail_from
      EVENTSUITE_SMTP_HOST      = var.smtp.host
      EVENTSUITE_SMTP_PORT      = tostring(var.smtp.port)
      EVENTSUITE_SMTP_USERNAME  = var.smtp.username
      EVENTSUITE_SMTP_STARTTLS  = tostring(var.smtp.starttls)
      EVENTSUITE_WEBHOOK_SECRET = "@Microsoft.KeyVault(SecretUri=${local.secret_uris.webhook})"

      # Application Insights has local auth disabled: the host authenticates with the app identity.
      APPLICATIONINSIGHTS_AUTHENTICATION_STRING = "Authorization=AAD"
    },
    # The SMTP password reference only when a username is configured.
    {
      for k, v in { EVENTSUITE_SMTP_PASSWORD = "@Microsoft.KeyVault(SecretUri=${local.secret_uris.smtp})" } :
      k => v if var.smtp.username != ""
    },
    # Identity-based host storage; the queue triggers use this default connection too.
    {
      for k, v in {
        AzureWebJobsStorage__accountName = azurerm_storage_account.this.name
        AzureWebJobsStorage__credential  = "managedidentity"
      } : k => v if local.host_storage_uses_identity
    },
    var.extra_app_settings,
  )
}

resource "azurerm_service_plan" "this" {
  #checkov:skip=CKV_AZURE_212:FC1 (Flex Consumption) has no plan workers to pin; instances scale per function from zero (maximum_instance_count on the app).
  #checkov:skip=CKV_AZURE_225:Availability-zone support for Flex Consumption depends on the region and is not enabled here; the event pipeline tolerates a zonal outage through queue buffering and Event Grid retries.
  name                = local.names.service_plan
  resource_group_name = local.resource_group_name
  location            = var.location
  os_type             = "Linux"
  sku_name            = "FC1"
  tags                = local.tags

  depends_on = [azurerm_resource_group.this]
}

resource "azurerm_function_app_flex_consumption" "this" {
  name                = local.names.function_app
  resource_group_name = local.resource_group_name
  location            = var.location
  service_plan_id     = azurerm_service_plan.this.id

  runtime_name           = "python"
  runtime_version        = var.python_version
  maximum_instance_count = var.maximum_instance_count
  instance_memory_in_mb  = var.instance_memory_mb

  # Deployment package container (written by `az functionapp deployment source config-zip`).
  storage_container_type      = "blobContainer"
  storage_container_endpoint  = "${azurerm_storage_account.this.primary_blob_endpoint}${azurerm_storage_container.this["deployment"].name}"
  storage_authentication_type = local.host_storage_uses_identity ? "SystemAssignedIdentity" : "StorageAccountConnectionString"
  storage_access_key          = local.host_storage_uses_identity ? null : azurerm_storage_account.this.primary_access_key

  https_only                                     = true
  public_network_access_enabled                  = true
  webdeploy_publish_basic_authentication_enabled = false

  identity {
    type = "SystemAssigned"
  }

  app_settings = local.app_settings

  site_config {
    application_insights_connection_string = azurerm_application_insights.this.connection_string
    minimum_tls_version                    = "1.2"
    scm_minimum_tls_version                = "1.2"
    http2_enabled                          = true
  }

  tags = local.tags
}

# Flex Consumption apps: one per entry of local.apps (grants.tf; by default one per catalog
# function), each on its own FC1 plan with its own system-assigned identity, package container
# and settings. Every app runs the same package, which registers every catalog function (a
# queue-triggered function per consumer, the HTTP functions, the timers); the app settings
# `AzureWebJobs.<function>.Disabled = true` switch off those that belong to other apps.

locals {
  # Host storage over Entra ID when Shared Key is disabled; see README "Known provider issue".
  host_storage_uses_identity = !var.shared_access_key_enabled

  app_names = { for app in keys(local.apps) : app => "${var.name_prefix}-${replace(app, "_", "-")}-${local.suffix}" }

  # Several apps share the host storage account: an explicit host id per app (the default, the
  # first 32 characters of the app name, could collide).
  app_host_ids = { for app, name in local.app_names : app => "${substr(replace(app, "_", "-"), 0, 23)}-${substr(md5(name), 0, 8)}" }

  common_app_settings = {
    EVENTSUITE_STORAGE_ACCOUNT_URL = azurerm_storage_account.this.primary_blob_endpoint
    EVENTSUITE_STORAGE_QUEUE_URL   = azurerm_storage_account.this.primary_queue_endpoint
    EVENTSUITE_STORAGE_TABLE_URL   = azurerm_storage_account.this.primary_table_endpoint

    EVENTSUITE_UPLOADS_BUCKET    = azurerm_storage_container.this["uploads"].name
    EVENTSUITE_THUMBNAILS_BUCKET = azurerm_storage_container.this["thumbnails"].name
    EVENTSUITE_CLAIMS_BUCKET     = azurerm_storage_container.this["claims"].name

    EVENTSUITE_INDEX_TABLE       = local.tables.index
    EVENTSUITE_IDEMPOTENCY_TABLE = local.tables.idempotency
    EVENTSUITE_ORDERS_TABLE      = local.tables.orders

    EVENTSUITE_PAYMENT_PROVIDER = var.payment_provider
    EVENTSUITE_MAILER           = "smtp"
    EVENTSUITE_MAIL_FROM        = var.mail_from
    EVENTSUITE_SMTP_HOST        = var.smtp.host
    EVENTSUITE_SMTP_PORT        = tostring(var.smtp.port)
    EVENTSUITE_SMTP_USERNAME    = var.smtp.username
    EVENTSUITE_SMTP_STARTTLS    = tostring(var.smtp.starttls)

    # Application Insights has local auth disabled: the host authenticates with the app identity.
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING = "Authorization=AAD"
  }

  app_settings = {
    for app, functions in local.apps : app => merge(
      local.common_app_settings,
      { AzureFunctionsWebHost__hostid = local.app_host_ids[app] },
      # A producer's app publishes on its own topic; an app without producers gets no endpoint.
      { for f in functions : "EVENTSUITE_EVENTGRID_ENDPOINT" => azurerm_eventgrid_topic.producer[f].endpoint if contains(keys(local.producer_topic_names), f) },
      # Only the functions of this app run here.
      { for f in local.app_disabled_functions[app] : "AzureWebJobs.${f}.Disabled" => "true" },
      # Secrets only where a function of the app declares the port that reads them.
      { for k, v in { EVENTSUITE_WEBHOOK_SECRET = "@Microsoft.KeyVault(SecretUri=${local.secret_uris.webhook})" } : k => v if local.app_reads_secret[app].webhook },
      { for k, v in { EVENTSUITE_SMTP_PASSWORD = "@Microsoft.KeyVault(SecretUri=${local.secret_uris.smtp})" } : k => v if local.app_reads_secret[app].smtp },
      { for k, v in { EVENTSUITE_STRIPE_API_KEY = "@Microsoft.KeyVault(SecretUri=${local.secret_uris.stripe})" } : k => v if local.app_reads_secret[app].stripe },
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
}

resource "azurerm_service_plan" "this" {
  #checkov:skip=CKV_AZURE_212:FC1 (Flex Consumption) has no plan workers to pin; instances scale per function from zero (maximum_instance_count on the app).
  #checkov:skip=CKV_AZURE_225:Availability-zone support for Flex Consumption depends on the region and is not enabled here; the event pipeline tolerates a zonal outage through queue buffering and Event Grid retries.
  for_each = local.apps

  name                = "${local.names.service_plan}-${replace(each.key, "_", "-")}"
  resource_group_name = local.resource_group_name
  location            = var.location
  os_type             = "Linux"
  sku_name            = "FC1"
  tags                = local.tags

  depends_on = [azurerm_resource_group.this]
}

resource "azurerm_function_app_flex_consumption" "this" {
  for_each = local.apps

  name                = local.app_names[each.key]
  resource_group_name = local.resource_group_name
  location            = var.location
  service_plan_id     = azurerm_service_plan.this[each.key].id

  runtime_name           = "python"
  runtime_version        = var.python_version
  maximum_instance_count = var.maximum_instance_count
  instance_memory_in_mb  = var.instance_memory_mb

  # The app's own package container. The runtime reads released-package.zip from it with the
  # app identity (Storage Blob Data Reader); `make deploy-azure` writes it with the deployer's
  # credentials (deployment_commands), so code running in the app cannot replace its package.
  storage_container_type      = "blobContainer"
  storage_container_endpoint  = "${azurerm_storage_account.this.primary_blob_endpoint}${azurerm_storage_container.this["package-${each.key}"].name}"
  storage_authentication_type = local.host_storage_uses_identity ? "SystemAssignedIdentity" : "StorageAccountConnectionString"
  storage_access_key          = local.host_storage_uses_identity ? null : azurerm_storage_account.this.primary_access_key

  https_only                                     = true
  public_network_access_enabled                  = true
  webdeploy_publish_basic_authentication_enabled = false

  identity {
    type = "SystemAssigned"
  }

  app_settings = local.app_settings[each.key]

  site_config {
    application_insights_connection_string = azurerm_application_insights.this.connection_string
    minimum_tls_version                    = "1.2"
    scm_minimum_tls_version                = "1.2"
    http2_enabled                          = true
  }

  # App Service authentication (Entra ID) in front of the non-webhook HTTP endpoints: a caller
  # needs a token for the API's app registration (and, in the code, the function key).
  dynamic "auth_settings_v2" {
    for_each = contains(keys(local.entra_apps), each.key) ? [local.entra_apps[each.key]] : []
    content {
      auth_enabled           = true
      require_authentication = true
      require_https          = true
      unauthenticated_action = "Return401"
      default_provider       = "azureactivedirectory"
      excluded_paths         = auth_settings_v2.value

      active_directory_v2 {
        client_id                       = var.orders_api_auth.client_id
        tenant_auth_endpoint            = "https://login.microsoftonline.com/${coalesce(var.orders_api_auth.tenant_id, data.azurerm_client_config.current.tenant_id)}/v2.0"
        allowed_audiences               = coalesce(var.orders_api_auth.allowed_audiences, ["api://${var.orders_api_auth.client_id}"])
        jwt_allowed_client_applications = var.orders_api_auth.allowed_client_applications
        www_authentication_disabled     = false
      }

      login {
        token_store_enabled = false
      }
    }
  }

  tags = merge(local.tags, { app = each.key })

  lifecycle {
    precondition {
      condition     = length(local.functions_without_app) == 0 && length(local.functions_in_two_apps) == 0 && length(local.unknown_app_functions) == 0
      error_message = "function_apps must place every catalog function in exactly one app: missing ${jsonencode(local.functions_without_app)}, twice ${jsonencode(local.functions_in_two_apps)}, unknown ${jsonencode(local.unknown_app_functions)}."
    }
    precondition {
      condition     = length(local.functions_without_needs) == 0 && length(local.needs_without_function) == 0
      error_message = "function_needs (shared/catalog/needs.json) must list exactly the catalog's functions: missing ${jsonencode(local.functions_without_needs)}, unknown ${jsonencode(local.needs_without_function)}."
    }
  }
}

# Azure root: reads the one event catalog and hands consumers, events, http endpoints,
# schedules and storage settings to the azure-suite module, which creates everything per
# consumer (and an alert per schedule) with for_each. Adding a consumer to
# shared/catalog/catalog.json adds its queue, subscriptions, roles and alerts here without
# touching Terraform; adding a schedule adds its failed-run alert (the code adds its timer).

locals {
  catalog = jsondecode(file("${path.root}/../../shared/catalog/catalog.json"))
  # The ports each function's handlers declare (generated from the code): its grants follow.
  needs = jsondecode(file("${path.root}/../../shared/catalog/needs.json"))

  events = {
    for name, e in local.catalog.events : name => {
      type        = e.type
      description = try(e.description, "")
    }
  }

  consumers = {
    for name, c in local.catalog.consumers : name => {
      subscribes            = c.subscribes
      max_delivery_attempts = c.max_delivery_attempts
      timeout_seconds       = try(c.timeout_seconds, 30)
      memory_mb             = try(c.memory_mb, 256)
      batch_size            = try(c.batch_size, 10)
      description           = try(c.description, "")
    }
  }

  http_endpoints = {
    for name, e in try(local.catalog.http_endpoints, {}) : name => {
      method      = e.method
      path        = e.path
      description = try(e.description, "")
    }
  }

  schedules = {
    for name, s in try(local.catalog.schedules, {}) : name => {
      every_minutes   = s.every_minutes
      group           = s.group
      emits           = try(s.emits, [])
      timeout_seconds = try(s.timeout_seconds, 60)
      memory_mb       = try(s.memory_mb, 256)
      description     = try(s.description, "")
    }
  }

  # Missing, null or "" all mean "the whole uploads container".
  uploads_prefix = try(coalesce(local.catalog.storage.uploads_prefix, ""), "")
  # The code's host.json decides the HTTP route prefix; read it so the output URLs agree.
  http_route_prefix = jsondecode(file("${path.root}/../../functions/azure/host.json")).extensions.http.routePrefix
}

module "suite" {
  source = "../modules/azure-suite"

  name_prefix           = var.name_prefix
  name_suffix           = var.name_suffix
  location              = var.location
  create_resource_group = var.create_resource_group
  resource_group_name   = var.resource_group_name
  tags                  = merge({ catalog = local.catalog.name }, var.tags)

  events            = local.events
  consumers         = local.consumers
  http_route_prefix = local.http_route_prefix
  http_endpoints    = local.http_endpoints
  schedules         = local.schedules
  uploads_prefix    = local.uploads_prefix
  function_needs    = local.needs
  function_apps     = var.function_apps
  orders_api_auth   = var.orders_api_auth

  shared_access_key_enabled = var.shared_access_key_enabled
  storage_replication_type  = var.storage_replication_type

  python_version         = var.python_version
  maximum_instance_count = var.maximum_instance_count
  instance_memory_mb     = var.instance_memory_mb
  package_path           = var.package_path

  payment_provider       = var.payment_provider
  mail_from              = var.mail_from
  smtp                   = var.smtp
  smtp_password          = var.smtp_password
  smtp_password_version  = var.smtp_password_version
  webhook_secret         = var.webhook_secret
  webhook_secret_version = var.webhook_secret_version

  log_retention_days    = var.log_retention_days
  alert_email_addresses = var.alert_email_addresses
}

# A cloud stack that approves orders without taking money must not go unnoticed: a warning in
# every plan (a check block warns, it does not stop the plan).
check "payments_take_money" {
  assert {
    condition     = var.payment_provider != "simulated"
    error_message = "payment_provider = \"simulated\": this stack approves orders without charging anyone. Use \"stripe\" for real payments."
  }
}

# The event catalog is the single source of truth: consumers, events, HTTP
# endpoints and schedules come from it, so a new catalog entry needs no
# Terraform change.
locals {
  catalog = jsondecode(file("${path.root}/../../shared/catalog/catalog.json"))
  # The ports each function's handlers declare (generated from the code): its grants follow.
  needs = jsondecode(file("${path.root}/../../shared/catalog/needs.json"))

  groups = distinct(concat(
    [for c in values(local.catalog.consumers) : c.group],
    [for e in values(try(local.catalog.http_endpoints, {})) : e.group],
    [for s in values(try(local.catalog.schedules, {})) : s.group],
  ))
}

module "suite" {
  source = "../modules/aws-suite"

  name_prefix    = var.name_prefix
  events         = local.catalog.events
  consumers      = local.catalog.consumers
  http_endpoints = try(local.catalog.http_endpoints, {})
  schedules      = try(local.catalog.schedules, {})
  storage        = local.catalog.storage
  function_needs = local.needs

  package_paths = { for g in local.groups : g => "${path.module}/${var.package_dir}/${g}.zip" }

  payment_provider = var.payment_provider

  mailer                = var.mailer
  mail_from             = var.mail_from
  smtp                  = var.smtp
  smtp_password         = var.smtp_password
  smtp_password_version = var.smtp_password_version

  log_retention_days                = var.log_retention_days
  reserved_concurrency              = var.reserved_concurrency
  consumer_max_concurrency          = var.consumer_max_concurrency
  orders_api_auth                   = var.orders_api_auth
  api_throttling_rate_limit         = var.api_throttling_rate_limit
  api_throttling_burst_limit        = var.api_throttling_burst_limit
  queue_age_alarm_threshold_seconds = var.queue_age_alarm_threshold_seconds
  alarm_email                       = var.alarm_email
  force_destroy_buckets             = var.force_destroy_buckets
  deletion_protection               = var.deletion_protection
}

# A cloud stack that approves orders without taking money must not go unnoticed: a warning in
# every plan (a check block warns, it does not stop the plan).
check "payments_take_money" {
  assert {
    condition     = var.payment_provider != "simulated"
    error_message = "payment_provider = \"simulated\": this stack approves orders without charging anyone. Use \"stripe\" for real payments."
  }
}

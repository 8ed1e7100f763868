# Google Cloud root: the consumers, their events, the HTTP endpoints and the schedules all come
# from the one catalog that the Python code reads too (shared/catalog/catalog.json). Nothing is
# listed twice.

locals {
  catalog = jsondecode(file("${path.root}/../../shared/catalog/catalog.json"))
  # The ports each function's handlers declare (generated from the code): its grants follow.
  needs = jsondecode(file("${path.root}/../../shared/catalog/needs.json"))

  events = {
    for name, e in local.catalog.events : name => {
      type         = e.type
      ordering_key = try(e.ordering_key, null)
    }
  }

  consumers = {
    for name, c in local.catalog.consumers : name => {
      group                 = c.group
      subscribes            = c.subscribes
      max_delivery_attempts = c.max_delivery_attempts
      timeout_seconds       = c.timeout_seconds
      memory_mb             = c.memory_mb
      description           = try(c.description, "")
    }
  }

  http_endpoints = {
    for name, e in try(local.catalog.http_endpoints, {}) : name => {
      group           = e.group
      method          = e.method
      path            = e.path
      timeout_seconds = e.timeout_seconds
      memory_mb       = e.memory_mb
      description     = try(e.description, "")
    }
  }

  # Jobs on a timer (the order reconciler): a function and a Cloud Scheduler job each.
  schedules = {
    for name, s in try(local.catalog.schedules, {}) : name => {
      group           = s.group
      every_minutes   = s.every_minutes
      timeout_seconds = s.timeout_seconds
      memory_mb       = s.memory_mb
      emits           = try(s.emits, [])
      description     = try(s.description, "")
    }
  }

  groups = toset(concat(
    [for c in values(local.consumers) : c.group],
    [for e in values(local.http_endpoints) : e.group],
    [for s in values(local.schedules) : s.group],
  ))

  # Default zip per catalog group, as built by the packaging step; override with var.package_paths.
  # Relative on purpose: an absolute path in state would differ between CI and laptops.
  package_paths = merge(
    { for g in local.groups : g => "${path.root}/../../build/gcp/${g}.zip" },
    var.package_paths,
  )
}

module "gcp_suite" {
  source = "../modules/gcp-suite"

  project_id  = var.project_id
  region      = var.region
  name_prefix = var.name_prefix
  labels      = var.labels

  events         = local.events
  consumers      = local.consumers
  http_endpoints = local.http_endpoints
  schedules      = local.schedules
  storage        = local.catalog.storage
  package_paths  = local.package_paths
  function_needs = local.needs

  max_instance_count = var.max_instance_count
  min_instance_count = var.min_instance_count

  retry_minimum_backoff = var.retry_minimum_backoff
  retry_maximum_backoff = var.retry_maximum_backoff
  kms_key_name          = var.kms_key_name

  firestore_location          = var.firestore_location
  firestore_delete_protection = var.firestore_delete_protection

  payment_provider = var.payment_provider

  mail_from               = var.mail_from
  smtp                    = var.smtp
  smtp_password_secret_id = var.smtp_password_secret_id

  public_http_endpoints = var.public_http_endpoints
  http_invoker_members  = var.http_invoker_members

  alert_oldest_unacked_age_seconds = var.alert_oldest_unacked_age_seconds
  alert_email                      = var.alert_email

  audit_log_retention_days        = var.audit_log_retention_days
  enable_storage_data_access_logs = var.enable_storage_data_access_logs

  force_destroy_buckets   = var.force_destroy_buckets
  enable_project_services = var.enable_project_services
}

# A cloud stack that approves orders without taking money must not go unnoticed: a warning in
# every plan (a check block warns, it does not stop the plan).
check "payments_take_money" {
  assert {
    condition     = var.payment_provider != "simulated"
    error_message = "payment_provider = \"simulated\": this stack approves orders without charging anyone. Use \"stripe\" for real payments."
  }
}

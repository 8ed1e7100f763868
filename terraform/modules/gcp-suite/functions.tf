# Cloud Functions gen2: one per catalog consumer (reached only by its push subscriptions, so no
# event_trigger) and one per catalog HTTP endpoint. Each runs as its own service account.

resource "google_service_account" "function" {
  for_each = local.functions

  project      = var.project_id
  account_id   = local.function_sa_ids[each.key]
  display_name = "eventsuite ${var.name_prefix} ${each.key} (${each.value.kind})"
  description  = "Runtime identity of the ${local.all_function_names[each.key]} function."

  depends_on = [google_project_service.this]
}

resource "google_service_account" "build" {
  count = var.build_service_account_email == null ? 1 : 0

  project      = var.project_id
  account_id   = local.build_sa_id
  display_name = "eventsuite ${var.name_prefix} function builds"
  description  = "Cloud Build identity for the suite's function builds."

  depends_on = [google_project_service.this]
}

locals {
  build_sa_email = var.build_service_account_email != null ? var.build_service_account_email : google_service_account.build[0].email
  # Cloud Functions copies each function's source into the Google-managed
  # gcf-v2-sources-<project number>-<region> bucket and the build reads it from there; the built
  # image goes to the suite's own repository (build_config.docker_repository). The build service
  # account may read that bucket and the suite's source bucket only (an IAM condition on the
  # project-level objectViewer grant: the managed bucket is not ours to bind on), write the suite's
  # repository only, and write logs: packages installed during a build cannot read the uploads,
  # claims or Terraform state buckets.
  build_source_buckets = [
    "gcf-v2-sources-${data.google_project.this.number}-${var.region}",
    google_storage_bucket.source.name,
  ]
  build_managed        = var.build_service_account_email == null
  functions_repository = "${var.name_prefix}-functions"
}

resource "google_project_iam_member" "build_logs" {
  count = local.build_managed ? 1 : 0

  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = "serviceAccount:${local.build_sa_email}"
}

resource "google_project_iam_member" "build_sources" {
  count = local.build_managed ? 1 : 0

  project = var.project_id
  role    = "roles/storage.objectViewer"
  member  = "serviceAccount:${local.build_sa_email}"

  condition {
    title       = "function-sources-only"
    description = "Only the Cloud Functions source buckets of this suite."
    expression  = join(" || ", [for b in local.build_source_buckets : "resource.name.startsWith(\"projects/_/buckets/${b}\")"])
  }
}

# The functions' container images: the suite's own repository instead of the shared gcf-artifacts.
resource "google_artifact_registry_repository" "functions" {
  project       = var.project_id
  location      = var.region
  repository_id = local.functions_repository
  format        = "DOCKER"
  description   = "Container images of the ${var.name_prefix} Cloud Functions (written by their builds only)."
  kms_key_name  = var.kms_key_name
  labels        = local.labels

  depends_on = [google_project_service.this, google_kms_crypto_key_iam_member.artifact_registry]
}

resource "google_artifact_registry_repository_iam_member" "build_writes_images" {
  count = local.build_managed ? 1 : 0

  project    = var.project_id
  location   = var.region
  repository = google_artifact_registry_repository.functions.name
  role       = "roles/artifactregistry.writer"
  member     = "serviceAccount:${local.build_sa_email}"
}

resource "google_cloudfunctions2_function" "consumer" {
  for_each = var.consumers

  name        = local.consumer_names[each.key]
  project     = var.project_id
  location    = var.region
  description = substr(each.value.description, 0, 256)
  labels      = merge(local.labels, { consumer = each.key, group = each.value.group })

  build_config {
    runtime           = var.runtime
    entry_point       = var.consumer_entry_point
    service_account   = "projects/${var.project_id}/serviceAccounts/${local.build_sa_email}"
    docker_repository = google_artifact_registry_repository.functions.id

    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.package[each.value.group].name
      }
    }
  }

  service_config {
    available_memory                 = "${each.value.memory_mb}Mi"
    timeout_seconds                  = each.value.timeout_seconds
    max_instance_count               = var.max_instance_count
    min_instance_count               = var.min_instance_count
    max_instance_request_concurrency = 1
    # Pub/Sub push from this project to the run.app URL is internal traffic.
    ingress_settings               = var.consumer_ingress_settings
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.function[each.key].email

    environment_variables = merge(local.common_env, local.producer_env[each.key], {
      EVENTSUITE_CONSUMER          = each.key
      EVENTSUITE_DEAD_LETTER_TOPIC = local.dead_letter_topics[each.key]
    })

    dynamic "secret_environment_variables" {
      for_each = contains(local.smtp_mail_functions, each.key) ? [var.smtp_password_secret_id] : []
      content {
        key        = "EVENTSUITE_SMTP_PASSWORD"
        project_id = var.project_id
        secret     = secret_environment_variables.value
        version    = "latest"
      }
    }

    dynamic "secret_environment_variables" {
      for_each = contains(local.stripe_key_readers, each.key) ? google_secret_manager_secret.stripe[*].secret_id : []
      content {
        key        = "EVENTSUITE_STRIPE_API_KEY"
        project_id = var.project_id
        secret     = secret_environment_variables.value
        version    = var.stripe_api_key_secret_version
      }
    }
  }

  depends_on = [
    google_project_service.this,
    google_project_iam_member.build_logs,
    google_project_iam_member.build_sources,
    google_artifact_registry_repository_iam_member.build_writes_images,
    google_secret_manager_secret_iam_member.smtp_password,
    terraform_data.catalog_contract,
  ]
}

resource "google_cloudfunctions2_function" "http" {
  #checkov:skip=CKV_GCP_124:Ingress is var.http_ingress_settings. ALLOW_ALL (the default) is required when the front door is Google API Gateway or a direct webhook caller; IAM still rejects unauthenticated calls except on the endpoints listed in public_http_endpoints (signed webhooks). Use ALLOW_INTERNAL_AND_GCLB behind an external load balancer with IAP.
  for_each = var.http_endpoints

  name        = local.endpoint_names[each.key]
  project     = var.project_id
  location    = var.region
  description = substr(each.value.description, 0, 256)
  labels      = merge(local.labels, { endpoint = each.key, group = each.value.group })

  build_config {
    runtime           = var.runtime
    entry_point       = var.http_entry_point
    service_account   = "projects/${var.project_id}/serviceAccounts/${local.build_sa_email}"
    docker_repository = google_artifact_registry_repository.functions.id

    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.package[each.value.group].name
      }
    }
  }

  service_config {
    available_memory                 = "${each.value.memory_mb}Mi"
    timeout_seconds                  = each.value.timeout_seconds
    max_instance_count               = var.max_instance_count
    min_instance_count               = var.min_instance_count
    max_instance_request_concurrency = 1
    ingress_settings                 = var.http_ingress_settings
    all_traffic_on_latest_revision   = true
    service_account_email            = google_service_account.function[each.key].email

    environment_variables = merge(local.common_env, local.producer_env[each.key], {
      EVENTSUITE_ENDPOINT = each.key
    })

    dynamic "secret_environment_variables" {
      for_each = contains(local.webhook_secret_readers, each.key) ? [google_secret_manager_secret.webhook.secret_id] : []
      content {
        key        = "EVENTSUITE_WEBHOOK_SECRET"
        project_id = var.project_id
        secret     = secret_environment_variables.value
        version    = var.webhook_secret_version
      }
    }

    dynamic "secret_environment_variables" {
      for_each = contains(local.stripe_key_readers, each.key) ? google_secret_manager_secret.stripe[*].secret_id : []
      content {
        key        = "EVENTSUITE_STRIPE_API_KEY"
        project_id = var.project_id
        secret     = secret_environment_variables.value
        version    = var.stripe_api_key_secret_version
      }
    }
  }

  depends_on = [
    google_project_service.this,
    google_project_iam_member.build_logs,
    google_project_iam_member.build_sources,
    google_artifact_registry_repository_iam_member.build_writes_images,
    google_secret_manager_secret_iam_member.webhook,
    terraform_data.catalog_contract,
  ]
}

# ---------------------------------------------------------------------------------------------
# Invocation
# ---------------------------------------------------------------------------------------------

# Only the push-invoker identity may call a consumer (on its underlying Cloud Run service).
resource "google_cloud_run_service_iam_member" "push_invoker" {
  for_each = var.consumers

  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.consumer[each.key].service_config[0].service
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.push_invoker.email}"
}

# HTTP endpoints: callable by the listed front-door identities; by anyone only the endpoints in
# public_http_endpoints (signed webhooks, checked below).
resource "google_cloud_run_service_iam_member" "http_invokers" {
  for_each = {
    for pair in setproduct(keys(var.http_endpoints), var.http_invoker_members) : "${pair[0]}/${pair[1]}" => {
      endpoint = pair[0]
      member   = pair[1]
    }
  }

  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.http[each.value.endpoint].service_config[0].service
  role     = "roles/run.invoker"
  member   = each.value.member
}

resource "google_cloud_run_service_iam_member" "http_public" {
  #checkov:skip=CKV_GCP_102:Public invocation is a per-endpoint opt-in (var.public_http_endpoints, default none) allowed only for endpoints that authenticate every call themselves with an HMAC signature (the precondition requires the webhook_secrets port); the orders API and every other endpoint stay IAM-only.
  for_each = { for e, cfg in var.http_endpoints : e => cfg if contains(var.public_http_endpoints, e) }

  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.http[each.key].service_config[0].service
  role     = "roles/run.invoker"
  member   = "allUsers"

  lifecycle {
    precondition {
      condition     = contains(local.webhook_secret_readers, each.key)
      error_message = "HTTP endpoint ${each.key} is in public_http_endpoints but does not declare the webhook_secrets port: only endpoints that verify a signature on every call may be public."
    }
  }
}

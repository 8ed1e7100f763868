# Catalog schedules (today the order reconciler): per schedule a gen2 HTTP function running
# `handle_schedule`, a Cloud Scheduler job that POSTs to it with an OIDC token, and an alert
# policy on failed or missing runs. The function's service account and its grants come with the
# other functions (local.functions: functions.tf and iam.tf).

locals {
  # Cron from every_minutes (validated to divide an hour, or to be whole hours dividing a day).
  schedule_crons = {
    for s, cfg in var.schedules : s => (
      cfg.every_minutes < 60 ? "*/${cfg.every_minutes} * * * *" : (
        cfg.every_minutes == 60 ? "0 * * * *" : (
          cfg.every_minutes < 1440 ? "0 */${floor(cfg.every_minutes / 60)} * * *" : "0 0 * * *"
        )
      )
    )
  }

  # Only what the job needs: the orders environment without the SMTP relay (a schedule mails
  # nobody; the consumers it wakes up do).
  schedule_env = { for k, v in local.common_env : k => v if !startswith(k, "EVENTSUITE_SMTP_") }

  # Retries of one run end well before the next tick: 10 s, 20 s, 40 s, 80 s, ... (at most 5).
  schedule_min_backoff = "10s"
  schedule_max_backoff = "80s"
}

# The identity Cloud Scheduler signs its OIDC tokens with: it may invoke the schedule functions
# and nothing else.
resource "google_service_account" "scheduler" {
  count = length(var.schedules) > 0 ? 1 : 0

  project      = var.project_id
  account_id   = local.scheduler_sa_id
  display_name = "eventsuite ${var.name_prefix} Cloud Scheduler"
  description  = "OIDC identity of the Cloud Scheduler jobs that run the catalog schedules."

  depends_on = [google_project_service.this]
}

resource "google_cloudfunctions2_function" "schedule" {
  for_each = var.schedules

  name        = local.schedule_names[each.key]
  project     = var.project_id
  location    = var.region
  description = substr(each.value.description, 0, 256)
  labels      = merge(local.labels, { schedule = each.key, group = each.value.group })

  build_config {
    runtime           = var.runtime
    entry_point       = var.schedule_entry_point
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
    available_memory = "${each.value.memory_mb}Mi"
    timeout_seconds  = each.value.timeout_seconds
    # One run at a time: a Cloud Scheduler retry never races the attempt it replaces.
    max_instance_count               = 1
    min_instance_count               = 0
    max_instance_request_concurrency = 1
    # Cloud Scheduler in the same project reaches the run.app URL as internal traffic.
    ingress_settings               = var.schedule_ingress_settings
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.function[each.key].email

    environment_variables = merge(local.schedule_env, local.producer_env[each.key], {
      EVENTSUITE_SCHEDULE = each.key
    })
  }

  depends_on = [
    google_project_service.this,
    google_project_iam_member.build_logs,
    google_project_iam_member.build_sources,
    google_artifact_registry_repository_iam_member.build_writes_images,
    terraform_data.catalog_contract,
  ]
}

# Only the scheduler identity may call a schedule function (on its underlying Cloud Run service).
resource "google_cloud_run_service_iam_member" "scheduler_invoker" {
  for_each = var.schedules

  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.schedule[each.key].service_config[0].service
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.scheduler[0].email}"
}

resource "google_cloud_scheduler_job" "schedule" {
  for_each = var.schedules

  name        = local.schedule_names[each.key]
  project     = var.project_id
  region      = var.region
  description = substr(coalesce(each.value.description, "eventsuite schedule ${each.key}"), 0, 500)
  schedule    = local.schedule_crons[each.key]
  time_zone   = "Etc/UTC"
  paused      = var.schedules_paused
  # The function's own timeout plus start-up slack; 500 or no answer in time = a failed attempt.
  attempt_deadline = "${max(each.value.timeout_seconds + 30, 15)}s"

  retry_config {
    retry_count          = var.schedule_retry_count
    min_backoff_duration = local.schedule_min_backoff
    max_backoff_duration = local.schedule_max_backoff
    max_doublings        = 3
  }

  http_target {
    http_method = "POST"
    uri         = google_cloudfunctions2_function.schedule[each.key].service_config[0].uri

    oidc_token {
      service_account_email = google_service_account.scheduler[0].email
      audience              = google_cloudfunctions2_function.schedule[each.key].service_config[0].uri
    }
  }

  depends_on = [google_project_service.this, google_cloud_run_service_iam_member.scheduler_invoker]
}

locals {
  # A run that is not answered 2xx (500 from the job, 401/403 from a broken invoker grant, ...),
  # and no successful run for three periods (paused job, disabled API, blocked ingress).
  schedule_service_filter = {
    for s, n in local.schedule_names : s => "resource.type = \"cloud_run_revision\" AND resource.labels.service_name = \"${n}\" AND metric.type = \"run.googleapis.com/request_count\""
  }
  schedule_absence_seconds = {
    for s, cfg in var.schedules : s => min(max(3 * cfg.every_minutes * 60, 600), 84600)
  }
}

resource "google_monitoring_alert_policy" "schedule_failures" {
  for_each = var.schedules

  project      = var.project_id
  display_name = "${local.schedule_names[each.key]}: scheduled run failed or missing"
  combiner     = "OR"
  enabled      = var.alerts_enabled
  severity     = "ERROR"

  notification_channels = local.notification_channels
  user_labels           = merge(local.labels, { schedule = each.key })

  conditions {
    display_name = "${local.schedule_names[each.key]} runs answered 4xx/5xx > 0"

    condition_threshold {
      filter          = "${local.schedule_service_filter[each.key]} AND metric.labels.response_code_class = one_of(\"4xx\", \"5xx\")"
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"

      aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }

      trigger {
        count = 1
      }
    }
  }

  conditions {
    display_name = "${local.schedule_names[each.key]} no successful run for ${local.schedule_absence_seconds[each.key]}s"

    condition_absent {
      filter   = "${local.schedule_service_filter[each.key]} AND metric.labels.response_code_class = \"2xx\""
      duration = "${local.schedule_absence_seconds[each.key]}s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }

      trigger {
        count = 1
      }
    }
  }

  alert_strategy {
    auto_close = "1800s"
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "${local.schedule_names[each.key]} did not run successfully"
    content   = "Schedule `${each.key}` (Cloud Scheduler job `${local.schedule_names[each.key]}`, `${local.schedule_crons[each.key]}` UTC) failed or stopped running. The function answers 500 with the error when the job fails (see its logs); 401/403 means the `${local.scheduler_sa_id}` invoker grant is broken; no runs at all means the job is paused, the Cloud Scheduler API is disabled or ingress blocks it. Running it again is safe: `gcloud scheduler jobs run ${local.schedule_names[each.key]} --location ${var.region}`."
  }

  depends_on = [google_cloudfunctions2_function.schedule, google_project_service.this]
}

# Least privilege per function service account. Resource-level grants everywhere except
# Firestore, where roles/datastore.user on the project is the narrowest predefined grant.

resource "google_storage_bucket_iam_member" "function" {
  for_each = local.function_bucket_bindings

  bucket = local.bucket_names[each.value.bucket]
  role   = each.value.role
  member = "serviceAccount:${google_service_account.function[each.value.function].email}"

  depends_on = [
    google_storage_bucket.uploads,
    google_storage_bucket.thumbnails,
    google_storage_bucket.claims,
  ]
}

# Idempotency claims (every consumer), the metadata index (images) and orders (orders).
resource "google_project_iam_member" "function_firestore" {
  for_each = local.functions

  project = var.project_id
  role    = "roles/datastore.user"
  member  = "serviceAccount:${google_service_account.function[each.key].email}"
}

# Order-group functions emit events (PaymentReceived, OrderPlaced, ...) on the events topic.
resource "google_pubsub_topic_iam_member" "function_publishes_events" {
  for_each = { for f, cfg in local.functions : f => cfg if contains(local.publishing_groups, cfg.group) }

  project = var.project_id
  topic   = google_pubsub_topic.events.name
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${google_service_account.function[each.key].email}"
}

# Each consumer records its permanent failures (bad schema, unknown version, corrupt image) on its
# own dead-letter topic with the reason, then acknowledges, instead of burning retries.
resource "google_pubsub_topic_iam_member" "function_publishes_own_dead_letters" {
  for_each = var.consumers

  project = var.project_id
  topic   = google_pubsub_topic.dead_letter[each.key].name
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${google_service_account.function[each.key].email}"
}

# ---------------------------------------------------------------------------------------------
# Secrets
# ---------------------------------------------------------------------------------------------

# Created empty: the HMAC secret(s) (comma separated for rotation) are added out of band with
# `gcloud secrets versions add`, never through Terraform state.
resource "google_secret_manager_secret" "webhook" {
  project   = var.project_id
  secret_id = local.webhook_secret_id
  labels    = merge(local.labels, { purpose = "webhook-hmac" })

  replication {
    auto {}
  }

  depends_on = [google_project_service.this]
}

resource "google_secret_manager_secret_iam_member" "webhook" {
  for_each = toset([for e in var.webhook_secret_endpoints : e if contains(keys(var.http_endpoints), e)])

  project   = var.project_id
  secret_id = google_secret_manager_secret.webhook.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.function[each.key].email}"
}

resource "google_secret_manager_secret_iam_member" "smtp_password" {
  for_each = var.smtp_password_secret_id == null ? toset([]) : toset([for c in var.mail_consumers : c if contains(keys(var.consumers), c)])

  project   = var.project_id
  secret_id = var.smtp_password_secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.function[each.key].email}"
}

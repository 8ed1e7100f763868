# Least privilege per function service account: only the grants of the ports its handlers
# declare (grants.tf, from shared/catalog/needs.json), each on its one bucket, topic or secret;
# Firestore through a per-function custom role conditioned on the suite's database.

locals {
  grant_buckets = {
    "bucket:uploads"    = local.bucket_names.uploads
    "bucket:thumbnails" = local.bucket_names.thumbnails
    "bucket:claims"     = local.bucket_names.claims
  }
  grant_topics = merge(
    { for p, t in local.producer_topics : "topic:events:${p}" => t },
    { for c, t in local.dead_letter_topics : "topic:dlq:${c}" => t },
  )
  firestore_database_resource = "projects/${var.project_id}/databases/${local.firestore_database}"
}

resource "google_storage_bucket_iam_member" "function" {
  for_each = { for k, g in local.function_role_grants : k => g if startswith(g.target, "bucket:") }

  bucket = local.grant_buckets[each.value.target]
  role   = each.value.role
  member = "serviceAccount:${google_service_account.function[each.value.function].email}"

  depends_on = [
    google_storage_bucket.uploads,
    google_storage_bucket.thumbnails,
    google_storage_bucket.claims,
  ]
}

# Publish on its own events topic (producers) or on its own dead-letter topic (consumers).
resource "google_pubsub_topic_iam_member" "function" {
  for_each = { for k, g in local.function_role_grants : k => g if startswith(g.target, "topic:") }

  project = var.project_id
  topic   = local.grant_topics[each.value.target]
  role    = each.value.role
  member  = "serviceAccount:${google_service_account.function[each.value.function].email}"

  depends_on = [google_pubsub_topic.producer, google_pubsub_topic.dead_letter]
}

# Firestore: only the datastore.entities.* permissions the function's ports use.
resource "google_project_iam_custom_role" "function_firestore" {
  for_each = local.function_firestore_permissions

  project     = var.project_id
  role_id     = "${replace(var.name_prefix, "-", "_")}_${each.key}_firestore"
  title       = "eventsuite ${var.name_prefix} ${each.key} Firestore access"
  description = "The Firestore document operations of ${local.all_function_names[each.key]} (shared/catalog/needs.json ports)."
  permissions = each.value
}

resource "google_project_iam_member" "function_firestore" {
  for_each = local.function_firestore_permissions

  project = var.project_id
  role    = google_project_iam_custom_role.function_firestore[each.key].id
  member  = "serviceAccount:${google_service_account.function[each.key].email}"

  # Firestore IAM conditions can name a database, not a collection.
  condition {
    title       = "suite-database-only"
    description = "Only the suite's Firestore database ${local.firestore_database}."
    expression  = "resource.name == \"${local.firestore_database_resource}\""
  }
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
  for_each = toset(local.webhook_secret_readers)

  project   = var.project_id
  secret_id = google_secret_manager_secret.webhook.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.function[each.key].email}"
}

# payment_provider = stripe: created empty; the Stripe secret API key is added out of band
# (`gcloud secrets versions add`), never through Terraform state. Only the functions declaring
# the payments port may read it.
resource "google_secret_manager_secret" "stripe" {
  count = var.payment_provider == "stripe" ? 1 : 0

  project   = var.project_id
  secret_id = local.stripe_secret_id
  labels    = merge(local.labels, { purpose = "stripe-api-key" })

  replication {
    auto {}
  }

  depends_on = [google_project_service.this]
}

resource "google_secret_manager_secret_iam_member" "stripe" {
  for_each = toset(local.stripe_key_readers)

  project   = var.project_id
  secret_id = google_secret_manager_secret.stripe[0].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.function[each.key].email}"
}

resource "google_secret_manager_secret_iam_member" "smtp_password" {
  for_each = toset(local.smtp_mail_functions)

  project   = var.project_id
  secret_id = var.smtp_password_secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.function[each.key].email}"
}

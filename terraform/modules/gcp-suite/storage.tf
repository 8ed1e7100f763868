# Four buckets with one job each. Thumbnails go to their own bucket, so writing a rendition can
# never trigger the uploads notification again (no recursion). None is public.

resource "google_storage_bucket" "uploads" {
  #checkov:skip=CKV_GCP_62:Object access is audited through Cloud Audit Logs Data Access logs, enabled for Cloud Storage by this module (audit.tf, var.enable_storage_data_access_logs) and kept var.audit_log_retention_days in the suite's audit log bucket, not through legacy usage-log buckets.
  name                        = local.bucket_names.uploads
  project                     = var.project_id
  location                    = local.bucket_location
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy_buckets
  labels                      = merge(local.labels, { purpose = "uploads" })

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.noncurrent_version_retention_days
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      age = 1
    }
    action {
      type = "AbortIncompleteMultipartUpload"
    }
  }

  dynamic "encryption" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      default_kms_key_name = encryption.value
    }
  }

  depends_on = [google_project_service.this, google_kms_crypto_key_iam_member.gcs]
}

resource "google_storage_bucket" "thumbnails" {
  #checkov:skip=CKV_GCP_62:Object access is audited through Cloud Audit Logs Data Access logs, enabled for Cloud Storage by this module (audit.tf, var.enable_storage_data_access_logs) and kept var.audit_log_retention_days in the suite's audit log bucket, not through legacy usage-log buckets.
  #checkov:skip=CKV_GCP_78:Thumbnails are derived data, re-rendered from the versioned uploads bucket; versioning would only keep stale renditions.
  name                        = local.bucket_names.thumbnails
  project                     = var.project_id
  location                    = local.bucket_location
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy_buckets
  labels                      = merge(local.labels, { purpose = "thumbnails" })

  dynamic "encryption" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      default_kms_key_name = encryption.value
    }
  }

  depends_on = [google_project_service.this, google_kms_crypto_key_iam_member.gcs]
}

resource "google_storage_bucket" "claims" {
  #checkov:skip=CKV_GCP_62:Object access is audited through Cloud Audit Logs Data Access logs, enabled for Cloud Storage by this module (audit.tf, var.enable_storage_data_access_logs) and kept var.audit_log_retention_days in the suite's audit log bucket, not through legacy usage-log buckets.
  #checkov:skip=CKV_GCP_78:Claim-checked payloads are immutable, write-once objects deleted by lifecycle after claims_retention_days; versioning would defeat the deletion.
  name                        = local.bucket_names.claims
  project                     = var.project_id
  location                    = local.bucket_location
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy_buckets
  labels                      = merge(local.labels, { purpose = "claims" })

  lifecycle_rule {
    condition {
      age = var.claims_retention_days
    }
    action {
      type = "Delete"
    }
  }

  dynamic "encryption" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      default_kms_key_name = encryption.value
    }
  }

  depends_on = [google_project_service.this, google_kms_crypto_key_iam_member.gcs]
}

resource "google_storage_bucket" "source" {
  #checkov:skip=CKV_GCP_62:Object access is audited through Cloud Audit Logs Data Access logs, enabled for Cloud Storage by this module (audit.tf, var.enable_storage_data_access_logs) and kept var.audit_log_retention_days in the suite's audit log bucket, not through legacy usage-log buckets.
  name                        = local.bucket_names.source
  project                     = var.project_id
  location                    = local.bucket_location
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy_buckets
  labels                      = merge(local.labels, { purpose = "function-source" })

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.noncurrent_version_retention_days
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  dynamic "encryption" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      default_kms_key_name = encryption.value
    }
  }

  depends_on = [google_project_service.this, google_kms_crypto_key_iam_member.gcs]
}

# One zip per catalog group (images, orders). The MD5 in the object name makes the function
# redeploy exactly when the code changes; reproducible zips keep `plan` quiet otherwise.
resource "google_storage_bucket_object" "package" {
  for_each = local.used_groups

  name         = "${each.key}-${filemd5(var.package_paths[each.key])}.zip"
  bucket       = google_storage_bucket.source.name
  source       = var.package_paths[each.key]
  content_type = "application/zip"

  lifecycle {
    create_before_destroy = true
  }

  depends_on = [terraform_data.catalog_contract]
}

# ---------------------------------------------------------------------------------------------
# Uploads -> Pub/Sub notification (only OBJECT_FINALIZE under the catalog uploads prefix)
# ---------------------------------------------------------------------------------------------

resource "google_pubsub_topic_iam_member" "gcs_publishes_uploads" {
  project = var.project_id
  topic   = google_pubsub_topic.uploads.name
  role    = "roles/pubsub.publisher"
  member  = local.gcs_service_agent
}

resource "google_storage_notification" "uploads" {
  bucket             = google_storage_bucket.uploads.name
  payload_format     = "JSON_API_V1"
  topic              = google_pubsub_topic.uploads.id
  event_types        = ["OBJECT_FINALIZE"]
  object_name_prefix = var.storage.uploads_prefix

  custom_attributes = {
    eventsuite-event = var.storage_event
  }

  depends_on = [google_pubsub_topic_iam_member.gcs_publishes_uploads]
}

# ---------------------------------------------------------------------------------------------
# Optional CMEK: the service agents that encrypt on our behalf need the key.
# ---------------------------------------------------------------------------------------------

resource "google_kms_crypto_key_iam_member" "gcs" {
  count = var.kms_key_name == null ? 0 : 1

  crypto_key_id = var.kms_key_name
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = local.gcs_service_agent
}

resource "google_kms_crypto_key_iam_member" "pubsub" {
  count = var.kms_key_name == null ? 0 : 1

  crypto_key_id = var.kms_key_name
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = local.pubsub_service_agent
}

resource "google_kms_crypto_key_iam_member" "artifact_registry" {
  count = var.kms_key_name == null ? 0 : 1

  crypto_key_id = var.kms_key_name
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-artifactregistry.iam.gserviceaccount.com"
}

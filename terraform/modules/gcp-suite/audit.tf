# Audit: Cloud Audit Logs Data Access logs for Cloud Storage (who read or wrote which upload,
# thumbnail, claim or package), and a log bucket keeping the suite's audit records for
# audit_log_retention_days (the project's _Default bucket keeps 30 days).

# Authoritative for storage.googleapis.com's audit config in this project: it replaces any
# other project-level config of that one service (an organization-level config still applies).
resource "google_project_iam_audit_config" "storage" {
  count = var.enable_storage_data_access_logs ? 1 : 0

  project = var.project_id
  service = "storage.googleapis.com"

  audit_log_config {
    log_type = "DATA_READ"
  }

  audit_log_config {
    log_type = "DATA_WRITE"
  }
}

resource "google_logging_project_bucket_config" "audit" {
  project        = var.project_id
  location       = "global"
  bucket_id      = "${var.name_prefix}-audit"
  retention_days = var.audit_log_retention_days
  description    = "Audit logs (admin activity and data access) of the ${var.name_prefix} suite's buckets, Firestore database and service accounts."
}

resource "google_logging_project_sink" "audit" {
  project     = var.project_id
  name        = "${var.name_prefix}-audit"
  destination = "logging.googleapis.com/${google_logging_project_bucket_config.audit.id}"
  description = "The suite's Cloud Audit Logs into its audit log bucket."

  filter = join(" AND ", [
    "logName:\"cloudaudit.googleapis.com\"",
    "(${join(" OR ", concat(
      [for b in values(local.bucket_names) : "resource.labels.bucket_name=\"${b}\""],
      ["protoPayload.resourceName:\"databases/${local.firestore_database}\""],
      ["protoPayload.authenticationInfo.principalEmail:\"${var.name_prefix}\""],
    ))})",
  ])

  unique_writer_identity = true
}

# The sink writes with its own identity into the bucket.
resource "google_project_iam_member" "audit_sink_writer" {
  project = var.project_id
  role    = "roles/logging.bucketWriter"
  member  = google_logging_project_sink.audit.writer_identity

  condition {
    title      = "suite-audit-bucket-only"
    expression = "resource.name.endsWith(\"locations/global/buckets/${var.name_prefix}-audit\")"
  }
}

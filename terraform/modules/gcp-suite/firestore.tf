# Idempotency claims, the image metadata index and orders live in one Firestore database in
# native mode. Idempotency relies on `create()` failing when the document already exists.
resource "google_firestore_database" "this" {
  project                           = var.project_id
  name                              = local.firestore_database
  location_id                       = local.firestore_location
  type                              = "FIRESTORE_NATIVE"
  concurrency_mode                  = "OPTIMISTIC"
  app_engine_integration_mode       = "DISABLED"
  point_in_time_recovery_enablement = var.firestore_point_in_time_recovery ? "POINT_IN_TIME_RECOVERY_ENABLED" : "POINT_IN_TIME_RECOVERY_DISABLED"
  delete_protection_state           = var.firestore_delete_protection ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED"
  # `terraform destroy` forgets the database instead of deleting it (data outlives the stack).
  deletion_policy = "ABANDON"

  depends_on = [google_project_service.this]
}

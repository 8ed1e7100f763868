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

# Completed idempotency claims carry `expires_at` (functions/gcp/firestore_stores.py); the TTL
# policy lets Firestore delete them afterwards, as DynamoDB's TTL does on AWS.
resource "google_firestore_field" "idempotency_ttl" {
  project    = var.project_id
  database   = google_firestore_database.this.name
  collection = "idempotency"
  field      = "expires_at"

  ttl_config {}

  # An expiry-only field needs no single-field index.
  index_config {}
}

# The order reconciler's query (functions/gcp/firestore_stores.py, FirestoreOrderStore.stale_placed):
# status == "PLACED" and a placed_at range, ordered by placed_at. An equality on one field with a
# range on another needs this composite index; Firestore appends __name__ itself.
resource "google_firestore_index" "orders_stale_placed" {
  project     = var.project_id
  database    = google_firestore_database.this.name
  collection  = "orders"
  query_scope = "COLLECTION"
  api_scope   = "ANY_API"

  fields {
    field_path = "status"
    order      = "ASCENDING"
  }

  fields {
    field_path = "placed_at"
    order      = "ASCENDING"
  }
}

# The operator's newest orders first (`eventsuite orders list --newest`, FirestoreOrderStore.by_status
# with newest_first): status == S ordered by placed_at descending needs the descending twin.
resource "google_firestore_index" "orders_newest_by_status" {
  project     = var.project_id
  database    = google_firestore_database.this.name
  collection  = "orders"
  query_scope = "COLLECTION"
  api_scope   = "ANY_API"

  fields {
    field_path = "status"
    order      = "ASCENDING"
  }

  fields {
    field_path = "placed_at"
    order      = "DESCENDING"
  }
}

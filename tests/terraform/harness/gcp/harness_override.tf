module "gcp_suite" {
  alerts_enabled                     = var.harness_alerts_enabled
  alert_notification_channels        = var.harness_alert_notification_channels
  build_service_account_email        = var.harness_build_service_account_email
  bucket_location                    = var.harness_bucket_location
  enable_message_ordering            = var.harness_enable_message_ordering
  pubsub_allowed_persistence_regions = var.harness_pubsub_allowed_persistence_regions
  schedules_paused                   = var.harness_schedules_paused
  events_topic_retention             = var.harness_events_topic_retention
  firestore_database_id              = var.harness_firestore_database_id
  firestore_point_in_time_recovery   = var.harness_firestore_point_in_time_recovery
}

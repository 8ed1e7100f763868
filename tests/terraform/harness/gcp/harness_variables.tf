variable "harness_alerts_enabled" {
  description = "gcp-suite alerts_enabled."
  type        = bool
  default     = true
}

variable "harness_alert_notification_channels" {
  description = "gcp-suite alert_notification_channels."
  type        = list(string)
  default     = []
}

variable "harness_build_service_account_email" {
  description = "gcp-suite build_service_account_email."
  type        = string
  default     = null
}

variable "harness_bucket_location" {
  description = "gcp-suite bucket_location."
  type        = string
  default     = null
}

variable "harness_enable_message_ordering" {
  description = "gcp-suite enable_message_ordering."
  type        = bool
  default     = true
}

variable "harness_pubsub_allowed_persistence_regions" {
  description = "gcp-suite pubsub_allowed_persistence_regions."
  type        = list(string)
  default     = []
}

variable "harness_schedules_paused" {
  description = "gcp-suite schedules_paused."
  type        = bool
  default     = false
}

variable "harness_events_topic_retention" {
  description = "gcp-suite events_topic_retention."
  type        = string
  default     = null
}

variable "harness_firestore_database_id" {
  description = "gcp-suite firestore_database_id."
  type        = string
  default     = null
}

variable "harness_firestore_point_in_time_recovery" {
  description = "gcp-suite firestore_point_in_time_recovery."
  type        = bool
  default     = true
}

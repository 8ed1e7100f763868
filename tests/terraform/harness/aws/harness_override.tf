module "suite" {
  create_alarm_topic       = var.harness_create_alarm_topic
  alarm_action_arns        = var.harness_alarm_action_arns
  webhook_secret_readers   = var.harness_webhook_secret_readers
  signed_webhook_endpoints = var.harness_signed_webhook_endpoints
  batching_window_seconds  = var.harness_batching_window_seconds
}
